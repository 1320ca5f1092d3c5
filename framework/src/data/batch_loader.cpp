#include "trainyard/data/batch_loader.h"

#include <chrono>

#include <ATen/Parallel.h>
#include <omp.h>

namespace trainyard {

std::vector<std::int64_t> epoch_order(std::size_t n, bool shuffle, std::uint64_t seed, std::int64_t epoch) {
  if (shuffle) return seeded_permutation(n, seed * 1000003ULL + static_cast<std::uint64_t>(epoch));
  std::vector<std::int64_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::int64_t>(i);
  return order;
}

void limit_current_thread_to_one_intra_op_thread() {
  // LibTorch initialises a thread's OpenMP thread count lazily, at its first parallel op, to the
  // global count; run one such op first so that our setting is not overwritten later.
  at::internal::lazy_init_num_threads();
  torch::zeros({1 << 16}).add_(1);
  omp_set_num_threads(1);
}

BatchLoader::BatchLoader(const Dataset& dataset, Split split, std::vector<std::int64_t> order, Options options)
    : dataset_(dataset), split_(split), order_(std::move(order)), options_(options) {
  const auto n = static_cast<std::int64_t>(order_.size());
  num_batches_ = (n + options_.batch_size - 1) / options_.batch_size;
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  space_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void BatchLoader::work() {
  limit_current_thread_to_one_intra_op_thread();
  while (true) {
    std::int64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] {
        return stopping_ || next_to_claim_ >= num_batches_ || next_to_claim_ < next_to_return_ + options_.prefetch;
      });
      if (stopping_ || next_to_claim_ >= num_batches_) return;
      index = next_to_claim_++;
    }
    Result result = build(index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(result));
    }
    ready_cv_.notify_all();
  }
}

void BatchLoader::check_image_type(const Sample& sample, std::size_t index) const {
  if (!sample.image.defined()) {
    throw DataError(std::string("the dataset's ") + to_string(split_) + " sample " + std::to_string(index) +
                    " has no image (an undefined tensor)");
  }
  const auto type = sample.image.scalar_type();
  if (type == options_.image_type) return;
  const bool pixels = options_.image_type == torch::kUInt8;
  throw DataError(std::string("the dataset's ") + to_string(split_) + " sample " + std::to_string(index) + " is " +
                  c10::toString(type) + ", but " +
                  (pixels ? "the dataset declares a pixel_normalization(), so its samples must be uint8 pixels"
                          : "a dataset without a pixel_normalization() must give normalized float32 images"));
}

BatchLoader::Result BatchLoader::build(std::int64_t batch_index) const {
  Result result;
  try {
    const auto begin = static_cast<std::size_t>(batch_index * options_.batch_size);
    const auto end = std::min(order_.size(), begin + static_cast<std::size_t>(options_.batch_size));
    std::vector<torch::Tensor> images;
    std::vector<std::int64_t> labels;
    images.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      const auto index = static_cast<std::size_t>(order_[i]);
      auto sample = options_.cache ? options_.cache->get(dataset_, split_, index) : dataset_.get(split_, index);
      if (!sample) {
        ++result.batch.skipped;
        continue;
      }
      check_image_type(*sample, index);
      images.push_back(std::move(sample->image));
      labels.push_back(sample->label);
    }
    if (images.empty()) return result;
    auto options = torch::TensorOptions().dtype(options_.image_type).pinned_memory(options_.pin_memory);
    std::vector<std::int64_t> shape{static_cast<std::int64_t>(images.size())};
    for (auto d : images.front().sizes()) shape.push_back(d);
    result.batch.images = torch::empty(shape, options);
    torch::stack_out(result.batch.images, images);
    result.batch.labels = torch::tensor(labels, torch::TensorOptions().dtype(torch::kInt64));
    if (options_.pin_memory) result.batch.labels = result.batch.labels.pin_memory();
  } catch (...) {
    result.error = std::current_exception();
  }
  return result;
}

std::optional<Batch> BatchLoader::next() {
  while (true) {
    if (next_to_return_ >= num_batches_) return std::nullopt;
    Result result;
    if (workers_.empty()) {
      // Built here, so the time counts as waiting for data.
      const auto start = std::chrono::steady_clock::now();
      result = build(next_to_return_++);
      wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      if (ready_.count(next_to_return_) == 0) {
        const auto start = std::chrono::steady_clock::now();
        const auto ready = [&] { return ready_.count(next_to_return_) != 0; };
        while (!ready_cv_.wait_for(lock, std::chrono::milliseconds(50), ready)) {
          if (options_.stop_requested && options_.stop_requested->load(std::memory_order_relaxed)) return std::nullopt;
        }
        wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      auto it = ready_.find(next_to_return_);
      result = std::move(it->second);
      ready_.erase(it);
      ++next_to_return_;
      lock.unlock();
      space_cv_.notify_all();
    }
    if (result.error) std::rethrow_exception(result.error);
    if (result.batch.images.defined()) return std::move(result.batch);
    // Every sample of this batch was skipped: go on to the next one.
  }
}

}  // namespace trainyard
