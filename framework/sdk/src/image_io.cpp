#include "trainyard/image_io.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>

#include <png.h>
#include <turbojpeg.h>

namespace fs = std::filesystem;

namespace trainyard {

ImageDecodeError::~ImageDecodeError() = default;

bool looks_like_jpeg(const std::uint8_t* data, std::size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool looks_like_png(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return size >= 8 && std::memcmp(data, signature, 8) == 0;
}

namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

// One TurboJPEG handle per thread: handles are not thread-safe, and making one per image costs.
void* thread_decompressor() {
  thread_local TjHandle handle(tjInitDecompress());
  if (!handle) throw ImageDecodeError("cannot initialise libjpeg-turbo");
  return handle.get();
}

// Refuses a header's dimensions before any pixel is allocated.
void check_pixel_count(const char* format, std::int64_t width, std::int64_t height, std::int64_t max_pixels) {
  if (width * height <= max_pixels) return;
  throw ImageDecodeError(std::string(format) + " declares " + std::to_string(width) + " x " + std::to_string(height) +
                         " = " + std::to_string(width * height) + " pixels, more than the " +
                         std::to_string(max_pixels) + " accepted (a decompression bomb, or raise max_image_pixels)");
}

RgbImage decode_jpeg(const std::uint8_t* data, std::size_t size, int min_side, std::int64_t max_pixels) {
  void* tj = thread_decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) !=
      0) {
    throw ImageDecodeError(std::string("corrupt JPEG header: ") + tjGetErrorStr2(tj));
  }
  check_pixel_count("JPEG", width, height, max_pixels);
  // Scaled decoding: the IDCT produces a reduced image directly, much cheaper than decoding at
  // full size and shrinking, when the source is far larger than the training size.
  int scaled_w = width, scaled_h = height;
  if (min_side > 0) {
    int count = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&count);
    for (int i = 0; i < count; ++i) {
      const tjscalingfactor f = factors[i];
      if (f.num >= f.denom) continue;  // only reductions
      const int w = TJSCALED(width, f), h = TJSCALED(height, f);
      if (w >= min_side && h >= min_side && std::int64_t{w} * h < std::int64_t{scaled_w} * scaled_h) {
        scaled_w = w;
        scaled_h = h;
      }
    }
  }
  RgbImage image;
  image.width = scaled_w;
  image.height = scaled_h;
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(scaled_w) * scaled_h * (cmyk ? 4 : 3));
  const int status = tjDecompress2(tj, data, static_cast<unsigned long>(size), buffer.data(), scaled_w, 0, scaled_h,
                                   cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_FASTDCT | TJFLAG_LIMITSCANS);
  // A warning (a truncated file, say) leaves part of the image grey: refuse it as PIL does.
  if (status != 0) {
    throw ImageDecodeError(std::string("corrupt or truncated JPEG data: ") + tjGetErrorStr2(tj));
  }
  if (!cmyk) {
    image.pixels = std::move(buffer);
    return image;
  }
  // Adobe writes CMYK JPEGs inverted (255 = no ink), so RGB = C*K/255 on the stored values.
  image.pixels.resize(static_cast<std::size_t>(scaled_w) * scaled_h * 3);
  for (std::size_t p = 0, n = image.pixels.size() / 3; p < n; ++p) {
    const unsigned k = buffer[4 * p + 3];
    for (int c = 0; c < 3; ++c) image.pixels[3 * p + c] = static_cast<std::uint8_t>(buffer[4 * p + c] * k / 255);
  }
  return image;
}

// Whether a PNG holds 16-bit samples and no chunk saying how they are encoded (gAMA, sRGB, iCCP).
// libpng's simplified API takes such samples for linear light and encodes them to sRGB when it
// reads them as 8-bit, brightening them (a mid-grey 0x8080 came out 188, not 128); but files
// without the chunk (Pillow's, OpenCV's) hold sRGB-encoded values, as 8-bit files do.
bool sixteen_bit_without_gamma(const std::uint8_t* data, std::size_t size) {
  // After the signature, chunks follow: length (4, big-endian), type (4), data, CRC (4). IHDR is first.
  if (size < 8 + 8 + 13 || data[8 + 8 + 8] != 16) return false;  // IHDR's bit depth
  for (std::size_t at = 8; at + 8 <= size;) {
    const std::size_t length = (std::size_t{data[at]} << 24) | (std::size_t{data[at + 1]} << 16) |
                               (std::size_t{data[at + 2]} << 8) | data[at + 3];
    const std::string type(reinterpret_cast<const char*>(data + at + 4), 4);
    if (type == "gAMA" || type == "sRGB" || type == "iCCP") return false;
    if (type == "IDAT" || type == "IEND" || length > size) break;  // gamma chunks come before the data
    at += 12 + length;
  }
  return true;
}

// Decodes the pixels into `buffer` (PNG_IMAGE_SIZE(png) bytes), as png.format says.
void finish_png_read(png_image& png, void* buffer) {
  if (!png_image_finish_read(&png, nullptr, buffer, 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    throw ImageDecodeError("corrupt PNG data: " + message);
  }
}

// 16-bit samples as they are (PNG_FORMAT_FLAG_LINEAR: no gamma conversion), each rounded to its
// 8-bit value; libpng premultiplies linear colour by alpha, which is undone here.
RgbImage decode_png_16_bit(png_image& png, bool has_alpha) {
  png.format = has_alpha ? PNG_FORMAT_LINEAR_RGB_ALPHA : PNG_FORMAT_LINEAR_RGB;
  const int channels = has_alpha ? 4 : 3;
  std::vector<std::uint16_t> buffer(PNG_IMAGE_SIZE(png) / sizeof(std::uint16_t));
  finish_png_read(png, buffer.data());
  RgbImage image;
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  image.pixels.resize(pixels * 3);
  for (std::size_t p = 0; p < pixels; ++p) {
    const std::uint32_t alpha = has_alpha ? buffer[channels * p + 3] : 65535u;
    for (int c = 0; c < 3; ++c) {
      std::uint32_t value = buffer[channels * p + c];
      if (has_alpha) value = alpha == 0 ? 0 : std::min<std::uint32_t>(65535, (value * 65535 + alpha / 2) / alpha);
      image.pixels[3 * p + c] = static_cast<std::uint8_t>((value * 255 + 32767) / 65535);
    }
  }
  return image;
}

RgbImage decode_png(const std::uint8_t* data, std::size_t size, std::int64_t max_pixels) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size)) {
    throw ImageDecodeError(std::string("corrupt PNG: ") + png.message);
  }
  if (std::int64_t{png.width} * png.height > max_pixels) {
    png_image_free(&png);
    check_pixel_count("PNG", png.width, png.height, max_pixels);
  }
  // Read with alpha when there is any and drop it afterwards: without an alpha channel in the
  // output format libpng would composite onto a background, changing the colours.
  const bool has_alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  if (sixteen_bit_without_gamma(data, size)) return decode_png_16_bit(png, has_alpha);
  png.format = has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  std::vector<std::uint8_t> buffer(PNG_IMAGE_SIZE(png));
  finish_png_read(png, buffer.data());
  RgbImage image;
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  if (!has_alpha) {
    image.pixels = std::move(buffer);
    return image;
  }
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  for (std::size_t p = 0, n = image.pixels.size() / 3; p < n; ++p) {
    std::memcpy(&image.pixels[3 * p], &buffer[4 * p], 3);
  }
  return image;
}

}  // namespace

RgbImage decode_image(const std::uint8_t* data, std::size_t size, int min_side, std::int64_t max_pixels) {
  if (size == 0) throw ImageDecodeError("empty file");
  if (looks_like_jpeg(data, size)) return decode_jpeg(data, size, min_side, max_pixels);
  if (looks_like_png(data, size)) return decode_png(data, size, max_pixels);
  throw ImageDecodeError("not a JPEG or PNG file (unrecognised signature)");
}

RgbImage read_image(const fs::path& path, int min_side, std::int64_t max_pixels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageDecodeError("'" + path.string() + "': cannot open the file");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return decode_image(bytes.data(), bytes.size(), min_side, max_pixels);
  } catch (const ImageDecodeError& e) {
    throw ImageDecodeError("'" + path.string() + "': " + e.what());
  }
}

torch::Tensor resize_pixels(const torch::Tensor& pixels, std::int64_t height, std::int64_t width) {
  if (pixels.size(-2) == height && pixels.size(-1) == width) {
    // Always a tensor of its own: `pixels` is often a view of a decoder's buffer (from_blob) that
    // is gone once the sample is returned.
    return pixels.is_contiguous() ? pixels.clone() : pixels.contiguous();
  }
  namespace F = torch::nn::functional;
  // LibTorch 1.13's antialiased bilinear kernel takes floats only: resize the 0..255 values as
  // floats, then round (half to even) and clamp back to bytes.
  return F::interpolate(pixels.to(torch::kFloat32).unsqueeze(0), F::InterpolateFuncOptions()
                                                                     .size(std::vector<std::int64_t>{height, width})
                                                                     .mode(torch::kBilinear)
                                                                     .align_corners(false)
                                                                     .antialias(true))
      .squeeze(0)
      .round_()
      .clamp_(0, 255)
      .to(torch::kUInt8)
      .contiguous();
}

torch::Tensor to_pixel_tensor(const RgbImage& image, std::int64_t height, std::int64_t width) {
  auto hwc =
      torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8);
  return resize_pixels(hwc.permute({2, 0, 1}), height, width);
}

torch::Tensor to_float_tensor(const RgbImage& image, std::int64_t size) {
  return to_pixel_tensor(image, size, size).to(torch::kFloat32).div_(255.0f);
}

torch::Tensor normalize_pixels(const torch::Tensor& pixels, const torch::Tensor& mean, const torch::Tensor& std,
                               at::MemoryFormat memory_format) {
  // One conversion into the layout the model wants, then two passes in place.
  auto x = pixels.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true, memory_format);
  return x.div_(255.0f).sub_(mean).div_(std);
}

torch::Tensor channel_statistics(const std::vector<float>& values, const torch::Device& device) {
  const auto channels = static_cast<std::int64_t>(values.size());
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat32)).view({channels, 1, 1}).to(device);
}

namespace {
void write_png_pixels(const fs::path& path, int width, int height, png_uint_32 format, const std::uint8_t* pixels) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(width);
  png.height = static_cast<png_uint_32>(height);
  png.format = format;
  if (!png_image_write_to_file(&png, path.c_str(), 0, pixels, 0, nullptr)) {
    throw std::runtime_error("cannot write PNG '" + path.string() + "': " + png.message);
  }
}
}  // namespace

void write_png(const fs::path& path, const RgbImage& image) {
  write_png_pixels(path, image.width, image.height, PNG_FORMAT_RGB, image.pixels.data());
}

void write_png(const fs::path& path, const GrayImage& image) {
  write_png_pixels(path, image.width, image.height, PNG_FORMAT_GRAY, image.pixels.data());
}

void write_jpeg(const fs::path& path, const RgbImage& image, int quality) {
  TjHandle tj(tjInitCompress());
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;
  if (tjCompress2(tj.get(), image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_420,
                  quality, 0) != 0) {
    throw std::runtime_error("cannot encode JPEG '" + path.string() + "': " + tjGetErrorStr2(tj.get()));
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(jpeg), static_cast<std::streamsize>(jpeg_size));
  tjFree(jpeg);
  if (!out) throw std::runtime_error("cannot write JPEG '" + path.string() + "'");
}

}  // namespace trainyard
