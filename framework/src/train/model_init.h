// Fine-tuning (model.init_from, model.init_skip): a fresh run's model takes the parameters and
// buffers of another run's checkpoint, a checkpoint file or a model package, name by name. A
// classifier head whose only difference is the class count (a 10-class source for a 3-class
// dataset) keeps the plugin's fresh initialization, as torchvision's fine-tuning recipes replace
// `fc`; any other difference is refused unless model.init_skip names it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "trainyard/config/experiment_config.h"
#include "trainyard/plugin_api.h"

namespace trainyard {

class RunRecorder;

/// model.init_from resolved to a file.
struct ModelInitSource {
  std::filesystem::path file;  // absolute
  std::string description;     // "best.pt of run 3": refined by initialize_model with what the file says
};

/// A run id of the run's own database (`recorder`: its best.pt), else a checkpoint or package
/// file relative to the working folder. Throws InputError naming model.init_from.
ModelInitSource resolve_init_source(const ExperimentConfig& config, const RunRecorder& recorder);

/// Loads the source into `model` (built for `num_classes`, on any device and layout); returns
/// what the run's record keeps of it. Logs what was loaded, re-initialized and skipped. Throws
/// InputError for an unreadable source, a mismatch init_skip does not name, or an init_skip
/// entry that names nothing.
std::string initialize_model(Model& model, std::int64_t num_classes, const ModelInitSource& source,
                             const ModelInitSettings& settings);

}  // namespace trainyard
