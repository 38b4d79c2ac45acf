/* Compiled as a source of layer http, which uses core alone: the engine is
 * no layer below it, though no layer above it either. */
#include "../../host/engine/lang.h"
