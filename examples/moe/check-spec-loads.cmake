# Checks that moe_dualpipe.mlir's moe.expert_group carries the expert loads
# that the example's router produces (`moe --print-loads`), so that the
# spec's EPLB placement is the one the example runs with.
#   cmake -DMOE=path/to/moe -DSPEC=moe_dualpipe.mlir -P check-spec-loads.cmake
execute_process(COMMAND ${MOE} --print-loads OUTPUT_VARIABLE loads
                RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "moe --print-loads failed (${status})")
endif()
string(STRIP "${loads}" loads)
file(READ ${SPEC} spec)
# The spec may wrap the literal over lines: compare without whitespace.
string(REGEX REPLACE "[ \t\r\n]+" "" loads_flat "${loads}")
string(REGEX REPLACE "//[^\n]*" "" spec_code "${spec}")
string(REGEX REPLACE "[ \t\r\n]+" "" spec_flat "${spec_code}")
string(FIND "${spec_flat}" "${loads_flat}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${SPEC} does not carry the router's loads:\n${loads}")
endif()
message(STATUS "the spec's loads are the router's: ${loads}")
