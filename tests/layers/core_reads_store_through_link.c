/* Compiled as a source of layer core: "core/.." climbs out of core's
 * include root through its link, into host/, and down into the store. */
#include "core/../store/store.h"
