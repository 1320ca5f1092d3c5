// Batches a dataset split on worker threads, ahead of the model, in a fixed order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "trainyard/plugin_api.h"
#include "trainyard/seeded_permutation.h"
#include "trainyard/data/sample_cache.h"

namespace trainyard {

struct Batch {
  torch::Tensor images;      // [N, C, H, W]: float32, or uint8 pixels (Options::image_type)
  torch::Tensor labels;      // [N] int64
  std::int64_t skipped = 0;  // samples the dataset skipped (e.g. undecodable files)
};

/// The visiting order of a split's samples in one epoch: 0..n-1, or a permutation drawn from
/// (seed, epoch) so that every run with the same seed sees the same batches.
std::vector<std::int64_t> epoch_order(std::size_t n, bool shuffle, std::uint64_t seed, std::int64_t epoch);

/// Makes worker threads fit for decoding beside the training loop: LibTorch ops they run use
/// one thread instead of starting a second OpenMP team on cores the model already uses.
void limit_current_thread_to_one_intra_op_thread();

class BatchLoader {
 public:
  struct Options {
    std::int64_t batch_size = 10;
    int threads = 1;               // decoding threads; 0 builds each batch inside next()
    int prefetch = 4;              // batches decoded ahead of the consumer
    bool pin_memory = false;       // page-locked batches for asynchronous copies to a GPU
    SampleCache* cache = nullptr;  // decoded samples of this split, kept across epochs
    // When set and true, next() stops waiting for a batch that is not ready and returns nullopt
    // (a SIGTERM must end a run whose data is slow or stuck, not only one between batches).
    const std::atomic<bool>* stop_requested = nullptr;
    // What every sample's image must be: uint8 from a dataset with a pixel_normalization(),
    // float32 from any other. A sample of another type fails the batch with a DataError.
    torch::ScalarType image_type = torch::kFloat32;
  };

  /// Starts decoding at once. `order` lists sample indices of `split` to visit.
  BatchLoader(const Dataset& dataset, Split split, std::vector<std::int64_t> order, Options options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// The next batch in order, or nullopt after the last (or once stop_requested is true while it
  /// waits). Rethrows a decoding error (DataError).
  std::optional<Batch> next();

  std::int64_t num_batches() const { return num_batches_; }
  /// Seconds next() spent waiting for a batch that was not ready yet (or building it, without
  /// worker threads).
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  void work();
  Result build(std::int64_t batch_index) const;
  void check_image_type(const Sample& sample, std::size_t index) const;

  const Dataset& dataset_;
  Split split_;
  std::vector<std::int64_t> order_;
  Options options_;
  std::int64_t num_batches_ = 0;

  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::condition_variable space_cv_;
  std::map<std::int64_t, Result> ready_;
  std::int64_t next_to_claim_ = 0;
  std::int64_t next_to_return_ = 0;
  bool stopping_ = false;
  double wait_seconds_ = 0.0;
  std::vector<std::thread> workers_;
};

}  // namespace trainyard
