// libFuzzer target: experiment files. Any text must end in a resolved experiment or an
// InputError (ConfigError is one); a crash, a sanitizer report or another exception is a finding.
#include "fuzz_inputs.h"
#include "trainyard/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    trainyard::fuzz::load_experiment(data, size);
  } catch (const trainyard::InputError&) {
  }
  return 0;
}
