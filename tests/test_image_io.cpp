// Decoding and encoding: formats recognised by signature, colour conversions, errors.
#include <gtest/gtest.h>

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "test_support.h"
#include "trainyard/image_io.h"

namespace fs = std::filesystem;
namespace t = trainyard::testing;
using trainyard::ImageDecodeError;
using trainyard::RgbImage;

TEST(ImageIo, PngRoundTripIsExact) {
  t::TempDir dir;
  RgbImage image = t::solid_image(5, 3, 10, 20, 30);
  image.pixels[0] = 255;
  trainyard::write_png(dir / "a.png", image);
  const RgbImage back = trainyard::read_image(dir / "a.png");
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.pixels, image.pixels);
}

TEST(ImageIo, GrayscalePngBecomesRgb) {
  t::TempDir dir;
  trainyard::GrayImage gray{2, 2, {0, 100, 200, 255}};
  trainyard::write_png(dir / "g.png", gray);
  const RgbImage rgb = trainyard::read_image(dir / "g.png");
  ASSERT_EQ(rgb.pixels.size(), 12u);
  EXPECT_EQ(rgb.pixels[3], 100);
  EXPECT_EQ(rgb.pixels[4], 100);
  EXPECT_EQ(rgb.pixels[5], 100);
}

TEST(ImageIo, RgbaPngDropsAlphaWithoutCompositing) {
  t::TempDir dir;
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = 1;
  png.height = 1;
  png.format = PNG_FORMAT_RGBA;
  const std::uint8_t pixel[4] = {200, 100, 50, 0};  // fully transparent
  ASSERT_TRUE(png_image_write_to_file(&png, (dir / "a.png").c_str(), 0, pixel, 0, nullptr));
  const RgbImage rgb = trainyard::read_image(dir / "a.png");
  EXPECT_EQ(rgb.pixels, (std::vector<std::uint8_t>{200, 100, 50}));
}

TEST(ImageIo, JpegDecodesCloseToTheOriginal) {
  t::TempDir dir;
  trainyard::write_jpeg(dir / "a.jpg", t::solid_image(16, 16, 200, 40, 40), 95);
  const RgbImage back = trainyard::read_image(dir / "a.jpg");
  ASSERT_EQ(back.width, 16);
  EXPECT_NEAR(back.pixels[0], 200, 6);
  EXPECT_NEAR(back.pixels[1], 40, 6);
}

TEST(ImageIo, FormatIsRecognisedBySignatureNotName) {
  t::TempDir dir;
  trainyard::write_png(dir / "really_png.jpg", t::solid_image(4, 4, 1, 2, 3));
  EXPECT_EQ(trainyard::read_image(dir / "really_png.jpg").width, 4);
}

TEST(ImageIo, LargeJpegIsDecodedAtAReducedScale) {
  t::TempDir dir;
  trainyard::write_jpeg(dir / "big.jpg", t::solid_image(800, 640, 90, 90, 90));
  const RgbImage full = trainyard::read_image(dir / "big.jpg");
  EXPECT_EQ(full.width, 800);
  const RgbImage scaled = trainyard::read_image(dir / "big.jpg", 150);
  // 1/4 gives 200x160, the smallest scale keeping both sides >= 150.
  EXPECT_EQ(scaled.width, 200);
  EXPECT_EQ(scaled.height, 160);
}

TEST(ImageIo, CorruptEmptyTruncatedAndForeignFilesFailWithThePath) {
  t::TempDir dir;
  trainyard::write_jpeg(dir / "ok.jpg", t::solid_image(64, 64, 1, 2, 3));
  const std::string jpeg = t::read_file(dir / "ok.jpg");
  t::write_file(dir / "truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  t::write_file(dir / "empty.png", "");
  t::write_file(dir / "text.png", "hello, I am not an image");
  t::write_file(dir / "header_only.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage");
  for (const char* name : {"truncated.jpg", "empty.png", "text.png", "header_only.png"}) {
    try {
      trainyard::read_image(dir / name);
      ADD_FAILURE() << name << " decoded";
    } catch (const ImageDecodeError& e) {
      EXPECT_NE(std::string(e.what()).find((dir / name).string()), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(trainyard::read_image(dir / "missing.png"), ImageDecodeError);
}

namespace {

std::uint32_t crc32(const std::string& bytes) {  // PNG's CRC (ISO 3309), for a rewritten IHDR
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

void put_be(std::string& bytes, std::size_t at, std::uint32_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[at + i] = static_cast<char>((value >> (8 * (width - 1 - i))) & 0xFF);
}

}  // namespace

// Issue 16: a small file whose header declares 65500 x 65500 made each loader thread allocate
// gigabytes (and the JPEG scale search multiplied the sides in int, which overflows).
TEST(ImageIo, HeadersDeclaringTooManyPixelsAreRefusedUnread) {
  t::TempDir dir;
  trainyard::write_jpeg(dir / "small.jpg", t::solid_image(16, 16, 9, 9, 9));
  std::string jpeg = t::read_file(dir / "small.jpg");
  const auto sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  put_be(jpeg, sof + 5, 65500, 2);  // height
  put_be(jpeg, sof + 7, 65500, 2);  // width
  t::write_file(dir / "bomb.jpg", jpeg);

  trainyard::write_png(dir / "small.png", t::solid_image(16, 16, 9, 9, 9));
  std::string png = t::read_file(dir / "small.png");
  put_be(png, 16, 65500, 4);  // IHDR width
  put_be(png, 20, 65500, 4);  // IHDR height
  put_be(png, 29, crc32(png.substr(12, 17)), 4);
  t::write_file(dir / "bomb.png", png);

  for (const char* name : {"bomb.jpg", "bomb.png"}) {
    try {
      trainyard::read_image(dir / name, 64);
      ADD_FAILURE() << name << " decoded";
    } catch (const ImageDecodeError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find((dir / name).string()), std::string::npos) << message;
      EXPECT_NE(message.find("declares 65500 x 65500 = 4290250000 pixels, more than the 178956970 accepted"),
                std::string::npos)
          << message;
    }
  }
  // The limit is the caller's: the same 16 x 16 image passes at 256 pixels and fails at 255.
  EXPECT_EQ(trainyard::read_image(dir / "small.png", 0, 256).width, 16);
  EXPECT_THROW(trainyard::read_image(dir / "small.png", 0, 255), ImageDecodeError);
  EXPECT_THROW(trainyard::read_image(dir / "small.jpg", 0, 255), ImageDecodeError);
}

TEST(ImageIo, ToFloatTensorScalesAndResizes) {
  const RgbImage image = t::solid_image(8, 4, 255, 0, 51);
  const auto same = trainyard::to_float_tensor(t::solid_image(6, 6, 255, 0, 51), 6);
  EXPECT_EQ(same.sizes(), (std::vector<std::int64_t>{3, 6, 6}));
  EXPECT_FLOAT_EQ(same[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(same[2][3][3].item<float>(), 0.2f);
  const auto resized = trainyard::to_float_tensor(image, 16);
  EXPECT_EQ(resized.sizes(), (std::vector<std::int64_t>{3, 16, 16}));
  EXPECT_NEAR(resized[0].mean().item<float>(), 1.0f, 1e-5);
}

// Issue 18: a resized sample is rounded to 8 bits, as PIL resizes an 8-bit image, so that it can be
// kept as bytes; the host's normalization is x / 255, then (x - mean) / std, in the model's layout.
TEST(ImageIo, ResizedPixelsAreRoundedBytesAndNormalizedInTheModelsLayout) {
  RgbImage stripes = t::solid_image(4, 4, 0, 0, 0);
  for (int row = 0; row < 4; ++row) {
    for (int column = 0; column < 4; ++column) {
      if (column % 2) stripes.pixels[static_cast<std::size_t>(row * 4 + column) * 3] = 255;
    }
  }
  const auto half = trainyard::to_pixel_tensor(stripes, 2, 2);
  ASSERT_EQ(half.scalar_type(), torch::kUInt8);
  EXPECT_EQ(half.sizes(), (std::vector<std::int64_t>{3, 2, 2}));
  // torchvision's antialiased bilinear resize of the 0..255 values, which lands between bytes here,
  // rounded to the nearest byte.
  namespace F = torch::nn::functional;
  const auto exact = F::interpolate(
      torch::zeros({1, 1, 4, 4}).index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(1, 4, 2)}, 255.0f),
      F::InterpolateFuncOptions()
          .size(std::vector<std::int64_t>{2, 2})
          .mode(torch::kBilinear)
          .align_corners(false)
          .antialias(true))[0][0];
  EXPECT_GT((exact - exact.round()).abs().max().item<float>(), 0.1f);  // not whole bytes
  EXPECT_TRUE(torch::equal(half[0], exact.round().to(torch::kUInt8)));
  EXPECT_EQ(half[1].max().item<int>(), 0);
  const auto floats = trainyard::to_float_tensor(stripes, 2);
  EXPECT_TRUE(torch::equal(floats, half.to(torch::kFloat32).div(255.0f)));
  // Already that size: equal, and a copy (samples outlive the decoder's buffer they came from).
  const auto same = trainyard::resize_pixels(half, 2, 2);
  EXPECT_TRUE(torch::equal(same, half));
  EXPECT_NE(same.data_ptr(), half.data_ptr());
  RgbImage one = t::solid_image(1, 1, 7, 8, 9);
  const auto single = trainyard::to_pixel_tensor(one, 1, 1);
  EXPECT_NE(single.data_ptr(), static_cast<void*>(one.pixels.data()));
  EXPECT_EQ(single[2][0][0].item<int>(), 9);

  const auto mean = torch::tensor({0.5f, 0.25f, 0.0f}).view({3, 1, 1});
  const auto std = torch::tensor({0.5f, 0.25f, 1.0f}).view({3, 1, 1});
  const auto batch = torch::full({2, 3, 2, 2}, 255, torch::kUInt8);
  const auto inputs = trainyard::normalize_pixels(batch, mean, std, at::MemoryFormat::ChannelsLast);
  EXPECT_EQ(inputs.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(inputs.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FLOAT_EQ(inputs[1][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(inputs[1][1][0][0].item<float>(), 3.0f);
  EXPECT_FLOAT_EQ(inputs[1][2][1][1].item<float>(), 1.0f);
  EXPECT_EQ(batch[0][0][0][0].item<int>(), 255);  // the bytes are left as they were
}

namespace {
// A 16-bit PNG as Pillow or OpenCV write one: no gAMA, sRGB or iCCP chunk. `samples` are
// `channels` values per pixel, row by row (2: gray and alpha; 3: RGB).
void write_png_16_bit(const fs::path& path, int width, int height, int color_type, int channels,
                      const std::vector<std::uint16_t>& samples) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    FAIL() << "libpng could not write " << path;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 16, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_set_swap(png);  // the samples are in this machine's (little-endian) order; PNG's is big-endian
  for (int y = 0; y < height; ++y) {
    png_write_row(png, reinterpret_cast<png_const_bytep>(&samples[static_cast<std::size_t>(y) * width * channels]));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}
}  // namespace

// libpng's simplified API took 16-bit samples for linear light and encoded them to sRGB: the
// mid-grey 0x8080 (128 in 8 bits) came out 188, every 16-bit image far too bright.
TEST(ImageIo, SixteenBitPngsKeepTheirValues) {
  t::TempDir dir;
  write_png_16_bit(dir / "rgb16.png", 2, 1, PNG_COLOR_TYPE_RGB, 3, {0x8080, 0x0000, 0xFFFF, 0x4040, 0xC0C0, 0x1010});
  const RgbImage rgb = trainyard::read_image(dir / "rgb16.png");
  EXPECT_EQ(rgb.pixels, (std::vector<std::uint8_t>{128, 0, 255, 64, 192, 16}));

  // With alpha: the colour as it is, whatever the alpha (libpng premultiplies linear colour).
  write_png_16_bit(dir / "ga16.png", 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 2, {0x8080, 0x8000, 0x4040, 0xFFFF});
  const RgbImage gray = trainyard::read_image(dir / "ga16.png");
  EXPECT_EQ(gray.pixels, (std::vector<std::uint8_t>{128, 128, 128, 64, 64, 64}));
}
