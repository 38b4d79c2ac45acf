/* Compiled as a source of layer core (tests/CMakeLists.txt), which uses
 * nothing above it: the store's header is out of its include roots. */
#include "store/store.h"
