# Script mode: fails when the privileged side grows past its budget.
# Counts code lines in helper/ and ipc/ (.cpp and .h), without blank lines and // comments.
cmake_minimum_required(VERSION 3.20)
set(total 0)
# ctest hands the list over with its separator escaped ("a\;b"): unescape it, or nothing is
# counted and the budget always passes.
string(REPLACE "\\;" ";" DIRS "${DIRS}")
foreach(dir IN LISTS DIRS)
  file(GLOB_RECURSE sources "${dir}/*.cpp" "${dir}/*.h")
  foreach(f IN LISTS sources)
    file(STRINGS "${f}" lines)
    foreach(l IN LISTS lines)
      if(NOT l MATCHES "^[ \t]*(//.*)?$")
        math(EXPR total "${total} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
message(STATUS "privileged side: ${total} code lines (budget ${MAX})")
if(total GREATER MAX)
  message(FATAL_ERROR "helper/ and ipc/ have ${total} code lines, budget ${MAX}")
endif()
