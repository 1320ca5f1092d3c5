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

#include "idx_file.h"

namespace fs = std::filesystem;

namespace {

// Fashion-MNIST's labels (Xiao, Rasul & Vollgraf, 2017), as folder-safe names.
const std::vector<std::string> kFashionClasses = {"tshirt_top", "trouser", "pullover", "dress",
                                                  "coat",       "sandal",  "shirt",    "sneaker",
                                                  "bag",        "ankle_boot"};

std::vector<int> parse_classes(const std::string& text) {
  std::vector<int> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) continue;
    auto named = std::find(kFashionClasses.begin(), kFashionClasses.end(), item);
    if (named != kFashionClasses.end()) {
      out.push_back(static_cast<int>(named - kFashionClasses.begin()));
      continue;
    }
    try {
      std::size_t used = 0;
      const int index = std::stoi(item, &used);
      if (used != item.size() || index < 0 || index > 9) throw std::invalid_argument(item);
      out.push_back(index);
    } catch (const std::exception&) {
      std::string message = "--classes: '" + item + "' is neither a label 0-9 nor a class name";
      if (auto near = trainyard::nearest_name(item, kFashionClasses)) message += " (did you mean '" + *near + "'?)";
      throw std::invalid_argument(message + "; names: " + trainyard::join_names(kFashionClasses));
    }
  }
  if (out.empty()) throw std::invalid_argument("--classes: no class given");
  return out;
}

trainyard::GrayImage resized(const std::uint8_t* pixels, int width, int height, int size) {
  trainyard::GrayImage image;
  image.width = size > 0 ? size : width;
  image.height = size > 0 ? size : height;
  if (size <= 0 || (size == width && size == height)) {
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
    return image;
  }
  auto t = torch::from_blob(const_cast<std::uint8_t*>(pixels), {1, 1, height, width}, torch::kUInt8)
               .to(torch::kFloat32);
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
  CLI::App app{"Writes an ImageFolder tree (one folder per class, PNG files) from IDX files such "
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
    const std::vector<int> classes = parse_classes(classes_text);
    const std::string prefix = split == "train" ? "train" : "t10k";
    auto find = [&](const std::string& stem) {
      for (const char* ext : {".gz", ""}) {
        const fs::path p = fs::path(source) / (stem + ext);
        if (fs::exists(p)) return p;
      }
      throw std::runtime_error("'" + (fs::path(source) / stem).string() +
                               "[.gz]' not found; install Debian's dataset-fashion-mnist or pass --source");
    };
    const auto images = trainyard::tools::read_idx(find(prefix + "-images-idx3-ubyte"));
    const auto labels = trainyard::tools::read_idx(find(prefix + "-labels-idx1-ubyte"));
    if (images.dims.size() != 3 || labels.dims.size() != 1 || images.dims[0] != labels.dims[0]) {
      throw std::runtime_error("image and label files do not match (shapes differ)");
    }
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
      std::cout << "class " << label << " (" << kFashionClasses[static_cast<std::size_t>(label)]
                << "): " << count << " images\n";
    }
    std::cout << "wrote ImageFolder tree to " << out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "idx_to_imagefolder: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
