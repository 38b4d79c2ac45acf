/* Compiled as a source of layer core: the store's header reached through
 * another header, outside the layers, that includes it. */
#include "through_header.h"
