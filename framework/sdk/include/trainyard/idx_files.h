// IDX files (the MNIST format: Fashion-MNIST in Debian's dataset-fashion-mnist), plain or
// gzip-compressed: read by the `idx` dataset plugin and the idx_to_imagefolder tool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace trainyard {

struct IdxArray {
  std::vector<std::int64_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<std::uint8_t> data;  // unsigned bytes, row-major
};

/// Reads an unsigned-byte IDX file (magic 0x0000080N). Throws InputError naming the file for
/// anything else, or for a truncated file.
IdxArray read_idx(const std::filesystem::path& path);

/// The images and labels of one split: `<root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
/// Throws InputError naming the missing file, or when the two files do not match.
struct IdxSplit {
  IdxArray images;  // {n, height, width}
  IdxArray labels;  // {n}
};
IdxSplit read_idx_split(const std::filesystem::path& root, bool train);

/// Fashion-MNIST's class names (Xiao, Rasul & Vollgraf, 2017), folder-safe: tshirt_top, ...
const std::vector<std::string>& fashion_mnist_class_names();

/// "0,1,2" or "coat,bag" (labels 0-9 or Fashion-MNIST names) as labels. Throws InputError
/// starting with `what` for anything else, with the nearest name.
std::vector<int> parse_idx_classes(const std::string& text, const std::string& what);

}  // namespace trainyard
