// An ImageFolder full of odd files behaves as the README documents: every readable format becomes
// RGB, what is not an image by name is ignored, hidden files and folders are ignored, symbolic
// links are followed (a loop is not), and what cannot be decoded fails the run with its path or,
// with on_bad_image: skip, is left out.
#include <gtest/gtest.h>

#include <png.h>
#include <turbojpeg.h>

#include <cstring>

#include "test_support.h"
#include "trainyard/image_io.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/errors.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;
using trainyard::Split;

namespace {

void write_png_format(const fs::path& path, int size, png_uint_32 format, const void* pixels,
                      const void* colormap = nullptr, int colormap_entries = 0) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(size);
  png.height = static_cast<png_uint_32>(size);
  png.format = format;
  png.colormap_entries = static_cast<png_uint_32>(colormap_entries);
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, pixels, 0, colormap)) << png.message;
}

void write_cmyk_jpeg(const fs::path& path, int size) {
  std::vector<unsigned char> cmyk(static_cast<std::size_t>(size * size * 4), 0);
  for (std::size_t p = 0; p < cmyk.size(); p += 4) cmyk[p] = 200;  // cyan ink
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long bytes = 0;
  ASSERT_EQ(tjCompress2(handle, cmyk.data(), size, 0, size, TJPF_CMYK, &jpeg, &bytes, TJSAMP_444, 90, 0), 0);
  t::write_file(path, std::string(reinterpret_cast<char*>(jpeg), bytes));
  tjFree(jpeg);
  tjDestroy(handle);
}

// One class folder with every odd case; `good` counts the images that should be found.
void make_odd_folder(const fs::path& root) {
  const fs::path odd = root / "odd";
  fs::create_directories(odd / "nested/deeper");
  fs::create_directories(odd / ".hidden_folder");
  const int size = 12;
  std::vector<std::uint8_t> gray(size * size, 90), rgba(size * size * 4, 120), indices(size * size, 1);
  std::vector<std::uint16_t> deep(size * size, 40000);
  const std::uint8_t palette[] = {0, 0, 0, 10, 200, 30};
  write_png_format(odd / "gray.png", size, PNG_FORMAT_GRAY, gray.data());
  write_png_format(odd / "rgba.PNG", size, PNG_FORMAT_RGBA, rgba.data());
  write_png_format(odd / "palette.png", size, PNG_FORMAT_RGB_COLORMAP, indices.data(), palette, 2);
  write_png_format(odd / "sixteen bit.png", size, PNG_FORMAT_LINEAR_Y, deep.data());  // 16-bit, space in name
  write_cmyk_jpeg(odd / "cmyk.jpeg", size);
  trainyard::write_png(odd / "nested/deeper/ünïcode.png", t::solid_image(size, size, 1, 2, 3));
  fs::create_symlink(odd / "gray.png", odd / "link to gray.png");
  fs::create_symlink(odd / "no such file.png", odd / "dangling.png");
  fs::create_directory_symlink(odd, odd / "nested/loop");  // a cycle
  trainyard::write_png(odd / ".hidden.png", t::solid_image(size, size, 1, 2, 3));
  trainyard::write_png(odd / ".hidden_folder/inside.png", t::solid_image(size, size, 1, 2, 3));
  t::write_file(odd / "notes.txt", "not an image, by its name\n");
  t::write_file(odd / "Thumbs.db", "");
  fs::create_directories(root / "plain");
  trainyard::write_png(root / "plain/a.png", t::solid_image(size, size, 200, 10, 10));
}

std::shared_ptr<trainyard::Dataset> open(const fs::path& root, const std::string& on_bad) {
  return t::build_registry().make_dataset("imagefolder",
                                          trainyard::Params({{"root", root.string()},
                                                             {"image_size", std::int64_t{8}},
                                                             {"train_fraction", 0.5},
                                                             {"on_bad_image", on_bad}}),
                                          trainyard::DatasetContext{1});
}

}  // namespace

TEST(OddFiles, EveryReadableFormatIsFoundAndDecodedToRgb) {
  t::TempDir dir;
  make_odd_folder(dir / "data");
  const auto data = open(dir / "data", "fail");
  EXPECT_EQ(data->class_names(), (std::vector<std::string>{"odd", "plain"}));
  // gray, rgba, palette, 16-bit, cmyk, the nested unicode one, the link to gray; plus plain/a.png.
  ASSERT_EQ(data->size(Split::kTrain) + data->size(Split::kTest), 8u);
  for (const Split split : {Split::kTrain, Split::kTest}) {
    for (std::size_t i = 0; i < data->size(split); ++i) {
      const auto sample = data->get(split, i);
      ASSERT_TRUE(sample);
      EXPECT_EQ(sample->image.sizes(), (std::vector<std::int64_t>{3, 8, 8}));
      EXPECT_TRUE(torch::isfinite(sample->image).all().item<bool>());
    }
  }
}

TEST(OddFiles, UndecodableFilesFailWithTheirPathOrAreSkipped) {
  t::TempDir dir;
  make_odd_folder(dir / "data");
  t::write_file(dir / "data/odd/zero bytes.jpg", "");
  t::write_file(dir / "data/odd/text pretending.png", "hello");
  const auto failing = open(dir / "data", "fail");
  int failures = 0;
  for (const Split split : {Split::kTrain, Split::kTest}) {
    for (std::size_t i = 0; i < failing->size(split); ++i) {
      try {
        failing->get(split, i);
      } catch (const trainyard::DataError& e) {
        ++failures;
        const std::string message = e.what();
        EXPECT_TRUE(message.find("zero bytes.jpg") != std::string::npos ||
                    message.find("text pretending.png") != std::string::npos)
            << message;
      }
    }
  }
  EXPECT_EQ(failures, 2);
  const auto skipping = open(dir / "data", "skip");
  int skipped = 0;
  for (const Split split : {Split::kTrain, Split::kTest}) {
    for (std::size_t i = 0; i < skipping->size(split); ++i) skipped += skipping->get(split, i) ? 0 : 1;
  }
  EXPECT_EQ(skipped, 2);
}
