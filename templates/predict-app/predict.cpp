// predict_app PACKAGE IMAGE_OR_FOLDER...: classifies images with a model package written by
// `runner --export RUN --out PACKAGE`, printing one CSV line per image. When the images sit in
// folders named after their classes (an ImageFolder), it also prints the accuracy.
#include <trainyard/predictor.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

bool is_image(const fs::path& path) {
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<std::string> images_in(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    if (fs::is_directory(input)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::recursive_directory_iterator(input)) {
        if (entry.is_regular_file() && is_image(entry.path())) found.push_back(entry.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " PACKAGE IMAGE_OR_FOLDER...\n";
    return 2;
  }
  try {
    const trainyard::Predictor predictor = trainyard::Predictor::open(argv[1]);
    const std::vector<std::string> files = images_in({argv + 2, argv + argc});
    const std::vector<trainyard::Prediction> predictions = predictor.predict_files(files);  // batched

    const auto& classes = predictor.class_names();
    std::size_t labelled = 0, right = 0;
    std::cout << "file,class,probability\n";
    for (std::size_t i = 0; i < files.size(); ++i) {
      const trainyard::Prediction& p = predictions[i];
      std::printf("%s,%s,%.6f\n", files[i].c_str(), p.class_name.c_str(),
                  static_cast<double>(p.probabilities[static_cast<std::size_t>(p.label)]));
      const std::string folder = fs::path(files[i]).parent_path().filename().string();
      if (std::find(classes.begin(), classes.end(), folder) != classes.end()) {
        ++labelled;
        right += folder == p.class_name;
      }
    }
    if (labelled > 0) {
      std::printf("accuracy %.2f%% (%zu of %zu images in folders named after a class)\n",
                  100.0 * static_cast<double>(right) / static_cast<double>(labelled), right, labelled);
    }
    return 0;
  } catch (const trainyard::Error& e) {  // a bad package, a missing plugin, an unreadable image
    std::cerr << "predict_app: " << e.what() << "\n";
    return 2;
  }
}
