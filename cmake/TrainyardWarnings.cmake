# trainyard_set_warnings(target): the warning set every first-party target builds with.
function(trainyard_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                           -Wnon-virtual-dtor -Woverloaded-virtual)
endfunction()
