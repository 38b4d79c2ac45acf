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
set(AH_ABI_NOW "${AH_ABI_MAJOR_NOW}.${AH_ABI_MINOR_NOW}")
configure_file(fixtures/plugins/newminor/manifest.json.in
               ${CMAKE_CURRENT_BINARY_DIR}/newminor.manifest.json @ONLY)
ah_fixture_plugin(newminor MANIFEST ${CMAKE_CURRENT_BINARY_DIR}/newminor.manifest.json)
# tinydesc's descriptor claims fewer bytes than ABI 1.0's and must be refused.
ah_fixture_plugin(tinydesc)
# kvplus uses the KV operations of ABI 1.3 (test_kv_ops).
ah_fixture_plugin(kvplus)
# reloadme, built twice with one manifest (test_plugin_reload).
foreach(v 1 2)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/plugins/reloadme-${v}")
  add_library(fixture_reloadme_${v} MODULE fixtures/plugins/reloadme/reloadme.c)
  set_target_properties(fixture_reloadme_${v} PROPERTIES OUTPUT_NAME reloadme PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${out}" C_VISIBILITY_PRESET hidden)
  target_compile_definitions(fixture_reloadme_${v} PRIVATE RELOADME_VARIANT=${v})
  target_include_directories(fixture_reloadme_${v} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  target_link_libraries(fixture_reloadme_${v} PRIVATE PkgConfig::JANSSON)
  ah_sanitize_sandboxed(fixture_reloadme_${v})
  configure_file(fixtures/plugins/reloadme/manifest.json "${out}/manifest.json" COPYONLY)
  set_property(GLOBAL APPEND PROPERTY AH_FIXTURES fixture_reloadme_${v})
endforeach()

# Every 1.0 member keeps its offset and size in the current header.
add_library(abi_layout_frozen OBJECT unit/abi_layout_frozen.c)
target_include_directories(abi_layout_frozen PRIVATE ${AH_SDK10_INCLUDE})
ah_sanitize_host(abi_layout_frozen)
ah_test(test_abi_layout unit unit/test_abi_layout.c $<TARGET_OBJECTS:abi_layout_frozen>
        LIBS ah_host)

ah_test(test_abi integration integration/test_abi.c LIBS kit)

# ---- the harness ----
ah_test(test_harness_files unit unit/test_harness_files.c LIBS ah_host)
target_compile_definitions(test_harness_files PRIVATE TH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ah_test(test_harness integration integration/test_harness.c LIBS kit)
ah_test(test_kv_ops integration integration/test_kv_ops.c LIBS kit)
ah_test(test_plugin_reload integration integration/test_plugin_reload.c LIBS th)
# An instance run without its sandbox for a debugger (serve --debug-instance).
ah_fixture_plugin(sysprobe)
ah_test(test_debug_instance integration integration/test_debug_instance.c LIBS th)

# ---- the SDK installed and used out of tree ----
ah_test(test_sdk_install integration integration/test_sdk_install.c LIBS kit)
# docs/plugin-guide.md's marked shell blocks, run in order against the installed SDK.
ah_test(test_guide integration integration/test_guide.c LIBS kit)

# ---- signed packages ----
# pkgtest, built as two versions to upgrade one with the other, and once
# for another architecture (clang and lld cross-build a real ELF for it).
foreach(v 1.0.0 2.0.0)
  string(REPLACE "." "_" t "pkgtest_${v}")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/plugins/pkgtest-${v}")
  add_library(fixture_${t} MODULE fixtures/plugins/pkgtest/pkgtest.c)
  set_target_properties(fixture_${t} PROPERTIES OUTPUT_NAME pkgtest PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${out}" C_VISIBILITY_PRESET hidden)
  target_compile_definitions(fixture_${t} PRIVATE PKGTEST_VERSION="${v}")
  target_include_directories(fixture_${t} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  target_link_libraries(fixture_${t} PRIVATE PkgConfig::JANSSON)
  set(PKGTEST_VERSION ${v})
  configure_file(fixtures/plugins/pkgtest/manifest.json.in ${out}/manifest.json @ONLY)
  set_property(GLOBAL APPEND PROPERTY AH_FIXTURES fixture_${t})
endforeach()
find_program(AH_CLANG clang)
find_program(AH_LLD ld.lld)
if(NOT AH_CLANG OR NOT AH_LLD)
  message(FATAL_ERROR "the package tests need clang and lld (scripts/deps.sh installs them)")
endif()
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(AH_FOREIGN_TARGET x86_64-linux-gnu)
else()
  set(AH_FOREIGN_TARGET aarch64-linux-gnu)
endif()
set(_foreign "${CMAKE_CURRENT_BINARY_DIR}/plugins/pkgtest-foreign/libpkgtest.so")
add_custom_command(OUTPUT ${_foreign}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/plugins/pkgtest-foreign
  COMMAND ${AH_CLANG} -target ${AH_FOREIGN_TARGET} -ffreestanding -nostdlib -shared -fPIC
          -fuse-ld=lld -fvisibility=hidden -I${PROJECT_SOURCE_DIR}/sdk/include
          ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/plugins/pkgtest/foreign.c -o ${_foreign}
  DEPENDS fixtures/plugins/pkgtest/foreign.c ${PROJECT_SOURCE_DIR}/sdk/include/agenthost/plugin.h
  VERBATIM)
add_custom_target(fixture_pkgtest_foreign DEPENDS ${_foreign})
set_property(GLOBAL APPEND PROPERTY AH_FIXTURES fixture_pkgtest_foreign)

add_library(pkgcraft STATIC support/pkgcraft.c)
target_link_libraries(pkgcraft PUBLIC PkgConfig::ARCHIVE PkgConfig::SODIUM PkgConfig::JANSSON)
ah_sanitize_host(pkgcraft)
ah_test(test_packages integration integration/test_packages.c LIBS kit pkgcraft Threads::Threads)
ah_test(test_package_units unit unit/test_package_units.c LIBS ah_host)
ah_test(test_pkg_read unit unit/test_pkg_read.c LIBS ah_host PkgConfig::ZLIB)
target_compile_definitions(test_package_units PRIVATE TH_BUILD_DIR="${PROJECT_BINARY_DIR}"
  TH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(test_package_units fixture_abi10 fixture_abi2 fixture_newminor
                 fixture_pkgtest_foreign agenthost agenthost-sdk)
