# cmake -DBUILD=<build dir> -DTARGET=<probe target> -DOBJ=<its object> -P probe.cmake
# Builds one layer probe afresh (its object removed first, so the verdict is
# the build's today, not that of an object left by an earlier build), prints
# what the build printed, and fails when the build fails.
file(REMOVE "${OBJ}")
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD}" --target "${TARGET}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the build of ${TARGET} failed")
endif()
