// The decoded-sample cache: each sample decoded once, skipped samples remembered, thread-safe.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <trainyard/data/batch_loader.h>
#include <trainyard/data/sample_cache.h>

#include "test_support.h"

using trainyard::SampleCache;
using trainyard::Split;

namespace {
class CountingDataset : public trainyard::Dataset {
 public:
  std::vector<std::string> class_names() const override { return {"a", "b"}; }
  std::size_t size(Split) const override { return 8; }
  trainyard::ImageShape image_shape() const override { return {1, 1, 1}; }
  std::optional<trainyard::Sample> get(Split, std::size_t index) const override {
    ++calls;
    if (index == 3) return std::nullopt;
    return trainyard::Sample{torch::full({1, 1, 1}, static_cast<float>(index)), static_cast<std::int64_t>(index % 2)};
  }
  std::string summary() const override { return "counting"; }
  mutable std::atomic<int> calls{0};
};
}  // namespace

TEST(SampleCache, DecodesEachSampleOnce) {
  CountingDataset dataset;
  SampleCache cache(8);
  for (int pass = 0; pass < 3; ++pass) {
    for (std::size_t i = 0; i < 8; ++i) {
      const auto sample = cache.get(dataset, Split::kTrain, i);
      if (i == 3) {
        EXPECT_FALSE(sample.has_value());
      } else {
        ASSERT_TRUE(sample.has_value());
        EXPECT_EQ(sample->image.item<float>(), static_cast<float>(i));
        EXPECT_EQ(sample->label, static_cast<std::int64_t>(i % 2));
      }
    }
  }
  EXPECT_EQ(dataset.calls.load(), 8);
  EXPECT_EQ(cache.cached(), 8u);
  EXPECT_THROW(cache.get(dataset, Split::kTrain, 8), std::out_of_range);
}

TEST(SampleCache, ConcurrentReadersGetConsistentSamples) {
  CountingDataset dataset;
  SampleCache cache(8);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int pass = 0; pass < 50; ++pass) {
        for (std::size_t i = 0; i < 8; ++i) {
          const auto s = cache.get(dataset, Split::kTrain, i);
          if (i != 3 && (!s || s->image.item<float>() != static_cast<float>(i))) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.cached(), 8u);
  EXPECT_LE(dataset.calls.load(), 8 * 4);  // at most one decode per thread per sample
}

TEST(SampleCache, SavesAndLoadsACompleteCacheIncludingSkippedSamples) {
  trainyard::testing::TempDir dir;
  CountingDataset dataset;
  SampleCache cache(8);
  EXPECT_FALSE(cache.save(dir / "partial.pt"));  // not complete yet
  for (std::size_t i = 0; i < 8; ++i) cache.get(dataset, Split::kTrain, i);
  ASSERT_TRUE(cache.save(dir / "c.pt"));
  EXPECT_FALSE(std::filesystem::exists(dir / "partial.pt"));

  SampleCache loaded(8);
  ASSERT_TRUE(loaded.load(dir / "c.pt"));
  EXPECT_TRUE(loaded.complete());
  CountingDataset fresh;
  for (std::size_t i = 0; i < 8; ++i) {
    const auto s = loaded.get(fresh, Split::kTrain, i);
    if (i == 3) {
      EXPECT_FALSE(s.has_value());
    } else {
      ASSERT_TRUE(s.has_value());
      EXPECT_EQ(s->image.item<float>(), static_cast<float>(i));
      EXPECT_EQ(s->label, static_cast<std::int64_t>(i % 2));
    }
  }
  EXPECT_EQ(fresh.calls.load(), 0);  // nothing decoded

  SampleCache other_size(5);
  EXPECT_FALSE(other_size.load(dir / "c.pt"));
  EXPECT_FALSE(other_size.load(dir / "missing.pt"));
  trainyard::testing::write_file(dir / "junk.pt", "not a tensor file");
  EXPECT_FALSE(other_size.load(dir / "junk.pt"));
  EXPECT_EQ(other_size.cached(), 0u);
}

// A cache file is another process's output: one with the right count but the wrong shapes or
// types was read out of bounds (presence flags shorter than the count) or threw from inside the
// loader (labels of another type). Each must be refused, with the reason, and leave the cache empty.
TEST(SampleCache, RefusesForeignFilesOfTheRightSizeSayingWhy) {
  trainyard::testing::TempDir dir;
  const auto images = torch::zeros({8, 1, 1, 1});
  const auto labels = torch::zeros({8}, torch::kInt64);
  const auto present = torch::ones({8}, torch::kUInt8);
  const std::vector<std::pair<std::vector<torch::Tensor>, std::string>> foreign{
      {{images, labels, torch::ones({2}, torch::kUInt8)}, "presence flags"},
      {{images, labels.to(torch::kFloat32), present}, "labels"},
      {{images, labels}, "2 tensors"},
      {{torch::zeros({8}), labels, present}, "images"},
      {{images, torch::full({8}, -1, torch::kInt64), present}, "negative label"},
  };
  for (std::size_t i = 0; i < foreign.size(); ++i) {
    const auto file = dir / ("foreign-" + std::to_string(i) + ".pt");
    torch::save(foreign[i].first, file.string());
    SampleCache cache(8);
    std::string refusal;
    EXPECT_FALSE(cache.load(file, &refusal)) << i;
    EXPECT_NE(refusal.find(foreign[i].second), std::string::npos) << i << ": " << refusal;
    EXPECT_EQ(cache.cached(), 0u) << i;
  }
}

TEST(SampleCache, SavingLeavesNoTemporaryFileAndReplacesTheOldOne) {
  trainyard::testing::TempDir dir;
  CountingDataset dataset;
  SampleCache cache(8);
  for (std::size_t i = 0; i < 8; ++i) cache.get(dataset, Split::kTrain, i);
  trainyard::testing::write_file(dir / "c.pt", "a corrupt cache, refused and then replaced");
  ASSERT_TRUE(cache.save(dir / "c.pt"));
  SampleCache loaded(8);
  EXPECT_TRUE(loaded.load(dir / "c.pt"));
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"c.pt"});
}

// Issue 18: samples kept as bytes. A cache file of float images (written before, or by a dataset
// of normalized floats) must not be read as the pixels of a dataset whose samples are uint8: it
// is refused, saying so, and the run decodes again and replaces it.
TEST(SampleCache, KeepsUint8SamplesAsBytesAndRefusesAFileOfAnotherImageType) {
  trainyard::testing::TempDir dir;
  const auto labels = torch::zeros({8}, torch::kInt64);
  const auto present = torch::ones({8}, torch::kUInt8);
  torch::save(std::vector<torch::Tensor>{torch::zeros({8, 1, 1, 1}), labels, present}, (dir / "float.pt").string());
  SampleCache pixels(8, torch::kUInt8);
  std::string refusal;
  EXPECT_FALSE(pixels.load(dir / "float.pt", &refusal));
  EXPECT_NE(refusal.find("its images are Float, this dataset's are Byte"), std::string::npos) << refusal;
  EXPECT_EQ(pixels.cached(), 0u);

  torch::save(std::vector<torch::Tensor>{torch::full({8, 1, 2, 2}, 7, torch::kUInt8), labels, present},
              (dir / "bytes.pt").string());
  ASSERT_TRUE(pixels.load(dir / "bytes.pt", &refusal)) << refusal;
  CountingDataset unused;
  const auto sample = pixels.get(unused, Split::kTrain, 5);
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->image.scalar_type(), torch::kUInt8);
  EXPECT_EQ(sample->image.sum().item<int>(), 28);
  EXPECT_EQ(unused.calls.load(), 0);
  SampleCache floats(8);
  EXPECT_FALSE(floats.load(dir / "bytes.pt", &refusal));
  EXPECT_NE(refusal.find("its images are Byte, this dataset's are Float"), std::string::npos) << refusal;
}

namespace {
// Records which threads decode, and fails on index 6 when asked to.
class ThreadRecordingDataset : public CountingDataset {
 public:
  explicit ThreadRecordingDataset(bool fail_on_six = false) : fail_(fail_on_six) {}
  std::optional<trainyard::Sample> get(Split split, std::size_t index) const override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.insert(std::this_thread::get_id());
    }
    if (fail_ && index == 6) throw trainyard::DataError("sample 6 is broken");
    return CountingDataset::get(split, index);
  }
  std::size_t threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_.size();
  }

 private:
  bool fail_;
  mutable std::mutex mutex_;
  mutable std::set<std::thread::id> threads_;
};
}  // namespace

// Issue 18: on a CPU a cached split is decoded before its first pass, on the intra-op threads,
// rather than by loader threads that preempt the training step's. Each sample once, skipped ones
// remembered; a decoding error comes out of fill(); a stop leaves the rest for later.
TEST(SampleCache, FillDecodesEverySampleOnceOnTheIntraOpThreads) {
  const int threads = torch::get_num_threads();
  torch::set_num_threads(2);
  ThreadRecordingDataset dataset;
  SampleCache cache(8);
  cache.get(dataset, Split::kTrain, 0);  // already there: not decoded again
  EXPECT_EQ(cache.fill(dataset, Split::kTrain, trainyard::epoch_order(8, false, 0, 0)), 7u);
  EXPECT_TRUE(cache.complete());
  EXPECT_EQ(dataset.calls.load(), 8);
  EXPECT_EQ(dataset.threads(), 2u);
  EXPECT_FALSE(cache.get(dataset, Split::kTrain, 3).has_value());  // skipped, and remembered
  EXPECT_EQ(cache.fill(dataset, Split::kTrain, trainyard::epoch_order(8, false, 0, 0)), 0u);
  EXPECT_EQ(dataset.calls.load(), 8);

  ThreadRecordingDataset failing(/*fail_on_six=*/true);
  SampleCache broken(8);
  EXPECT_THROW(broken.fill(failing, Split::kTrain, trainyard::epoch_order(8, false, 0, 0)), trainyard::DataError);
  EXPECT_FALSE(broken.complete());

  std::atomic<bool> stop{true};
  SampleCache stopped(8);
  EXPECT_EQ(stopped.fill(dataset, Split::kTrain, trainyard::epoch_order(8, false, 0, 0), &stop), 0u);
  EXPECT_EQ(stopped.cached(), 0u);
  torch::set_num_threads(threads);
}
