# Helpers shared by the build: sanitizer flags per kind of code, file
# embedding, and plugin registration.

# Host code and tests: ASan + UBSan. Sandboxed code (runner, runtime,
# plugins): UBSan only, since ASan's shadow memory does not fit RLIMIT_AS
# and LSan's ptrace does not fit seccomp.
function(ah_sanitize_host target)
  if(AH_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

function(ah_sanitize_sandboxed target)
  if(AH_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=undefined)
  endif()
endfunction()

# ah_embed(<target-var> <symbol> <file>): generate a .c defining the file's bytes.
function(ah_embed out symbol file)
  get_filename_component(abs "${file}" ABSOLUTE)
  set(c "${CMAKE_CURRENT_BINARY_DIR}/embed_${symbol}.c")
  add_custom_command(OUTPUT "${c}"
    COMMAND ${CMAKE_COMMAND} -DIN=${abs} -DOUT=${c} -DNAME=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS "${abs}" ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    MAIN_DEPENDENCY "${abs}"
    VERBATIM)
  set(${out} "${c}" PARENT_SCOPE)
endfunction()

# ah_plugin(<name> SOURCES ... [MANIFEST file] [LIBS ...]): a first-party
# plugin built as build/plugins/<name>/lib<name>.so with its manifest
# copied beside it as manifest.json.
function(ah_plugin name)
  cmake_parse_arguments(P "" "MANIFEST" "SOURCES;LIBS" ${ARGN})
  if(NOT P_MANIFEST)
    set(P_MANIFEST "${PROJECT_SOURCE_DIR}/manifests/${name}.json")
  endif()
  add_library(plugin_${name} MODULE ${P_SOURCES})
  set_target_properties(plugin_${name} PROPERTIES
    OUTPUT_NAME ${name} PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${AH_PLUGINS_OUT}/${name}"
    C_VISIBILITY_PRESET hidden)
  target_include_directories(plugin_${name} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  target_link_libraries(plugin_${name} PRIVATE PkgConfig::JANSSON ${P_LIBS})
  ah_sanitize_sandboxed(plugin_${name})
  # Copied when configuring, and again whenever it changes (CMake re-runs
  # the configure step for a changed configure_file input).
  configure_file(${P_MANIFEST} "${AH_PLUGINS_OUT}/${name}/manifest.json" COPYONLY)
  install(TARGETS plugin_${name} LIBRARY DESTINATION ${AH_INSTALL_PLUGINS}/${name})
  install(FILES ${P_MANIFEST} DESTINATION ${AH_INSTALL_PLUGINS}/${name} RENAME manifest.json)
  set_property(GLOBAL APPEND PROPERTY AH_PLUGIN_TARGETS plugin_${name})
endfunction()
