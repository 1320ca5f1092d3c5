#include "framework_keys.h"

namespace trainyard {
namespace {

// One key of a section: its spec, and the settings field it fills and is written from.
template <class Settings>
struct Key {
  ParamSpec spec;
  std::function<void(Settings&, const Params&)> read;
  std::function<ParamValue(const Settings&)> value;
};

template <class T>
T param_as(const Params& params, const std::string& name) {
  if constexpr (std::is_same_v<T, bool>) {
    return params.get_bool(name);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return params.get_int(name);
  } else if constexpr (std::is_same_v<T, double>) {
    return params.get_float(name);
  } else {
    return params.get_string(name);
  }
}

template <class Settings, class T>
Key<Settings> key(T Settings::*field, ParamSpec spec) {
  const std::string name = spec.name;
  return {std::move(spec), [field, name](Settings& s, const Params& p) { s.*field = param_as<T>(p, name); },
          [field](const Settings& s) { return ParamValue(s.*field); }};
}

// The model section's own keys, beside its plugin's parameters.
const std::vector<Key<ModelInitSettings>>& model_init_keys() {
  static const std::vector<Key<ModelInitSettings>> keys = {
      key(&ModelInitSettings::from,
          string_param("init_from", "",
                       "fine-tune: start the model from the parameters of a run of output.db (its id: its best.pt), "
                       "a checkpoint file or a model package; a classifier head of another class count starts "
                       "fresh (named in the log). Not applied on --resume; empty: the plugin's own init")),
      key(&ModelInitSettings::skip,
          string_param("init_skip", "",
                       "with init_from: comma-separated parameter names or prefixes left as the plugin built "
                       "them (e.g. fc, or layer4,fc); any other mismatch with the source is refused")),
  };
  return keys;
}

// Every integer key has an upper bound as well as a lower one: the value is narrowed where it is
// used (threads and queue lengths are ints), and a value past the bound was once narrowed to 0
// (train.prefetch_batches=4294967296 made the loader wait forever for a batch).
const std::vector<Key<TrainSettings>>& train_keys() {
  static const std::vector<Key<TrainSettings>> keys = {
      key(&TrainSettings::epochs,
          int_param("epochs", 20, "passes over the training split").at_least(1).at_most(1000000)),
      key(&TrainSettings::batch_size,
          int_param("batch_size", 10, "images per optimizer step (per process in a run of several)")
              .at_least(1)
              .at_most(1 << 20)),
      key(&TrainSettings::threads,
          int_param("threads", 0, "LibTorch intra-op threads; 0 = every core this process may use")
              .at_least(0)
              .at_most(1024)),
      key(&TrainSettings::loader_threads,
          int_param("loader_threads", 0, "decoding threads; 0 = half the cores (at least 1, at most 8)")
              .at_least(0)
              .at_most(256)),
      key(&TrainSettings::prefetch_batches,
          int_param("prefetch_batches", 4, "batches decoded ahead of the model").at_least(1).at_most(1024)),
      key(&TrainSettings::drop_last,
          bool_param("drop_last", false,
                     "leave out the last training batch when it is smaller than batch_size (batch "
                     "norm cannot train on a batch of one image at low resolution)")),
      key(&TrainSettings::channels_last,
          bool_param("channels_last", true,
                     "keep images and conv weights in NHWC order, which oneDNN and cuDNN run faster")),
      key(&TrainSettings::precision,
          string_param("precision", "auto",
                       "auto: bf16 autocast on CPUs with AVX512-BF16 or AMX (detected at run time) and on "
                       "GPUs that support bf16, fp16 (with dynamic loss scaling) on older GPUs, else fp32; or "
                       "fp32, bf16, fp16 (CUDA only)")
              .one_of({"auto", "fp32", "bf16", "fp16"})),
      key(&TrainSettings::cudnn_benchmark,
          bool_param("cudnn_benchmark", true, "let cuDNN time its algorithms for each input shape (CUDA)")),
      key(&TrainSettings::cache,
          string_param("cache", "auto",
                       "keep decoded images in memory after the first epoch: auto when the dataset says its "
                       "samples are deterministic and they fit in cache_max_mb; on; off")
              .one_of({"auto", "on", "off"})),
      key(&TrainSettings::cache_max_mb,
          int_param("cache_max_mb", 8192, "the largest cache (MiB) that auto allows").at_least(0).at_most(1 << 30)),
      key(&TrainSettings::select_on,
          string_param("select_on", "auto",
                       "the split whose accuracy picks the best epoch (best.pt, the run's best figures, sweep "
                       "rankings): val (the dataset's val_fraction), test, or auto: val when the dataset has a "
                       "validation split, else test (then the reported best test accuracy is biased upward)")
              .one_of({"auto", "val", "test"})),
  };
  return keys;
}

// train.early_stopping, a section of its own inside train (written only when it is on).
const std::vector<Key<EarlyStoppingSettings>>& early_stopping_keys() {
  static const std::vector<Key<EarlyStoppingSettings>> keys = {
      key(&EarlyStoppingSettings::metric,
          string_param("metric", "auto",
                       "what must keep improving: val_accuracy or test_accuracy (higher is better), val_loss or "
                       "test_loss (lower is better), or auto: the accuracy of the split train.select_on picks")
              .one_of({"auto", "val_accuracy", "val_loss", "test_accuracy", "test_loss"})),
      key(&EarlyStoppingSettings::patience,
          int_param("patience", 3,
                    "the run ends after this many epochs in a row without an improvement (0 turns early "
                    "stopping off); a metric that is not a number ends it at once")
              .at_least(0)
              .at_most(1000000)),
      key(&EarlyStoppingSettings::min_delta,
          float_param("min_delta", 0.0, "an improvement is a change by more than this (accuracy as a fraction)")
              .at_least(0)),
  };
  return keys;
}

const std::vector<Key<ScheduleSettings>>& schedule_keys() {
  static const std::vector<Key<ScheduleSettings>> keys = {
      key(&ScheduleSettings::kind,
          string_param("kind", "constant",
                       "learning-rate schedule on the optimizer's lr, set before every step: constant, step "
                       "(times gamma every step_epochs), cosine (down to min_factor x lr at the end); the rate "
                       "of each epoch's first step is logged as learning_rate")
              .one_of({"constant", "step", "cosine"})),
      key(&ScheduleSettings::warmup_epochs,
          float_param("warmup_epochs", 0.0,
                      "linear warm-up first, from warmup_start_factor x lr, over this many epochs (fractions allowed)")
              .at_least(0)),
      key(&ScheduleSettings::warmup_start_factor,
          float_param("warmup_start_factor", 0.1, "the warm-up starts at this fraction of the rate")
              .greater_than(0)
              .at_most(1)),
      key(&ScheduleSettings::step_epochs,
          int_param("step_epochs", 30, "step: epochs between reductions").at_least(1).at_most(1000000)),
      key(&ScheduleSettings::gamma,
          float_param("gamma", 0.1, "step: factor at each reduction").greater_than(0).at_most(1)),
      key(&ScheduleSettings::min_factor,
          float_param("min_factor", 0.0, "cosine: fraction of the rate reached at the end").at_least(0).at_most(1)),
  };
  return keys;
}

const std::vector<Key<DistributedSettings>>& distributed_keys() {
  static const std::vector<Key<DistributedSettings>> keys = {
      key(&DistributedSettings::backend,
          string_param("backend", "auto",
                       "c10d backend when the run has several processes: auto (nccl on CUDA, gloo on "
                       "the CPU), gloo, nccl")
              .one_of({"auto", "gloo", "nccl"})),
      key(&DistributedSettings::batch_norm,
          string_param("batch_norm", "local",
                       "batch norm statistics per process (local, as PyTorch's DDP) or over the whole "
                       "global batch (sync, as SyncBatchNorm: one more all-reduce per layer)")
              .one_of({"local", "sync"})),
      key(&DistributedSettings::timeout_seconds,
          int_param("timeout_seconds", 300, "a collective that waits longer (a rank hung or gone) fails the run")
              .at_least(1)
              .at_most(7 * 24 * 3600)),
      key(&DistributedSettings::bucket_mb,
          float_param("bucket_mb", 25.0, "gradients are all-reduced in buckets of this size while backward goes on")
              .greater_than(0)),
  };
  return keys;
}

const std::vector<Key<OutputSettings>>& output_keys() {
  static const std::vector<Key<OutputSettings>> keys = {
      key(&OutputSettings::db,
          string_param("db", "results/trainyard.db",
                       "results database: a SQLite file, or a PostgreSQL URL postgresql://USER@HOST:PORT/DBNAME "
                       "shared by sweep workers on many machines")),
      key(&OutputSettings::checkpoints,
          string_param(
              "checkpoints", "results/checkpoints",
              "folder of checkpoints: the best and the last epoch of run N go to its run-N-<tag>/best.pt and last.pt")),
      key(&OutputSettings::keep,
          string_param("keep", "both",
                       "which checkpoints a run keeps: best (best.pt, for evaluating and exporting), last (last.pt, "
                       "what --resume and a sweep's takeover continue from), both, or none (a sweep that needs only "
                       "its figures); written on a thread of their own while the next epoch trains")
              .one_of({"best", "last", "both", "none"})),
      key(&OutputSettings::checkpoint_every,
          int_param("checkpoint_every", 1,
                    "epochs between writes of last.pt (the run's final epoch is always written); a resume "
                    "repeats the epochs after the last one written")
              .at_least(1)
              .at_most(1000000)),
      key(&OutputSettings::best_optimizer,
          bool_param("best_optimizer", false,
                     "best.pt also holds the optimizer's state (it is then the same file as that epoch's "
                     "last.pt, one write for both); off, it holds the model alone, for evaluating, exporting and "
                     "fine-tuning, at about a third of the size with Adam")),
      key(&OutputSettings::cache,
          string_param("cache", "results/cache",
                       "folder where decoded datasets are shared between runs of the same data (a sweep's "
                       "trials), keyed by the dataset's files (size, time), transform and split; empty "
                       "turns sharing off")),
  };
  return keys;
}

template <class Settings>
std::vector<ParamSpec> specs(const std::vector<Key<Settings>>& keys) {
  std::vector<ParamSpec> out;
  for (const auto& k : keys) out.push_back(k.spec);
  return out;
}

template <class Settings>
Settings read(const std::vector<Key<Settings>>& keys, const Params& params) {
  Settings settings;
  for (const auto& k : keys) k.read(settings, params);
  return settings;
}

template <class Settings>
void write_keys(YAML::Emitter& out, const std::vector<Key<Settings>>& keys, const Settings& settings) {
  for (const auto& k : keys) {
    out << YAML::Key << k.spec.name << YAML::Value;
    emit_value(out, k.value(settings));
  }
}

template <class Settings>
void write(YAML::Emitter& out, const char* section, const std::vector<Key<Settings>>& keys, const Settings& settings) {
  out << YAML::Key << section << YAML::Value << YAML::BeginMap;
  write_keys(out, keys, settings);
  out << YAML::EndMap;
}

}  // namespace

std::vector<ParamSpec> model_init_schema() { return specs(model_init_keys()); }
std::vector<ParamSpec> train_schema() { return specs(train_keys()); }
std::vector<ParamSpec> early_stopping_schema() { return specs(early_stopping_keys()); }
std::vector<NestedKey> train_nested_keys() {
  return {{"early_stopping", "{metric, patience, min_delta}",
           "end the run once its metric stops improving (see train.early_stopping); none without it"}};
}
std::vector<ParamSpec> schedule_schema() { return specs(schedule_keys()); }
std::vector<ParamSpec> distributed_schema() { return specs(distributed_keys()); }
std::vector<ParamSpec> output_schema() { return specs(output_keys()); }

ModelInitSettings read_model_init(const Params& params) { return read(model_init_keys(), params); }
TrainSettings read_train(const Params& params) { return read(train_keys(), params); }
EarlyStoppingSettings read_early_stopping(const Params& params) { return read(early_stopping_keys(), params); }
ScheduleSettings read_schedule(const Params& params) { return read(schedule_keys(), params); }
DistributedSettings read_distributed(const Params& params) { return read(distributed_keys(), params); }
OutputSettings read_output(const Params& params) { return read(output_keys(), params); }

void write_model_init(YAML::Emitter& out, const ModelInitSettings& s) {
  if (s.from.empty()) return;  // a model of its plugin's own init: the resolved file as before fine-tuning existed
  write_keys(out, model_init_keys(), s);
}
void write_train(YAML::Emitter& out, const TrainSettings& s) {
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  write_keys(out, train_keys(), s);
  // Off, it is left out: a run's resolved file reads as it did before early stopping existed.
  if (s.early_stopping.enabled()) write(out, "early_stopping", early_stopping_keys(), s.early_stopping);
  out << YAML::EndMap;
}
void write_schedule(YAML::Emitter& out, const ScheduleSettings& s) { write(out, "schedule", schedule_keys(), s); }
void write_distributed(YAML::Emitter& out, const DistributedSettings& s) {
  write(out, "distributed", distributed_keys(), s);
}
void write_output(YAML::Emitter& out, const OutputSettings& s) { write(out, "output", output_keys(), s); }

}  // namespace trainyard
