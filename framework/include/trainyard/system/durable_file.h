// A file replaced whole or not at all: written to a new temporary file beside it, flushed to the
// disk, then renamed over it. A crash, a full disk or a second writer never leaves a partial file
// under the final name, and the previous content stays until the new one is complete.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace trainyard {

class DurableFile {
 public:
  /// Creates the temporary file beside `path` ("<path>.tmp.Xk3q9Z"), exclusively (mkstemp:
  /// O_EXCL, never through a planted symbolic link; mode 0600) and the folder if needed. Two
  /// writers of one path each get their own temporary file. Throws std::runtime_error naming it.
  explicit DurableFile(std::filesystem::path path);
  /// Removes the temporary file unless commit() succeeded.
  ~DurableFile();
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  /// Appends `size` bytes. Never throws (LibTorch's archive writer, which calls it, ends the
  /// process when its callback throws or writes short); the first error is kept for commit().
  void write(const void* data, std::size_t size) noexcept;
  /// Flushes the file, renames it over the final path and flushes the folder. Throws
  /// std::runtime_error naming the temporary file, the bytes written and the first error
  /// ("File too large", "No space left on device"); the final path then keeps its previous content.
  void commit();

  const std::filesystem::path& temporary_path() const { return temporary_; }

 private:
  std::filesystem::path path_, temporary_;
  int fd_ = -1;
  std::size_t written_ = 0;
  int error_ = 0;  // errno of the first failure
  bool committed_ = false;
};

/// Writes `bytes` to `path` through a DurableFile.
void write_file_durably(const std::filesystem::path& path, const std::string& bytes);

/// Makes `path` a hard link to `existing`, replaced whole as a DurableFile is: the link is made
/// under a temporary name ("<path>.tmp.link") and renamed over `path`, then the folder flushed.
/// Returns false, changing nothing, when the link cannot be made (a file system without hard
/// links); throws std::runtime_error naming both when the rename fails.
bool replace_with_hard_link(const std::filesystem::path& existing, const std::filesystem::path& path);

/// Removes the temporary files ("<path>.tmp.*") that writers of `path` killed mid-write left.
void remove_temporaries(const std::filesystem::path& path);

}  // namespace trainyard
