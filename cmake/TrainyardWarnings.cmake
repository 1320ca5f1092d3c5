# trainyard_set_warnings(target): the warning set every first-party target builds with.
function(trainyard_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Woverloaded-virtual
                                           $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>)
endfunction()
