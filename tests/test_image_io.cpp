// Decoding and encoding: formats recognised by signature, colour conversions, errors.
#include <gtest/gtest.h>

#include <png.h>

#include <cstring>

#include "test_support.h"

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
