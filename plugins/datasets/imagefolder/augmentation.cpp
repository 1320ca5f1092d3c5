#include "augmentation.h"

#include <algorithm>
#include <cmath>

namespace trainyard::datasets {

CropBox random_resized_crop_box(int width, int height, double scale_min, std::mt19937_64& random) {
  const double area = static_cast<double>(width) * height;
  std::uniform_real_distribution<double> scale(scale_min, 1.0);
  std::uniform_real_distribution<double> log_ratio(std::log(3.0 / 4.0), std::log(4.0 / 3.0));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * scale(random);
    const double ratio = std::exp(log_ratio(random));
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      std::uniform_int_distribution<int> x(0, width - w), y(0, height - h);
      const int left = x(random);
      return {left, y(random), w, h};
    }
  }
  // Fallback: the whole image, cut to the nearest allowed ratio, centred.
  const double ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (ratio < 3.0 / 4.0) h = static_cast<int>(std::lround(w / (3.0 / 4.0)));
  if (ratio > 4.0 / 3.0) w = static_cast<int>(std::lround(h * (4.0 / 3.0)));
  return {(width - w) / 2, (height - h) / 2, w, h};
}

RgbImage crop(const RgbImage& image, const CropBox& box) {
  RgbImage out;
  out.width = box.width;
  out.height = box.height;
  out.pixels.resize(static_cast<std::size_t>(box.width) * box.height * 3);
  for (int row = 0; row < box.height; ++row) {
    const auto* source = image.pixels.data() + (static_cast<std::size_t>(box.y + row) * image.width + box.x) * 3;
    std::copy(source, source + static_cast<std::size_t>(box.width) * 3,
              out.pixels.data() + static_cast<std::size_t>(row) * box.width * 3);
  }
  return out;
}

void flip_horizontally(RgbImage& image) {
  for (int row = 0; row < image.height; ++row) {
    auto* line = image.pixels.data() + static_cast<std::size_t>(row) * image.width * 3;
    for (int left = 0, right = image.width - 1; left < right; ++left, --right) {
      std::swap_ranges(line + left * 3, line + left * 3 + 3, line + right * 3);
    }
  }
}

std::mt19937_64 augmentation_generator(std::uint64_t seed, std::uint64_t index, std::uint64_t epoch) {
  std::seed_seq sequence{static_cast<std::uint32_t>(seed),  static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                         static_cast<std::uint32_t>(epoch), static_cast<std::uint32_t>(epoch >> 32)};
  return std::mt19937_64(sequence);
}

}  // namespace trainyard::datasets
