#include "trainyard/data/sample_cache.h"

#include <functional>
#include <stdexcept>
#include <tuple>

#include <ATen/Parallel.h>

#include "trainyard/system/durable_file.h"

namespace trainyard {

SampleCache::SampleCache(std::size_t size, torch::ScalarType image_type)
    : slots_(new Slot[size]), size_(size), image_type_(image_type) {}

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

std::size_t SampleCache::fill(const Dataset& dataset, Split split, const std::vector<std::int64_t>& indices,
                              const std::atomic<bool>* stop_requested) {
  std::atomic<std::size_t> decoded{0};
  // One index per task: samples differ in cost (file sizes), and a stop is seen within one.
  at::parallel_for(0, static_cast<std::int64_t>(indices.size()), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      if (stop_requested && stop_requested->load(std::memory_order_relaxed)) return;
      const auto index = static_cast<std::size_t>(indices[static_cast<std::size_t>(i)]);
      if (index < size_ && slots_[index].state.load(std::memory_order_acquire) >= kSample) continue;
      get(dataset, split, index);
      decoded.fetch_add(1, std::memory_order_relaxed);
    }
  });
  return decoded.load();
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
  // Straight from the archive writer to the file: no copy of a cache that can take gigabytes.
  DurableFile file(path);
  torch::save(std::vector<torch::Tensor>{images, labels, present},
              std::function<std::size_t(const void*, std::size_t)>([&file](const void* data, std::size_t size) {
                file.write(data, size);
                return size;  // a failure is kept by the file and thrown by commit()
              }));
  file.commit();
  return true;
}

namespace {
// Why `tensors` (read from a cache file) cannot be the cache of `size` samples; empty when it can.
// The file is another process's output, so nothing about it is trusted: a foreign or truncated
// file must be refused here, not read out of bounds below.
std::string cache_file_problem(const std::vector<torch::Tensor>& tensors, std::size_t size,
                               torch::ScalarType image_type) {
  if (tensors.size() != 3) return "it holds " + std::to_string(tensors.size()) + " tensors, not 3";
  const auto n = static_cast<std::int64_t>(size);
  const auto& [images, labels, present] = std::tie(tensors[0], tensors[1], tensors[2]);
  if (!images.defined() || images.dim() < 2 || images.size(0) != n) {
    return "its images are not " + std::to_string(size) + " samples";
  }
  if (images.scalar_type() != image_type) {
    // A cache written before samples were kept as bytes, or by another dataset's version.
    return std::string("its images are ") + c10::toString(images.scalar_type()) + ", this dataset's are " +
           c10::toString(image_type);
  }
  if (labels.dim() != 1 || labels.size(0) != n || labels.scalar_type() != torch::kInt64) {
    return "its labels are not " + std::to_string(size) + " int64 values";
  }
  if (present.dim() != 1 || present.size(0) != n || present.scalar_type() != torch::kUInt8) {
    return "its presence flags are not " + std::to_string(size) + " bytes";
  }
  if (n > 0 && labels.min().item<std::int64_t>() < 0) return "it holds a negative label";
  return "";
}
}  // namespace

bool SampleCache::load(const std::filesystem::path& path, std::string* refusal) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  auto refuse = [&](const std::string& why) {
    if (refusal) *refusal = why;
    return false;
  };
  std::vector<torch::Tensor> tensors;
  try {
    torch::load(tensors, path.string());
  } catch (const std::exception&) {
    return refuse("it is not a readable LibTorch archive");
  }
  const std::string problem = cache_file_problem(tensors, size_, image_type_);
  if (!problem.empty()) return refuse(problem);
  const auto images = tensors[0].contiguous();
  const auto labels = tensors[1].contiguous();
  const auto present = tensors[2].contiguous();
  const auto* label = labels.data_ptr<std::int64_t>();
  const auto* flag = present.data_ptr<std::uint8_t>();
  for (std::size_t i = 0; i < size_; ++i) {
    Slot& slot = slots_[i];
    if (flag[i]) slot.sample = Sample{images[static_cast<std::int64_t>(i)], label[i]};
    slot.state.store(flag[i] ? kSample : kSkipped, std::memory_order_release);
  }
  cached_.store(size_);
  return true;
}

}  // namespace trainyard
