// Small helpers shared by the tensor file readers and writers: a dense host copy of any tensor,
// and whole-file / ranged reads with errors that name the file.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/tensor.h"

namespace unravel::io_detail {

/// `t` itself when it is a contiguous strided CPU tensor of `dtype`, else a dense row-major copy
/// on the CPU in `dtype` (a tensor in a backend layout is converted to its logical values first).
Tensor host_contiguous(const Tensor& t, DType dtype);
inline Tensor host_contiguous(const Tensor& t) { return host_contiguous(t, t.dtype()); }

/// An open read-only file that closes itself; errors name `path`.
class InputFile {
 public:
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  /// Size in bytes.
  uint64_t size() const { return size_; }
  /// Reads exactly n bytes at `offset` into dst; `what` names the part for the error message.
  void read_at(uint64_t offset, void* dst, uint64_t n, const char* what) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace unravel::io_detail
