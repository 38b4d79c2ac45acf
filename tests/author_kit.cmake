# Tests of the plugin author kit (issue 4): the harness, ABI compatibility,
# the installed SDK used out of tree, signed packages. Included by
# tests/CMakeLists.txt, so paths are relative to tests/.

add_library(kit STATIC support/kit.c)
target_compile_definitions(kit PUBLIC TH_BUILD_DIR="${PROJECT_BINARY_DIR}"
  TH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(kit PUBLIC PkgConfig::JANSSON PkgConfig::SODIUM)
target_include_directories(kit PUBLIC ${PROJECT_SOURCE_DIR}/sdk/include)
ah_sanitize_host(kit)

# ---- ABI compatibility ----
# abi10 is built against the frozen 1.0 headers and must run on this host;
# newminor claims the next minor and must be refused (its manifest says the
# same, whatever this host's minor is).
set(AH_SDK10_INCLUDE ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/sdk-1.0/include)
ah_fixture_plugin(abi10 INCLUDE ${AH_SDK10_INCLUDE})
file(STRINGS ${PROJECT_SOURCE_DIR}/sdk/include/agenthost/plugin.h _ah_abi
     REGEX "^#define AH_ABI_M(AJOR|INOR) +[0-9]+")
string(REGEX REPLACE ".*AH_ABI_MAJOR +([0-9]+).*" "\\1" AH_ABI_MAJOR_NOW "${_ah_abi}")
string(REGEX REPLACE ".*AH_ABI_MINOR +([0-9]+).*" "\\1" AH_ABI_MINOR_NOW "${_ah_abi}")
math(EXPR _ah_next "${AH_ABI_MINOR_NOW} + 1")
set(AH_NEXT_MINOR_ABI "${AH_ABI_MAJOR_NOW}.${_ah_next}")
configure_file(fixtures/plugins/newminor/manifest.json.in
               ${CMAKE_CURRENT_BINARY_DIR}/newminor.manifest.json @ONLY)
ah_fixture_plugin(newminor MANIFEST ${CMAKE_CURRENT_BINARY_DIR}/newminor.manifest.json)

# Every 1.0 member keeps its offset and size in the current header.
add_library(abi_layout_frozen OBJECT unit/abi_layout_frozen.c)
target_include_directories(abi_layout_frozen PRIVATE ${AH_SDK10_INCLUDE})
ah_sanitize_host(abi_layout_frozen)
ah_test(test_abi_layout unit unit/test_abi_layout.c $<TARGET_OBJECTS:abi_layout_frozen>
        LIBS ah_host)

ah_test(test_abi integration integration/test_abi.c LIBS kit)

# ---- the harness ----
#ah_test(test_harness_files unit unit/test_harness_files.c LIBS ah_host)
#target_compile_definitions(test_harness_files PRIVATE TH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
#ah_test(test_harness integration integration/test_harness.c LIBS kit)

# ---- the SDK installed and used out of tree ----
ah_test(test_sdk_install integration integration/test_sdk_install.c LIBS kit)
