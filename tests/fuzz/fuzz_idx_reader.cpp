// libFuzzer target: the IDX reader (the idx dataset plugin's and idx_to_imagefolder's files). Any
// bytes must read back as an array that holds what its header declares, or fail with InputError.
#include "fuzz_inputs.h"
#include "trainyard/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    trainyard::fuzz::read_idx_file(data, size);
  } catch (const trainyard::InputError&) {
  }
  return 0;
}
