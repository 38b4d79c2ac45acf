/* Compiled as a source of layer core: a relative include, which the
 * compiler resolves from this file's directory whatever the include roots,
 * still reads a header of the store, above core. */
#include "../../host/store/store.h"
