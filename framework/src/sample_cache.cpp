#include "trainyard/sample_cache.h"

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

}  // namespace trainyard
