// libFuzzer target: image decoding (JPEG through TurboJPEG, PNG through libpng). Any bytes must
// decode to an RGB image or fail with ImageDecodeError; anything else is a finding.
#include "fuzz_inputs.h"
#include "trainyard/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    trainyard::fuzz::decode_image(data, size);
  } catch (const trainyard::ImageDecodeError&) {
  }
  return 0;
}
