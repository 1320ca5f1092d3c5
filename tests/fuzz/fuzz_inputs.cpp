#include "fuzz_inputs.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/idx_files.h"
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

void read_idx_file(const std::uint8_t* data, std::size_t size) {
  // read_idx takes a path (gzip or plain): the input goes through a private temporary file.
  char path[] = "/tmp/trainyard-fuzz-idx-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const bool written = size == 0 || write(fd, data, size) == static_cast<ssize_t>(size);
  close(fd);
  struct Unlink {
    const char* path;
    ~Unlink() { std::remove(path); }
  } unlink_at_exit{path};
  if (!written) throw std::runtime_error("short write to the temporary file");
  const IdxArray array = read_idx(path);
  std::size_t expected = 1;
  for (const auto d : array.dims) expected *= static_cast<std::size_t>(d);
  if (array.data.size() != expected) std::abort();  // what the reader promises its callers
}

}  // namespace trainyard::fuzz
