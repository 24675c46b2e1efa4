// Small helpers shared by the tensor file readers and writers: a dense host copy of any tensor,
// and whole-file / ranged reads with errors that name the file.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "engine/tensor.h"

namespace unravel::io_detail {

/// `t` itself when it is a contiguous strided CPU tensor of `dtype`, else a dense row-major copy
/// on the CPU in `dtype` (a tensor in a backend layout is converted to its logical values first).
Tensor host_contiguous(const Tensor& t, DType dtype);
inline Tensor host_contiguous(const Tensor& t) { return host_contiguous(t, t.dtype()); }

/// True when the extents of `s`, zeros counted as ones, multiply within int64, as the strides
/// of Tensor::empty(s) must (contiguous_strides) even when a zero extent leaves the tensor
/// empty. The readers check a file's shape with this before making a tensor of it: the shape
/// (0, 2^62, 4) holds no bytes yet overflowed the strides (found by fuzz_npy).
bool strides_fit(const Shape& s);

/// Reads exactly n bytes at `offset` of an input into dst, or throws a "truncated" error that
/// names the input and `what` (the part being read). The readers parse through one of these so
/// that a file and a memory buffer (an .npz member, a fuzzer's input) take the same path.
using ByteReader = std::function<void(uint64_t offset, void* dst, uint64_t n, const char* what)>;

/// A ByteReader over the `size` bytes at `data` (kept alive by the caller); errors name `name`.
ByteReader buffer_reader(const void* data, size_t size, const std::string& name);

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
  /// A ByteReader over this file (which must outlive it).
  ByteReader reader() const {
    return [this](uint64_t off, void* dst, uint64_t n, const char* what) {
      read_at(off, dst, n, what);
    };
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace unravel::io_detail
