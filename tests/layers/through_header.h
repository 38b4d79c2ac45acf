/* Included by core_reads_store_through_header.c: a header of no layer that
 * includes one of the store. */
#include "../../host/store/store.h"
