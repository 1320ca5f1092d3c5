#include "trainyard/image_files.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

namespace fs = std::filesystem;

namespace trainyard {

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

bool is_hidden_entry(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

std::vector<fs::path> images_below(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  std::set<fs::path> visited{fs::canonical(folder, ec)};
  auto it = fs::recursive_directory_iterator(
      folder, fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied, ec);
  if (ec) throw std::invalid_argument("cannot list '" + folder.string() + "': " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw std::invalid_argument("cannot list '" + folder.string() + "': " + ec.message());
    if (is_hidden_entry(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec) && !visited.insert(fs::canonical(it->path(), ec)).second) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && has_image_extension(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

ImageFolderIndex index_image_folder(const fs::path& root, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    throw std::invalid_argument(what + " '" + root.string() +
                                "' does not exist (expected root/<class>/<image> folders)");
  }
  if (!fs::is_directory(root, ec)) throw std::invalid_argument(what + " '" + root.string() + "' is not a folder");
  std::vector<fs::path> class_folders;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory(ec) && !is_hidden_entry(entry.path())) class_folders.push_back(entry.path());
  }
  if (ec) throw std::invalid_argument("cannot list " + what + " '" + root.string() + "': " + ec.message());
  std::sort(class_folders.begin(), class_folders.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  if (class_folders.empty()) {
    throw std::invalid_argument(what + " '" + root.string() + "' has no class folders (expected root/<class>/<image>)");
  }
  ImageFolderIndex index;
  for (const auto& folder : class_folders) {
    const auto files = images_below(folder);
    if (files.empty()) {
      throw std::invalid_argument("class folder '" + folder.string() +
                                  "' has no images (.jpg, .jpeg or .png); remove the folder or add images");
    }
    const auto label = static_cast<std::int64_t>(index.class_names.size());
    index.class_names.push_back(folder.filename().string());
    for (const auto& file : files) {
      index.files.push_back(file);
      index.labels.push_back(label);
    }
  }
  return index;
}

}  // namespace trainyard
