// AtomicFile: write to a temporary next to the target, fsync it, rename(2) it over the target
// (atomic on POSIX file systems), then fsync the directory so the rename itself is durable.
#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/check.h"

namespace unravel {

namespace {
std::atomic<int64_t> g_fail_after{-1};

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

namespace detail {
void inject_atomic_write_failure(int64_t nbytes) { g_fail_after.store(nbytes); }
}  // namespace detail

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  UNRAVEL_CHECK(!path_.empty(), "AtomicFile: empty path");
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  UNRAVEL_CHECK(fd_ >= 0, "cannot write '{}': opening temporary '{}' failed: {}", path_, tmp_,
                errno_text());
}

AtomicFile::~AtomicFile() {
  if (!committed_) abandon();
}

void AtomicFile::abandon() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  UNRAVEL_CHECK(fd_ >= 0 && !committed_, "AtomicFile::write: '{}' is not open", path_);
  const char* p = static_cast<const char*>(data);
  size_t left = n;
  while (left > 0) {
    size_t chunk = std::min<size_t>(left, size_t{1} << 30);
    int64_t limit = g_fail_after.load();
    if (limit >= 0 && written_ + chunk > static_cast<uint64_t>(limit)) {
      g_fail_after.store(-1);
      abandon();
      UNRAVEL_CHECK(false, "cannot write '{}': injected failure after {} bytes (test hook)", path_,
                    written_);
    }
    ssize_t w = ::write(fd_, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string why = w < 0 ? errno_text() : "short write";
      abandon();
      UNRAVEL_CHECK(false, "cannot write '{}' (after {} bytes): {}", path_, written_, why);
    }
    p += w;
    left -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  UNRAVEL_CHECK(fd_ >= 0 && !committed_, "AtomicFile::commit: '{}' is not open", path_);
  if (::fsync(fd_) != 0) {
    std::string why = errno_text();
    abandon();
    UNRAVEL_CHECK(false, "cannot write '{}': fsync failed: {}", path_, why);
  }
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    std::string why = errno_text();
    abandon();
    UNRAVEL_CHECK(false, "cannot write '{}': close failed: {}", path_, why);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::string why = errno_text();
    abandon();
    UNRAVEL_CHECK(false, "cannot write '{}': renaming '{}' over it failed: {}", path_, tmp_, why);
  }
  committed_ = true;
  // Make the rename durable. Failure here cannot undo the (already visible) new file.
  int dfd = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace unravel
