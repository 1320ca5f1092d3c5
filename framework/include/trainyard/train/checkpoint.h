// Model checkpoints: what they hold, and how they are serialized and loaded. The run writes them
// through a CheckpointWriter (src/train/checkpoint_writer.h), off the training thread.
#pragma once

#include <cstdint>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "trainyard/plugin_api.h"

namespace trainyard {

struct CheckpointInfo {
  std::int64_t epoch = 0;
  double test_accuracy = 0.0;
  std::vector<std::string> class_names;
  std::string config_yaml;
  // The name of the run folder it was written for ("run-3-1f0c9a2e"): a resume refuses another
  // run's checkpoint. Empty in checkpoints written before it was kept.
  std::string owner;
  // What a resumed run needs beyond the model and optimizer (the "last" checkpoint): the random
  // generators' states (the CPU's, then each CUDA device's) and the fp16 loss scaler's.
  std::vector<torch::Tensor> generator_states;
  double loss_scale = 0.0;
  std::int64_t loss_scale_clean_steps = 0;
  // Read, not written: whether the checkpoint held optimizer state (loaded into the optimizer
  // given to load_checkpoint, if one was).
  bool has_optimizer = false;
};

/// Model parameters and buffers ("model"), optimizer state ("optimizer", when `optimizer` is
/// given) and `info`, serialized as a LibTorch archive; its bytes go to `sink` as they are
/// produced (checkpoint_writer.h keeps them in a buffer reused from epoch to epoch and writes them
/// to the disk on a thread of its own).
void serialize_checkpoint(Model& model, torch::optim::Optimizer* optimizer, const CheckpointInfo& info,
                          const std::function<void(const void* data, std::size_t size)>& sink);

/// Whether the checkpoint file at `path` holds optimizer state: a last.pt does, but for the one
/// of a run's last epoch; a best.pt only under output.best_optimizer. Throws c10::Error for a
/// file that is not an archive.
bool checkpoint_has_optimizer(const std::filesystem::path& path);

/// Loads a checkpoint written from serialize_checkpoint into `model`, and its optimizer state, if
/// it holds any (CheckpointInfo::has_optimizer), into `optimizer` if given.
CheckpointInfo load_checkpoint(const std::filesystem::path& path, Model& model,
                               torch::optim::Optimizer* optimizer = nullptr);
/// The same from the bytes of a checkpoint file (one that came over the network, say).
CheckpointInfo load_checkpoint_bytes(const std::string& bytes, Model& model,
                                     torch::optim::Optimizer* optimizer = nullptr);

/// The states of the random generators a run draws from: the CPU's, then (on a CUDA `device`)
/// each CUDA device's. What CheckpointInfo::generator_states keeps.
std::vector<torch::Tensor> generator_states(const torch::Device& device);
void restore_generator_states(const std::vector<torch::Tensor>& states, const torch::Device& device);

}  // namespace trainyard
