// The decoded-sample cache: each sample decoded once, skipped samples remembered, thread-safe.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <trainyard/sample_cache.h>

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
    return trainyard::Sample{torch::full({1, 1, 1}, static_cast<float>(index)),
                             static_cast<std::int64_t>(index % 2)};
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
  EXPECT_LE(dataset.calls.load(), 8 * 4);   // at most one decode per thread per sample
}
