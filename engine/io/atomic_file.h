// Crash-safe file replacement: bytes go to "<path>.tmp.<pid>", which is fsynced, renamed over the
// target and followed by an fsync of the directory. A crash, a Ctrl-C or an error at any point
// leaves either the previous file or the complete new one, never a torn mix.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace unravel {

/// Writes a file atomically. Call write() any number of times, then commit(); destroying an
/// uncommitted AtomicFile removes the temporary and leaves the target untouched.
class AtomicFile {
 public:
  /// Opens "<path>.tmp.<pid>" for writing; throws naming the path on failure.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends n bytes; throws (naming the file) on a short or failed write.
  void write(const void* data, size_t n);
  /// fsync, rename over the target, fsync the directory.
  void commit();
  /// The final path and the temporary path.
  const std::string& path() const { return path_; }
  const std::string& tmp_path() const { return tmp_; }

 private:
  void abandon() noexcept;
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

namespace detail {
/// Test hook: the next AtomicFile write that would take the total past `nbytes` fails as if the
/// disk were full (negative = off, the default). The hook disarms itself after firing.
void inject_atomic_write_failure(int64_t nbytes);
}  // namespace detail

}  // namespace unravel
