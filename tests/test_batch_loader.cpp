// The batch loader: order, completeness, prefetching threads, errors, skipped samples.
#include <gtest/gtest.h>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <trainyard/data/batch_loader.h>

#include "test_support.h"

using trainyard::BatchLoader;
using trainyard::Split;

namespace {
// Sample i is a [1, 2, 2] image filled with i, label i % 3. Index 5 is skipped; index 7 throws
// when `fail_on_seven`.
class CountingDataset : public trainyard::Dataset {
 public:
  explicit CountingDataset(std::size_t n, bool fail_on_seven = false) : n_(n), fail_(fail_on_seven) {}
  std::vector<std::string> class_names() const override { return {"a", "b", "c"}; }
  std::size_t size(Split) const override { return n_; }
  trainyard::ImageShape image_shape() const override { return {1, 2, 2}; }
  std::optional<trainyard::Sample> get(Split, std::size_t index) const override {
    if (index == 5) return std::nullopt;
    if (fail_ && index == 7) throw trainyard::DataError("sample 7 is broken");
    return trainyard::Sample{torch::full({1, 2, 2}, static_cast<float>(index)), static_cast<std::int64_t>(index % 3)};
  }
  std::string summary() const override { return "counting"; }

 private:
  std::size_t n_;
  bool fail_;
};

// Sample i is a [3, 2, 2] uint8 image filled with i; sample `odd_one` (if any) is float32.
class PixelDataset : public trainyard::Dataset {
 public:
  explicit PixelDataset(std::size_t odd_one = 1000) : odd_one_(odd_one) {}
  std::vector<std::string> class_names() const override { return {"a", "b"}; }
  std::size_t size(Split) const override { return 6; }
  trainyard::ImageShape image_shape() const override { return {3, 2, 2}; }
  std::optional<trainyard::Sample> get(Split, std::size_t index) const override {
    const auto type = index == odd_one_ ? torch::kFloat32 : torch::kUInt8;
    return trainyard::Sample{torch::full({3, 2, 2}, static_cast<int>(index), type), 0};
  }
  std::string summary() const override { return "pixels"; }
  std::optional<trainyard::PixelNormalization> pixel_normalization() const override {
    return trainyard::PixelNormalization{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
  }

 private:
  std::size_t odd_one_;
};

std::vector<std::int64_t> visit(BatchLoader& loader, std::vector<std::int64_t>* batch_sizes = nullptr) {
  std::vector<std::int64_t> seen;
  while (auto batch = loader.next()) {
    if (batch_sizes) batch_sizes->push_back(batch->images.size(0));
    for (std::int64_t i = 0; i < batch->images.size(0); ++i) {
      const auto value = static_cast<std::int64_t>(batch->images[i][0][0][0].item<float>());
      EXPECT_EQ(batch->labels[i].item<std::int64_t>(), value % 3);
      seen.push_back(value);
    }
  }
  return seen;
}
}  // namespace

TEST(BatchLoader, DeliversEverySampleOnceInOrderDespiteThreads) {
  CountingDataset dataset(23);
  const auto order = trainyard::epoch_order(23, true, 9, 1);
  BatchLoader loader(dataset, Split::kTrain, order, {4, 3, 2, false});
  EXPECT_EQ(loader.num_batches(), 6);
  std::vector<std::int64_t> sizes;
  const auto seen = visit(loader, &sizes);
  std::vector<std::int64_t> expected;
  for (auto i : order) {
    if (i != 5) expected.push_back(i);
  }
  EXPECT_EQ(seen, expected);
  std::int64_t total = 0;
  for (auto s : sizes) total += s;
  EXPECT_EQ(total, 22);
  EXPECT_FALSE(loader.next().has_value());
}

TEST(BatchLoader, WithoutWorkerThreadsBuildsBatchesInNext) {
  CountingDataset dataset(11);
  const auto order = trainyard::epoch_order(11, true, 3, 1);
  BatchLoader loader(dataset, Split::kTrain, order, {4, 0, 2, false});
  std::vector<std::int64_t> expected;
  for (auto i : order) {
    if (i != 5) expected.push_back(i);
  }
  EXPECT_EQ(visit(loader), expected);
  EXPECT_GT(loader.wait_seconds(), 0.0);
}

TEST(BatchLoader, RethrowsADecodingError) {
  CountingDataset dataset(10, /*fail_on_seven=*/true);
  BatchLoader loader(dataset, Split::kTrain, trainyard::epoch_order(10, false, 0, 0), {4, 2, 4, false});
  EXPECT_TRUE(loader.next().has_value());             // 0..3
  EXPECT_THROW(loader.next(), trainyard::DataError);  // 4..7
}

TEST(BatchLoader, StopsCleanlyWhenAbandonedEarly) {
  CountingDataset dataset(100);
  BatchLoader loader(dataset, Split::kTrain, trainyard::epoch_order(100, false, 0, 0), {2, 4, 3, false});
  EXPECT_TRUE(loader.next().has_value());
  // Destruction with batches in flight must join the workers without hanging.
}

// A sample that never comes (a hung network mount, say) must not make a stop request wait forever:
// the runner's SIGTERM handler sets the flag, and next() gives up its wait.
TEST(BatchLoader, AStopRequestEndsAWaitForData) {
  class StuckDataset : public CountingDataset {
   public:
    StuckDataset() : CountingDataset(4) {}
    std::optional<trainyard::Sample> get(Split split, std::size_t index) const override {
      while (index == 0 && !released.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return CountingDataset::get(split, index);
    }
    mutable std::atomic<bool> released{false};
  } dataset;
  std::atomic<bool> stop{false};
  BatchLoader::Options options;
  options.batch_size = 2;
  options.threads = 1;
  options.stop_requested = &stop;
  BatchLoader loader(dataset, Split::kTrain, {0, 1, 2, 3}, options);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  EXPECT_FALSE(loader.next().has_value());  // before the fix: waited for sample 0 forever
  stopper.join();
  dataset.released = true;  // lets the worker finish, so the loader can be destroyed
}

TEST(BatchLoader, EpochOrderIsASeededPermutation) {
  const auto a = trainyard::epoch_order(50, true, 42, 1);
  EXPECT_EQ(a, trainyard::epoch_order(50, true, 42, 1));
  EXPECT_NE(a, trainyard::epoch_order(50, true, 42, 2));
  EXPECT_NE(a, trainyard::epoch_order(50, true, 43, 1));
  EXPECT_EQ(std::set<std::int64_t>(a.begin(), a.end()).size(), 50u);
  const auto identity = trainyard::epoch_order(4, false, 42, 1);
  EXPECT_EQ(identity, (std::vector<std::int64_t>{0, 1, 2, 3}));
}

TEST(BatchLoader, WorkerThreadsUseOneIntraOpThread) {
  torch::set_num_threads(2);
  int inside = -1;
  std::thread worker([&] {
    trainyard::limit_current_thread_to_one_intra_op_thread();
    torch::randn({256, 256}).mm(torch::randn({256, 256}));  // a parallel op must not reset it
    inside = omp_get_max_threads();
  });
  worker.join();
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(torch::get_num_threads(), 2);
}

// Issue 18: a dataset of 8-bit samples is batched as bytes (normalized later, where the model
// runs); a sample of the other type is the plugin's mistake, named with its split and index.
TEST(BatchLoader, BatchesUint8SamplesAsBytesAndRefusesASampleOfAnotherType) {
  PixelDataset pixels;
  BatchLoader::Options options;
  options.batch_size = 4;
  options.threads = 2;
  options.image_type = torch::kUInt8;
  BatchLoader loader(pixels, Split::kTrain, trainyard::epoch_order(6, false, 0, 0), options);
  const auto first = loader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(first->images.sizes(), (std::vector<std::int64_t>{4, 3, 2, 2}));
  EXPECT_EQ(first->images[3][2][1][1].item<int>(), 3);

  PixelDataset mixed(/*odd_one=*/4);
  BatchLoader mixed_loader(mixed, Split::kTest, trainyard::epoch_order(6, false, 0, 0), options);
  ASSERT_TRUE(mixed_loader.next());  // samples 0-3
  try {
    mixed_loader.next();
    ADD_FAILURE() << "a float sample went into a batch of bytes";
  } catch (const trainyard::DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test sample 4 is Float"), std::string::npos) << message;
    EXPECT_NE(message.find("pixel_normalization()"), std::string::npos) << message;
  }
  // And bytes from a dataset that promised normalized floats.
  BatchLoader floats(pixels, Split::kTrain, {0}, {1, 0, 1, false});
  EXPECT_THROW(floats.next(), trainyard::DataError);
}
