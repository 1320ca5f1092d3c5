// The experiment file: YAML read with yaml-cpp, overridden from the command line, validated
// against the framework's sections and each chosen plugin's schema, and resolved (defaults filled
// in) into typed settings. Everything is checked here, before anything heavy starts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "trainyard/train/lr_schedule.h"
#include "trainyard/plugin_api.h"

namespace trainyard {

class PluginRegistry;

/// `model:`, `dataset:` or `optimizer:`: which plugin, with its validated parameters.
struct PluginSection {
  std::string plugin;
  Params params;
};

/// `model.init_from` and `model.init_skip`: fine-tuning. A fresh run's model starts from the
/// parameters of another run, a checkpoint or a model package; a classifier head of another class
/// count starts fresh (named in the log), and any other mismatch is refused unless skipped.
struct ModelInitSettings {
  std::string from;  // a run id of output.db, a checkpoint file or a package file; empty: none
  std::string skip;  // comma-separated parameter names or prefixes ("fc", "layer4.2") left as built
};

/// `train.early_stopping`: ends a run whose metric has stopped improving, as Lightning's
/// EarlyStopping does: after `patience` epochs in a row without an improvement of more than
/// `min_delta`, or at once when the metric is not a number. Off without the section.
struct EarlyStoppingSettings {
  std::string metric = "auto";  // auto (the selection split's accuracy) | val_accuracy | val_loss | test_*
  std::int64_t patience = 0;    // 0: off (no early_stopping section); the section's default is its key's
  double min_delta = 0.0;
  bool enabled() const { return patience > 0; }
};

struct TrainSettings {
  std::int64_t epochs = 20;
  std::int64_t batch_size = 10;
  std::int64_t threads = 0;           // LibTorch intra-op threads; 0: every core this process may use
  std::int64_t loader_threads = 0;    // decoding threads; 0: chosen from the core count
  std::int64_t prefetch_batches = 4;  // batches decoded ahead of the model
  bool drop_last = false;             // skip a short last training batch
  bool channels_last = true;          // NHWC images and conv weights
  std::string precision = "auto";     // auto | fp32 | bf16 | fp16
  bool cudnn_benchmark = true;
  std::string cache = "auto";  // auto | on | off: decoded samples kept in memory
  std::int64_t cache_max_mb = 8192;
  std::string select_on = "auto";  // auto | val | test: the split whose accuracy picks the best epoch
  EarlyStoppingSettings early_stopping;
};

/// `distributed:`: how a run trains over several processes (see distributed.h). Ignored by a run
/// of one process.
struct DistributedSettings {
  std::string backend = "auto";        // auto (nccl on CUDA, gloo on the CPU) | gloo | nccl
  std::string batch_norm = "local";    // local: statistics per process | sync: over all processes
  std::int64_t timeout_seconds = 300;  // a collective waiting longer than this fails the run
  double bucket_mb = 25.0;             // gradients all-reduced together, as PyTorch's DDP buckets
};

struct OutputSettings {
  std::string db = "results/trainyard.db";
  std::string checkpoints = "results/checkpoints";
  std::string keep = "both";            // which checkpoints a run keeps: best, last, both, none
  std::int64_t checkpoint_every = 1;    // epochs between writes of last.pt (and always the final one)
  bool best_optimizer = false;          // best.pt also holds the optimizer's state
  std::string cache = "results/cache";  // shared decoded datasets; empty: none
};

/// A fully validated experiment.
struct ExperimentConfig {
  std::string source;  // the experiment file, as given
  std::string name;
  std::int64_t seed = 42;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::vector<std::string> plugin_paths;
  PluginSection model;
  ModelInitSettings model_init;  // the model section's own keys, beside its plugin's
  PluginSection dataset;
  PluginSection optimizer;
  TrainSettings train;
  ScheduleSettings schedule;  // the learning-rate schedule (`schedule:`)
  DistributedSettings distributed;
  OutputSettings output;

  /// The resolved configuration as YAML, every default filled in. It is itself a valid
  /// experiment file; it is what the results store keeps.
  std::string to_yaml() const;
};

/// One `--set key=value` from the command line. The value is read as YAML (`1e-4`, `true`, `[a]`).
struct Override {
  std::string key;  // dotted path, e.g. optimizer.lr
  std::string value;
};

/// Parses "key=value"; throws ConfigError when there is no '=' or no key.
Override parse_override(const std::string& text);

/// An experiment file as read, with overrides applied, not yet validated against plugins.
class ExperimentDocument {
 public:
  /// Reads and parses `file` and applies `overrides`. Throws ConfigError for a missing or
  /// unreadable file, malformed YAML (with line and column) or an override that does not fit.
  static ExperimentDocument load(const std::filesystem::path& file, const std::vector<Override>& overrides = {});
  /// Parses YAML text (for tests and tools); `source` names it in messages.
  static ExperimentDocument parse(const std::string& yaml_text, const std::string& source,
                                  const std::vector<Override>& overrides = {});

  /// The `plugin_paths:` list (validated), needed before plugins can be discovered. Relative
  /// entries resolve against the experiment file's folder (as an include would), whatever folder
  /// the runner started in; in a document parsed from text, against the current folder.
  std::vector<std::filesystem::path> plugin_paths() const;

  /// Validates every key against the framework's sections and the chosen plugins' schemas and
  /// fills in defaults. Throws ConfigError listing every problem, each with the key, its line and
  /// column (or the --set that gave it), and what is accepted.
  ExperimentConfig resolve(const PluginRegistry& registry) const;

  const std::string& source() const { return source_; }

  /// A copy with more overrides applied (a sweep's trial, say).
  ExperimentDocument with_overrides(const std::vector<Override>& overrides) const;
  /// A top-level section as read (null when absent), e.g. "sweep".
  YAML::Node section(const std::string& key) const;
  /// "file.yaml:12:5", or "--set key" when the key came from the command line.
  std::string location(const YAML::Node& node, const std::string& key) const;

 private:
  void apply(const Override& override_entry);

  YAML::Node root_;
  std::string source_;
  std::filesystem::path folder_;      // the experiment file's folder, absolute; empty when parsed from text
  std::set<std::string> overridden_;  // dotted keys set from the command line
};

/// Shortest decimal text that reads back as the same double ("0.0001"), always a YAML float.
std::string format_double(double value);

/// A key of a section whose value is itself structured (a mapping: `sweep.grid`,
/// `train.early_stopping`): read by its own code, not by a schema, but declared once here for the
/// unknown-key check ("did you mean") and for `--describe`.
struct NestedKey {
  std::string name;
  std::string form;  // what it accepts, e.g. "{KEY: [value, ...], ...}"
  std::string meaning;
};
/// The names of `keys`, as validate_section takes them.
std::vector<std::string> nested_key_names(const std::vector<NestedKey>& keys);

/// The framework's own sections' keys (name, type, default, range, meaning), for validation,
/// `--describe` and documentation. train, schedule, distributed and output come from one table
/// of keys each (src/config/framework_keys.cpp), which also fills and writes the settings.
std::vector<ParamSpec> experiment_top_level_schema();
std::vector<ParamSpec> model_init_schema();  // init_from, init_skip: the framework's keys of `model:`
std::vector<ParamSpec> train_schema();
std::vector<ParamSpec> early_stopping_schema();  // train.early_stopping's keys
std::vector<NestedKey> train_nested_keys();      // early_stopping
std::vector<ParamSpec> schedule_schema();
std::vector<ParamSpec> output_schema();
std::vector<ParamSpec> distributed_schema();

}  // namespace trainyard
