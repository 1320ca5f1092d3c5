#include "trainyard/data/sample_cache.h"

#include <unistd.h>

#include <stdexcept>

namespace trainyard {

SampleCache::SampleCache(std::size_t size) : slots_(new Slot[size]), size_(size) {}

std::optional<Sample> SampleCache::get(const Dataset& dataset, Split split, std::size_t index) {
  if (index >= size_) throw std::out_of_range("sample cache index out of range");
  Slot& slot = slots_[index];
  const int state = slot.state.load(std::memory_order_acquire);
  if (state == kSample) return slot.sample;
  if (state == kSkipped) return std::nullopt;

  auto sample = dataset.get(split, index);
  int expected = kEmpty;
  // Only the first thread to claim the slot writes it; readers see it once the state says so.
  if (slot.state.compare_exchange_strong(expected, kWriting, std::memory_order_acq_rel)) {
    if (sample) slot.sample = *sample;
    slot.state.store(sample ? kSample : kSkipped, std::memory_order_release);
    cached_.fetch_add(1, std::memory_order_relaxed);
  }
  return sample;
}

bool SampleCache::save(const std::filesystem::path& path) const {
  if (!complete() || size_ == 0) return false;
  torch::Tensor first;
  for (std::size_t i = 0; i < size_ && !first.defined(); ++i) {
    if (slots_[i].state.load(std::memory_order_acquire) == kSample) first = slots_[i].sample.image;
  }
  if (!first.defined()) return false;
  std::vector<std::int64_t> shape{static_cast<std::int64_t>(size_)};
  for (auto d : first.sizes()) shape.push_back(d);
  auto images = torch::zeros(shape, first.options());
  auto labels = torch::zeros({static_cast<std::int64_t>(size_)}, torch::kInt64);
  auto present = torch::zeros({static_cast<std::int64_t>(size_)}, torch::kUInt8);
  for (std::size_t i = 0; i < size_; ++i) {
    if (slots_[i].state.load(std::memory_order_acquire) != kSample) continue;
    images[static_cast<std::int64_t>(i)].copy_(slots_[i].sample.image);
    labels[static_cast<std::int64_t>(i)] = slots_[i].sample.label;
    present[static_cast<std::int64_t>(i)] = 1;
  }
  std::filesystem::create_directories(path.parent_path());
  const auto temporary = path.string() + ".tmp." + std::to_string(::getpid());
  torch::save(std::vector<torch::Tensor>{images, labels, present}, temporary);
  std::filesystem::rename(temporary, path);
  return true;
}

bool SampleCache::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  std::vector<torch::Tensor> tensors;
  try {
    torch::load(tensors, path.string());
  } catch (const std::exception&) {
    return false;  // unreadable: decode instead
  }
  if (tensors.size() != 3 || tensors[0].size(0) != static_cast<std::int64_t>(size_) ||
      tensors[1].size(0) != static_cast<std::int64_t>(size_)) {
    return false;
  }
  const auto* labels = tensors[1].data_ptr<std::int64_t>();
  const auto* present = tensors[2].data_ptr<std::uint8_t>();
  for (std::size_t i = 0; i < size_; ++i) {
    Slot& slot = slots_[i];
    if (present[i]) slot.sample = Sample{tensors[0][static_cast<std::int64_t>(i)], labels[i]};
    slot.state.store(present[i] ? kSample : kSkipped, std::memory_order_release);
  }
  cached_.store(size_);
  return true;
}

}  // namespace trainyard
