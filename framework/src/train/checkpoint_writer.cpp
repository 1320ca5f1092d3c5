#include "checkpoint_writer.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "trainyard/system/durable_file.h"

namespace fs = std::filesystem;

namespace trainyard {

namespace {
bool keeps_last(const OutputSettings& output) { return output.keep == "last" || output.keep == "both"; }
bool keeps_best(const OutputSettings& output) { return output.keep == "best" || output.keep == "both"; }
}  // namespace

CheckpointTargets checkpoint_targets(const OutputSettings& output, std::int64_t epoch, std::int64_t epochs,
                                     bool stopping, bool new_best) {
  CheckpointTargets targets;
  targets.run_complete = epoch == epochs;
  targets.last = keeps_last(output) && (targets.run_complete || stopping || epoch % output.checkpoint_every == 0);
  targets.best = keeps_best(output) && new_best;
  // run_complete is not set for a run a callback stops: should its end fail, a resume would go on
  // training, from a last.pt with the optimizer's state.
  return targets;
}

bool expects_last_checkpoint(const OutputSettings& output, std::int64_t recorded_epochs) {
  return keeps_last(output) && recorded_epochs >= output.checkpoint_every;
}

CheckpointWriter::CheckpointWriter(fs::path run_folder, bool best_optimizer,
                                   std::function<void(std::int64_t)> mid_write)
    : best_(run_folder / "best.pt"),
      last_(run_folder / "last.pt"),
      best_optimizer_(best_optimizer),
      mid_write_(std::move(mid_write)) {}

CheckpointWriter::~CheckpointWriter() {
  try {
    wait();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
}

void CheckpointWriter::remove_leftovers() const {
  remove_temporaries(best_);
  remove_temporaries(last_);
}

void CheckpointWriter::wait() {
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

namespace {
// Appends an archive's bytes to `buffer`, which keeps its capacity from epoch to epoch: its pages
// stay mapped, where a fresh buffer would page-fault hundreds of megabytes again each epoch.
void serialize_into(std::vector<char>& buffer, Model& model, torch::optim::Optimizer* optimizer,
                    const CheckpointInfo& info) {
  buffer.clear();
  serialize_checkpoint(model, optimizer, info, [&buffer](const void* data, std::size_t size) {
    const char* begin = static_cast<const char*>(data);
    buffer.insert(buffer.end(), begin, begin + size);
  });
}
}  // namespace

void CheckpointWriter::snapshot(Model& model, torch::optim::Optimizer& optimizer, const CheckpointInfo& info,
                                CheckpointTargets targets) {
  wait();
  targets_ = targets;
  pending_ = true;
  const bool full_last = targets.last && !last_is_model_only();
  if (full_last || (targets.best && best_optimizer_)) serialize_into(bytes_, model, &optimizer, info);
  if ((targets.best && !best_optimizer_) || last_is_model_only()) {
    // For evaluating, exporting and fine-tuning (best.pt, and a complete run's last.pt): no
    // optimizer state, nor the resume's generators.
    CheckpointInfo model_only = info;
    model_only.generator_states.clear();
    serialize_into(model_bytes_, model, nullptr, model_only);
  }
}

void CheckpointWriter::write_in_background(std::int64_t epoch) {
  wait();  // never two writers of the buffers
  if (!std::exchange(pending_, false) || !targets_.any()) return;
  thread_ = std::thread([this, epoch] {
    try {
      write(epoch);
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void CheckpointWriter::write(std::int64_t epoch) {
  if (targets_.last) write_file(last_, last_bytes(), epoch);
  if (!targets_.best) return;
  const bool same_as_last = targets_.last && (best_optimizer_ || last_is_model_only());
  if (!same_as_last) return write_file(best_, best_optimizer_ ? bytes_ : model_bytes_, epoch);
  bool linked = false;
  try {
    linked = replace_with_hard_link(last_, best_);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("checkpoint not saved: ") + e.what());
  }
  if (!linked) write_file(best_, last_bytes(), epoch);  // no hard links: a copy
}

void CheckpointWriter::write_file(const fs::path& path, const std::vector<char>& bytes, std::int64_t epoch) {
  try {
    DurableFile file(path);
    const std::size_t half = bytes.size() / 2;
    file.write(bytes.data(), half);
    if (mid_write_) mid_write_(epoch);
    file.write(bytes.data() + half, bytes.size() - half);
    file.commit();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("checkpoint not saved: ") + e.what());
  }
}

}  // namespace trainyard
