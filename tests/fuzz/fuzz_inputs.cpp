#include "fuzz_inputs.h"

#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/image_io.h"
#include "trainyard/plugin/plugin_registry.h"

namespace trainyard::fuzz {

void load_experiment(const std::uint8_t* data, std::size_t size) {
  static const PluginRegistry registry;  // no plugins: the framework's own checks
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<Override> overrides;
  const std::string first = text.substr(0, text.find('\n'));
  if (first.find('=') != std::string::npos) overrides.push_back(parse_override(first));
  const auto document = ExperimentDocument::parse(text, "fuzz.yaml", overrides);
  (void)document.plugin_paths();
  (void)document.section("sweep");
  (void)document.resolve(registry).to_yaml();
}

void decode_image(const std::uint8_t* data, std::size_t size) {
  const int min_side = size > 0 ? data[0] % 64 : 0;  // scaled decoding too
  const auto image = trainyard::decode_image(data, size, min_side);
  if (image.width > 0 && image.height > 0 &&
      image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3 &&
      static_cast<std::size_t>(image.width) * image.height < (1u << 20)) {
    (void)to_float_tensor(image, 8);
  }
}

}  // namespace trainyard::fuzz
