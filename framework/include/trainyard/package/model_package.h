// A model package (`runner --export RUN --out model.typkg`): one file with what it takes to use a
// trained model away from its run: the weights (no optimizer state), the class names, the exact
// preprocessing, the model plugin's name, version and parameters, how it computed (precision,
// layout) and the run's provenance, sealed by a checksum. The Predictor (trainyard/predictor.h)
// and `runner --predict` read it.
//
// The file: a text header line "TRAINYARD-MODEL-PACKAGE 1", then "manifest N" and N bytes of
// YAML, then "weights M" and M bytes (a LibTorch archive of the model's parameters and buffers),
// then "crc32 XXXXXXXX": zlib's CRC-32 of every byte before that line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/plugin_api.h"

namespace trainyard {

inline constexpr int kModelPackageVersion = 1;

struct ModelPackage {
  std::string model_section_yaml;  // the run's resolved `model:` section (plugin and parameters), as YAML
  std::string model_plugin;        // its plugin's name
  std::string model_plugin_version;
  ModelContext model_context;  // what the model was built for (classes, channels, image size)
  std::vector<std::string> class_names;
  Preprocessing preprocessing;
  std::string precision = "fp32";  // fp32 | bf16 | fp16: the autocast the run trained and evaluated with
  bool channels_last = true;
  std::int64_t batch_size = 32;  // the run's: images per forward pass when predicting many files
  std::vector<std::pair<std::string, std::string>> provenance;  // run, database, experiment, epoch, ...
  std::string weights;                                          // the LibTorch archive
};

/// Writes `package` to `path` whole (a temporary file renamed over it): a failed write leaves
/// what was there. Throws std::runtime_error naming the file and the reason.
void write_model_package(const std::filesystem::path& path, const ModelPackage& package);

/// True when the file starts with a package's header line (nothing else is read or checked):
/// which of several kinds of file a path names (model.init_from takes packages and checkpoints).
bool looks_like_model_package(const std::filesystem::path& path);

/// Reads and checks a package: its header, the lengths against the file's size, the checksum,
/// and every manifest key. Throws InputError naming the file and what is wrong (not a package, a
/// newer format, truncated, corrupted, a missing key).
ModelPackage read_model_package(const std::filesystem::path& path);

}  // namespace trainyard
