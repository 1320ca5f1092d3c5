#include "trainyard/system/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace fs = std::filesystem;

namespace trainyard {

namespace {
void fsync_folder(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

DurableFile::DurableFile(fs::path path) : path_(std::move(path)) {
  std::error_code ec;
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path(), ec);
  std::string name = path_.string() + ".tmp.XXXXXX";
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) {
    throw std::runtime_error("cannot create '" + name + "' (to replace '" + path_.string() +
                             "'): " + std::strerror(errno));
  }
  temporary_ = name;
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ignored;
    fs::remove(temporary_, ignored);
  }
}

void DurableFile::write(const void* data, std::size_t size) noexcept {
  const char* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  while (error_ == 0 && done < size) {
    const ssize_t n = ::write(fd_, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  written_ += done;
}

void DurableFile::commit() {
  if (error_ == 0 && ::fsync(fd_) != 0) error_ = errno;
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 && error_ == 0) error_ = errno;
  std::error_code ec;
  if (error_ == 0) {
    fs::rename(temporary_, path_, ec);  // atomic on POSIX: readers see the old or the new file
    if (ec) error_ = ec.value();
  }
  if (error_ != 0) {
    throw std::runtime_error("cannot write '" + temporary_.string() + "' (" + std::to_string(written_) +
                             " bytes written): " + std::strerror(error_) + "; '" + path_.filename().string() +
                             "' keeps its previous content, if any");
  }
  committed_ = true;
  fsync_folder(path_.has_parent_path() ? path_.parent_path() : fs::path("."));
}

void write_file_durably(const fs::path& path, const std::string& bytes) {
  DurableFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

namespace {
std::string temporary_prefix(const fs::path& path) { return path.filename().string() + ".tmp."; }
}  // namespace

bool replace_with_hard_link(const fs::path& existing, const fs::path& path) {
  const fs::path link = path.string() + ".tmp.link";
  std::error_code ec;
  fs::remove(link, ec);  // a killed writer's; the link below is then made exclusively
  fs::create_hard_link(existing, link, ec);
  if (ec) return false;
  fs::rename(link, path, ec);
  if (ec) {
    fs::remove(link);
    throw std::runtime_error("cannot rename '" + link.string() + "' to '" + path.string() + "': " + ec.message());
  }
  fsync_folder(path.has_parent_path() ? path.parent_path() : fs::path("."));
  return true;
}

void remove_temporaries(const fs::path& path) {
  const std::string prefix = temporary_prefix(path);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path.has_parent_path() ? path.parent_path() : fs::path("."), ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

}  // namespace trainyard
