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

CheckpointTargets checkpoint_targets(const OutputSettings& output, std::int64_t epoch, bool final_epoch,
                                     bool new_best) {
  CheckpointTargets targets;
  targets.last = keeps_last(output) && (final_epoch || epoch % output.checkpoint_every == 0);
  targets.best = keeps_best(output) && new_best;
  return targets;
}

bool expects_last_checkpoint(const OutputSettings& output, std::int64_t recorded_epochs) {
  return keeps_last(output) && recorded_epochs >= output.checkpoint_every;
}

CheckpointWriter::CheckpointWriter(fs::path run_folder, std::function<void(std::int64_t)> mid_write)
    : best_(run_folder / "best.pt"), last_(run_folder / "last.pt"), mid_write_(std::move(mid_write)) {}

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

void CheckpointWriter::snapshot(Model& model, torch::optim::Optimizer& optimizer, const CheckpointInfo& info) {
  wait();
  bytes_.clear();  // keeps its capacity: the pages stay mapped from the last epoch
  serialize_checkpoint(model, optimizer, info, [this](const void* data, std::size_t size) {
    const char* begin = static_cast<const char*>(data);
    bytes_.insert(bytes_.end(), begin, begin + size);
  });
}

void CheckpointWriter::write_in_background(std::int64_t epoch, CheckpointTargets targets) {
  wait();  // never two writers of the buffer
  if (!targets.any()) return;
  thread_ = std::thread([this, epoch, targets] {
    try {
      write(epoch, targets);
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void CheckpointWriter::write(std::int64_t epoch, CheckpointTargets targets) {
  if (!targets.last) return write_file(best_, epoch);
  write_file(last_, epoch);
  if (!targets.best) return;
  bool linked = false;
  try {
    linked = replace_with_hard_link(last_, best_);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("checkpoint not saved: ") + e.what());
  }
  if (!linked) write_file(best_, epoch);  // a file system without hard links: a copy
}

void CheckpointWriter::write_file(const fs::path& path, std::int64_t epoch) {
  try {
    DurableFile file(path);
    const std::size_t half = bytes_.size() / 2;
    file.write(bytes_.data(), half);
    if (mid_write_) mid_write_(epoch);
    file.write(bytes_.data() + half, bytes_.size() - half);
    file.commit();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("checkpoint not saved: ") + e.what());
  }
}

}  // namespace trainyard
