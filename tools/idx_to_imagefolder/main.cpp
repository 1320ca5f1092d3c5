// idx_to_imagefolder: turns an IDX dataset (Fashion-MNIST from Debian's dataset-fashion-mnist by
// default) into an ImageFolder tree: <out>/<index>_<class>/<n>.png, a chosen number per class.
//
//   idx_to_imagefolder --out data/fashion-mnist-3 --classes 0,1,2 --per-class 500
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>
#include <trainyard/image_io.h>
#include <trainyard/suggest.h>

#include "trainyard/idx_files.h"

namespace fs = std::filesystem;

namespace {

trainyard::GrayImage resized(const std::uint8_t* pixels, int width, int height, int size) {
  trainyard::GrayImage image;
  image.width = size > 0 ? size : width;
  image.height = size > 0 ? size : height;
  if (size <= 0 || (size == width && size == height)) {
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
    return image;
  }
  auto t =
      torch::from_blob(const_cast<std::uint8_t*>(pixels), {1, 1, height, width}, torch::kUInt8).to(torch::kFloat32);
  namespace F = torch::nn::functional;
  t = F::interpolate(t, F::InterpolateFuncOptions()
                            .size(std::vector<std::int64_t>{size, size})
                            .mode(torch::kBilinear)
                            .align_corners(false)
                            .antialias(true))
          .round()
          .clamp(0, 255)
          .to(torch::kUInt8)
          .contiguous();
  image.pixels.assign(t.data_ptr<std::uint8_t>(), t.data_ptr<std::uint8_t>() + t.numel());
  return image;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Writes an ImageFolder tree (one folder per class, PNG files) from IDX files such "
      "as Debian's Fashion-MNIST."};
  std::string source = "/usr/share/datasets/fashion-mnist";
  std::string split = "train";
  std::string out;
  std::string classes_text = "0,1,2";
  int per_class = 500;
  int size = 0;
  bool force = false;
  app.add_option("--source", source, "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
      ->capture_default_str();
  app.add_option("--split", split, "train (60,000 images) or test (10,000)")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  app.add_option("--out", out, "output folder (created)")->required();
  app.add_option("--classes", classes_text, "labels 0-9 or class names, comma-separated")->capture_default_str();
  app.add_option("--per-class", per_class, "images per class")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--size", size, "resize to SIZE x SIZE (0 keeps 28 x 28)")->check(CLI::NonNegativeNumber);
  app.add_flag("--force", force, "write into an output folder that already has files");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<int> classes = trainyard::parse_idx_classes(classes_text, "--classes");
    const auto files = trainyard::read_idx_split(source, split == "train");
    const auto& images = files.images;
    const auto& labels = files.labels;
    const auto& kFashionClasses = trainyard::fashion_mnist_class_names();
    if (fs::exists(out) && !fs::is_empty(out) && !force) {
      throw std::runtime_error("'" + out + "' already has files; pass --force to write into it");
    }
    const int height = static_cast<int>(images.dims[1]), width = static_cast<int>(images.dims[2]);
    std::map<int, int> written;
    for (int c : classes) {
      char folder[64];
      std::snprintf(folder, sizeof folder, "%d_%s", c, kFashionClasses[static_cast<std::size_t>(c)].c_str());
      fs::create_directories(fs::path(out) / folder);
      written[c] = 0;
    }
    const std::size_t pixels = static_cast<std::size_t>(width) * height;
    for (std::int64_t i = 0; i < images.dims[0]; ++i) {
      const int label = labels.data[static_cast<std::size_t>(i)];
      auto it = written.find(label);
      if (it == written.end() || it->second >= per_class) continue;
      char name[96];
      std::snprintf(name, sizeof name, "%d_%s/%05d.png", label,
                    kFashionClasses[static_cast<std::size_t>(label)].c_str(), it->second);
      trainyard::write_png(fs::path(out) / name,
                           resized(&images.data[static_cast<std::size_t>(i) * pixels], width, height, size));
      ++it->second;
    }
    for (const auto& [label, count] : written) {
      if (count < per_class) {
        std::cerr << "note: only " << count << " images of class " << label << " in the " << split << " split\n";
      }
      std::cout << "class " << label << " (" << kFashionClasses[static_cast<std::size_t>(label)] << "): " << count
                << " images\n";
    }
    std::cout << "wrote ImageFolder tree to " << out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "idx_to_imagefolder: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
