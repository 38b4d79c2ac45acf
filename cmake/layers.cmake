# The host's layers (docs/adr/0019-layers-in-the-build.md): one static
# library per layer, its link dependencies pointing down only, so that a
# header of a layer above is out of reach and reading one fails the build.
#
# ah_layer(<name> DIRS <dir>... [DEPENDS <layer>...] SOURCES <file>...)
# ah_layer(<name> DIRS <dir>... [DEPENDS <layer>...] TARGET <target>)
#
#   DIRS     the directories the layer owns (relative to the project, each
#            with everything below it); no two layers share or nest one.
#   DEPENDS  the layers it uses, declared before it: the layers below.
#   SOURCES  the sources of ah_<name>, a static library; or
#   TARGET   an executable already declared, which becomes the layer.
#
# Each layer has an include root, build/layers/<name>/, holding one symbolic
# link per directory it owns, named as the include path spells it: host/x
# is "x/" ("core/log.h"), anything else keeps its path ("sdk/ipc/frame.h").
# The root is a PUBLIC include directory of ah_<name>, so a layer sees the
# roots of the layers it links and no other: an include of a layer above
# ("api/api.h" from core) is a file the compiler cannot find.
#
# A compiler searches the including file's own directory first and resolves
# ".." through the file system, so "../api/api.h" (or "core/../api/api.h",
# through the link) would still find a file. Hence every source of a layer
# is compiled through cmake/layer-cc.sh, which reads the compiler's list of
# the files it read (the depfile) and fails the compile, object deleted,
# when one lies in a layer directory the layer may not use. Its rules are
# build/layers/<name>.rules; tests/check_layers.sh applies the same rules to
# every header, alone.

# Where layers live: a file read from below one of these, and outside the
# public headers, must belong to the reading layer or a layer below it.
set(AH_LAYERED_DIRS host sdk)
set(AH_PUBLIC_DIRS sdk/include)

set(AH_LAYERS_DIR "${PROJECT_BINARY_DIR}/layers")
file(REAL_PATH "${PROJECT_SOURCE_DIR}" _ah_layer_root)
file(MAKE_DIRECTORY "${AH_LAYERS_DIR}")
# Who owns what, for the messages (written afresh by every configure).
file(WRITE "${AH_LAYERS_DIR}/owners" "")

# The libraries every layer links: the external ones and the public headers.
add_library(ah_layer_deps INTERFACE)
target_include_directories(ah_layer_deps INTERFACE ${PROJECT_SOURCE_DIR}/sdk/include)
target_link_libraries(ah_layer_deps INTERFACE PkgConfig::UV PkgConfig::LMDB PkgConfig::JANSSON
  PkgConfig::SODIUM PkgConfig::SECCOMP PkgConfig::MHD PkgConfig::GNUTLS PkgConfig::CURL
  PkgConfig::ARCHIVE PkgConfig::ZLIB PkgConfig::FFI PkgConfig::YAML Threads::Threads m)

# The fuzz build compiles every layer again with the fuzzer's coverage
# (ah_fuzz_<name>, linked the same way); tests/CMakeLists.txt links them.
set(AH_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g)

# Compile <target>'s sources as layer <name>. They depend on its rules file
# and on the check, so that a changed rule or check applies to them at once.
function(ah_layer_check target name)
  set(rules "${AH_LAYERS_DIR}/${name}.rules")
  set_property(TARGET ${target} PROPERTY C_COMPILER_LAUNCHER
    ${PROJECT_SOURCE_DIR}/cmake/layer-cc.sh ${rules} ${CMAKE_C_COMPILER_LAUNCHER})
  get_target_property(srcs ${target} SOURCES)
  set_property(SOURCE ${srcs} APPEND PROPERTY OBJECT_DEPENDS ${rules}
    ${PROJECT_SOURCE_DIR}/cmake/layer-cc.sh)
endfunction()

function(ah_layer name)
  cmake_parse_arguments(L "" "TARGET" "DIRS;DEPENDS;SOURCES" ${ARGN})
  if(NOT L_DIRS)
    message(FATAL_ERROR "ah_layer(${name}): DIRS names no directory")
  endif()
  get_property(layers GLOBAL PROPERTY AH_LAYERS)
  if(name IN_LIST layers)
    message(FATAL_ERROR "ah_layer(${name}): declared twice")
  endif()
  # Dependencies point down: only layers declared before this one.
  set(uses ${name})
  foreach(dep ${L_DEPENDS})
    if(NOT dep IN_LIST layers)
      message(FATAL_ERROR "ah_layer(${name}): DEPENDS ${dep}, which is no layer declared "
        "before it (a layer uses only the layers below it)")
    endif()
    get_property(dep_uses GLOBAL PROPERTY AH_LAYER_USES_${dep})
    list(APPEND uses ${dep_uses})
  endforeach()
  list(REMOVE_DUPLICATES uses)
  # Each directory has one owner: no two layers share or nest one.
  get_property(owned GLOBAL PROPERTY AH_LAYER_DIRS)
  foreach(dir ${L_DIRS})
    if(NOT IS_DIRECTORY "${PROJECT_SOURCE_DIR}/${dir}")
      message(FATAL_ERROR "ah_layer(${name}): ${dir} is no directory of the project")
    endif()
    foreach(other ${owned} ${AH_PUBLIC_DIRS})
      if(dir STREQUAL other OR dir MATCHES "^${other}/" OR other MATCHES "^${dir}/")
        message(FATAL_ERROR "ah_layer(${name}): ${dir} overlaps ${other}, owned already")
      endif()
    endforeach()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY AH_LAYER_DIRS ${L_DIRS})
  set_property(GLOBAL APPEND PROPERTY AH_LAYERS ${name})
  set_property(GLOBAL PROPERTY AH_LAYER_USES_${name} ${uses})
  set_property(GLOBAL PROPERTY AH_LAYER_OWN_${name} ${L_DIRS})

  # The include root: a link per owned directory.
  set(root "${AH_LAYERS_DIR}/${name}")
  file(REMOVE_RECURSE "${root}")
  foreach(dir ${L_DIRS})
    string(REGEX REPLACE "^host/" "" link "${dir}")
    get_filename_component(parent "${root}/${link}" DIRECTORY)
    file(MAKE_DIRECTORY "${parent}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${dir}" "${root}/${link}" SYMBOLIC)
  endforeach()

  # The rules: what the layer may read. Rewritten only when they change.
  set(allowed "")
  set(includes "")
  foreach(l ${uses})
    get_property(l_own GLOBAL PROPERTY AH_LAYER_OWN_${l})
    list(APPEND allowed ${l_own})
    list(APPEND includes "${AH_LAYERS_DIR}/${l}")
  endforeach()
  list(JOIN L_DIRS " " own_s)
  list(JOIN allowed " " allowed_s)
  list(JOIN uses " " uses_s)
  list(JOIN includes " " includes_s)
  list(JOIN AH_LAYERED_DIRS " " layered_s)
  list(JOIN AH_PUBLIC_DIRS " " public_s)
  file(WRITE "${root}.rules.new" "layer ${name}\nroot ${_ah_layer_root}\n"
    "layered ${layered_s}\npublic ${public_s}\nown ${own_s}\nuses ${uses_s}\n"
    "allowed ${allowed_s}\nincludes ${includes_s} ${PROJECT_SOURCE_DIR}/sdk/include\n")
  configure_file("${root}.rules.new" "${root}.rules" COPYONLY)
  file(REMOVE "${root}.rules.new")
  foreach(dir ${L_DIRS})
    file(APPEND "${AH_LAYERS_DIR}/owners" "${dir} ${name}\n")
  endforeach()

  list(TRANSFORM L_DEPENDS PREPEND ah_ OUTPUT_VARIABLE dep_targets)
  if(L_TARGET)
    target_include_directories(${L_TARGET} PRIVATE "${root}")
    target_link_libraries(${L_TARGET} PRIVATE ${dep_targets} ah_layer_deps)
    ah_layer_check(${L_TARGET} ${name})
    return()
  endif()
  add_library(ah_${name} STATIC ${L_SOURCES})
  target_include_directories(ah_${name} PUBLIC "${root}")
  target_link_libraries(ah_${name} PUBLIC ${dep_targets} ah_layer_deps)
  ah_sanitize_host(ah_${name})
  ah_layer_check(ah_${name} ${name})
  if(AH_FUZZ)
    list(TRANSFORM L_DEPENDS PREPEND ah_fuzz_ OUTPUT_VARIABLE fuzz_deps)
    add_library(ah_fuzz_${name} STATIC EXCLUDE_FROM_ALL ${L_SOURCES})
    target_include_directories(ah_fuzz_${name} PUBLIC "${root}")
    target_compile_options(ah_fuzz_${name} PRIVATE ${AH_FUZZ_FLAGS})
    target_link_libraries(ah_fuzz_${name} PUBLIC ${fuzz_deps} ah_layer_deps)
    ah_layer_check(ah_fuzz_${name} ${name})
  endif()
endfunction()
