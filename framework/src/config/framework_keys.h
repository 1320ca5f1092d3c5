// The framework's own sections of an experiment (train, schedule, distributed, output): one table
// per section in framework_keys.cpp declares each key once (its name, type, default, range and
// meaning, and the settings field it fills). The schema that validates it, `--describe`, the
// resolved configuration's copy-out and its YAML all come from that table.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "trainyard/config/experiment_config.h"

namespace trainyard {

/// `value` as YAML, quoted where YAML would read it as another type (resolved files read back).
void emit_value(YAML::Emitter& out, const ParamValue& value);

/// One framework section while resolving: its name, its keys, and where the validated values go.
struct FrameworkSection {
  const char* name;
  std::vector<ParamSpec> schema;
  std::function<void(const Params&)> apply;
  std::vector<std::string> subsections;  // keys that are sections of their own, read apart
};

ModelInitSettings read_model_init(const Params& params);
TrainSettings read_train(const Params& params);  // all but early_stopping, a section of its own
EarlyStoppingSettings read_early_stopping(const Params& params);
ScheduleSettings read_schedule(const Params& params);
DistributedSettings read_distributed(const Params& params);
OutputSettings read_output(const Params& params);

/// `key: {...}` for each section, every key in the table's order.
/// init_from and init_skip, into the open `model:` map; nothing when init_from is empty.
void write_model_init(YAML::Emitter& out, const ModelInitSettings& settings);
void write_train(YAML::Emitter& out, const TrainSettings& settings);
void write_schedule(YAML::Emitter& out, const ScheduleSettings& settings);
void write_distributed(YAML::Emitter& out, const DistributedSettings& settings);
void write_output(YAML::Emitter& out, const OutputSettings& settings);

}  // namespace trainyard
