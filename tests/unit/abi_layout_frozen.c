/* Compiled against tests/fixtures/sdk-1.0/include only: the ABI 1.0 facts. */
#include <agenthost/plugin.h>

#include "abi_layout.h"

const abi_fact abi10_frozen_members[] = {ABI10_MEMBERS(ABI_MEMBER_FACT)};
const size_t abi10_frozen_nmembers = sizeof(abi10_frozen_members) / sizeof(abi_fact);
const abi_fact abi10_frozen_structs[] = {ABI10_STRUCTS(ABI_STRUCT_FACT)};
const size_t abi10_frozen_nstructs = sizeof(abi10_frozen_structs) / sizeof(abi_fact);
const abi_fact abi10_frozen_constants[] = {ABI10_CONSTANTS(ABI_CONSTANT_FACT)};
const size_t abi10_frozen_nconstants = sizeof(abi10_frozen_constants) / sizeof(abi_fact);
const char abi10_frozen_symbol[] = AH_PLUGIN_SYMBOL;
const int abi10_frozen_minor = AH_ABI_MINOR;
