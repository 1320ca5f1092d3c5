// Reader for IDX files (the MNIST format), plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace trainyard::tools {

struct IdxArray {
  std::vector<std::int64_t> dims;    // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<std::uint8_t> data;    // unsigned bytes, row-major
};

/// Reads an unsigned-byte IDX file (magic 0x00000801/0x00000803...). Throws std::runtime_error
/// naming the file for anything else, or for a truncated file.
IdxArray read_idx(const std::filesystem::path& path);

}  // namespace trainyard::tools
