// Image decoding and encoding shared by dataset plugins, tools and tests: JPEG through
// libjpeg-turbo's TurboJPEG API (with scaled decoding), PNG through libpng's simplified API.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace trainyard {

/// 8-bit RGB pixels, row-major, height x width x 3.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

/// 8-bit single-channel pixels, row-major.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

class ImageDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~ImageDecodeError() override;
};

/// The most pixels an image may declare before it is refused, unread: a tiny file whose header
/// declares 65500 x 65500 would otherwise make each loader thread allocate gigabytes. Pillow's
/// DecompressionBombError threshold (2 x MAX_IMAGE_PIXELS): about 13,400 x 13,400.
inline constexpr std::int64_t kDefaultMaxImagePixels = 178956970;

/// True if the bytes start like a JPEG or a PNG file.
bool looks_like_jpeg(const std::uint8_t* data, std::size_t size);
bool looks_like_png(const std::uint8_t* data, std::size_t size);

/// Decodes JPEG or PNG bytes (recognised by their signature, not the file name) to RGB.
/// Grayscale, palette and alpha images become RGB (alpha is dropped, as PIL's convert("RGB")
/// does). When `min_side` > 0 and the image is a JPEG much larger than that, it is decoded at a
/// reduced scale (1/2, 1/4, 1/8) that still keeps both sides >= min_side. An image whose header
/// declares more than `max_pixels` pixels is refused before anything is allocated for it, and a
/// progressive JPEG of more than 500 scans is refused. Throws ImageDecodeError.
RgbImage decode_image(const std::uint8_t* data, std::size_t size, int min_side = 0,
                      std::int64_t max_pixels = kDefaultMaxImagePixels);

/// Reads and decodes a file; errors name the path.
RgbImage read_image(const std::filesystem::path& path, int min_side = 0,
                    std::int64_t max_pixels = kDefaultMaxImagePixels);

/// uint8 pixels [C, H, W] resized to height x width: bilinear with antialiasing (torchvision's
/// Resize), rounded back to 8 bits as PIL's resize of an 8-bit image is, so that a decoded
/// sample can be kept as bytes. Pixels already of that size are copied as they are: the result
/// never shares the memory of `pixels`.
torch::Tensor resize_pixels(const torch::Tensor& pixels, std::int64_t height, std::int64_t width);

/// [3, height, width] uint8 tensor of an image, resized by resize_pixels when it has another size.
torch::Tensor to_pixel_tensor(const RgbImage& image, std::int64_t height, std::int64_t width);

/// [3, H, W] float tensor in [0, 1]: to_pixel_tensor(image, size, size) / 255.
torch::Tensor to_float_tensor(const RgbImage& image, std::int64_t size);

/// Model inputs from uint8 pixels [C, H, W] or [N, C, H, W]: x / 255, then (x - mean) / std,
/// with `mean` and `std` shaped [C, 1, 1] on the pixels' device; float32 in `memory_format`.
/// The one normalization of 8-bit samples: the host's batches and the predictor's files both
/// go through it, so a package predicts from files on exactly the inputs the run evaluated.
torch::Tensor normalize_pixels(const torch::Tensor& pixels, const torch::Tensor& mean, const torch::Tensor& std,
                               at::MemoryFormat memory_format = at::MemoryFormat::Contiguous);
/// One value per channel (a mean or a std) as normalize_pixels takes it: float32 [C, 1, 1] on `device`.
torch::Tensor channel_statistics(const std::vector<float>& values, const torch::Device& device = torch::kCPU);

void write_png(const std::filesystem::path& path, const RgbImage& image);
void write_png(const std::filesystem::path& path, const GrayImage& image);
void write_jpeg(const std::filesystem::path& path, const RgbImage& image, int quality = 90);

}  // namespace trainyard
