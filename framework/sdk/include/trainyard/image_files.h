// Finding images on disk as torchvision's ImageFolder does: the imagefolder dataset plugin, and
// the runner's --predict and --evaluate --data, walk folders through these, so that one folder
// means the same images to all of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace trainyard {

/// .jpg, .jpeg or .png, in any case: what the decoders of image_io.h read.
bool has_image_extension(const std::filesystem::path& path);

/// A name starting with '.': skipped (with everything below it) by the walks here.
bool is_hidden_entry(const std::filesystem::path& path);

/// Every image below `folder`, sorted, hidden files and folders skipped. Symbolic links are
/// followed, each real folder once: a link back up the tree is not a loop. Throws
/// std::invalid_argument naming the folder when it cannot be listed.
std::vector<std::filesystem::path> images_below(const std::filesystem::path& folder);

/// An ImageFolder: root/<class>/**/<image>, classes sorted by name (label i is the i-th in byte
/// order, as torchvision numbers them), files in class order and sorted within each class.
struct ImageFolderIndex {
  std::vector<std::string> class_names;
  std::vector<std::filesystem::path> files;
  std::vector<std::int64_t> labels;  // one per file
};

/// Indexes `root`. Throws std::invalid_argument, naming `root` as `what` calls it (for example
/// "dataset.root"), for a missing root, a root without class folders, or a class folder
/// without images.
ImageFolderIndex index_image_folder(const std::filesystem::path& root, const std::string& what);

}  // namespace trainyard
