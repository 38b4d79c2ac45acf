# The web chat widget (issue 15): admin/widget/dist/widget.js, built with
# esbuild from npm before anything serves it. `npm ci` installs the locked
# devDependencies once per change of the lockfile; the build type-checks,
# bundles, minifies and fails above the size budget (build.mjs).
find_program(AH_NODE node REQUIRED)
find_program(AH_NPM npm REQUIRED)
set(AH_WIDGET_DIR ${CMAKE_CURRENT_LIST_DIR})
set(AH_WIDGET_JS ${AH_WIDGET_DIR}/dist/widget.js CACHE INTERNAL "the built chat widget")
file(GLOB _ah_widget_src CONFIGURE_DEPENDS ${AH_WIDGET_DIR}/src/*.ts)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/widget-npm-ci.stamp
  COMMAND ${AH_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${PROJECT_BINARY_DIR}/widget-npm-ci.stamp
  DEPENDS ${AH_WIDGET_DIR}/package.json ${AH_WIDGET_DIR}/package-lock.json
  WORKING_DIRECTORY ${AH_WIDGET_DIR} COMMENT "widget: npm ci" VERBATIM)
add_custom_command(OUTPUT ${AH_WIDGET_JS}
  COMMAND ${AH_NODE} build.mjs
  DEPENDS ${PROJECT_BINARY_DIR}/widget-npm-ci.stamp ${_ah_widget_src}
    ${AH_WIDGET_DIR}/build.mjs ${AH_WIDGET_DIR}/tsconfig.json
  WORKING_DIRECTORY ${AH_WIDGET_DIR} COMMENT "widget: build dist/widget.js" VERBATIM)
add_custom_target(widget ALL DEPENDS ${AH_WIDGET_JS})
