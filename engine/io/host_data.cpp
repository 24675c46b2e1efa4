// Host copies of tensors and checked file reads for the readers in engine/io.
#include "engine/io/host_data.h"

#include <cerrno>
#include <cstring>

#include "engine/backend.h"
#include "engine/check.h"

namespace unravel::io_detail {

Tensor host_contiguous(const Tensor& in, DType dtype) {
  UNRAVEL_CHECK(in.defined(), "host_contiguous: tensor is undefined");
  // A backend layout (engine/layout.h) is converted first: files hold the logical values.
  const Tensor t = in.with_layout(kStrided);
  if (t.device().is_cpu() && t.is_contiguous() && t.dtype() == dtype) return t;
  Backend& be = backend(t.device());
  Tensor dense = t;
  if (!t.is_contiguous() || t.dtype() != dtype) {
    dense = Tensor::empty(t.shape(), dtype, t.device());
    if (t.numel()) be.copy(t.view(), dense.view());
  }
  if (t.device().is_cpu()) return dense;
  Tensor host = Tensor::empty(t.shape(), dtype, kCPU);
  if (t.numel()) be.copy_to_host(dense.raw_data(), host.raw_data(), host.nbytes());
  return host;
}

bool strides_fit(const Shape& s) {
  int64_t acc = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(acc, d > 1 ? d : 1, &acc)) return false;
  return true;
}

ByteReader buffer_reader(const void* data, size_t size, const std::string& name) {
  UNRAVEL_CHECK(data != nullptr || size == 0, "'{}': null data", name);
  const auto* bytes = static_cast<const unsigned char*>(data);
  return [bytes, size, name](uint64_t off, void* dst, uint64_t n, const char* what) {
    UNRAVEL_CHECK(off <= size && n <= size - off,
                  "'{}' is truncated: {} needs bytes [{}, {}) but the buffer has {} bytes", name,
                  what, off, off + n, size);
    if (n) std::memcpy(dst, bytes + off, n);
  };
}

InputFile::InputFile(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  UNRAVEL_CHECK(f_ != nullptr, "cannot open '{}': {}", path, std::strerror(errno));
  if (std::fseek(f_, 0, SEEK_END) != 0) {
    std::fclose(f_);
    UNRAVEL_CHECK(false, "cannot seek in '{}': {}", path, std::strerror(errno));
  }
  long end = std::ftell(f_);
  if (end < 0) {
    std::fclose(f_);
    UNRAVEL_CHECK(false, "'{}' is not a regular file", path);
  }
  size_ = static_cast<uint64_t>(end);
}

InputFile::~InputFile() {
  if (f_) std::fclose(f_);
}

void InputFile::read_at(uint64_t offset, void* dst, uint64_t n, const char* what) const {
  UNRAVEL_CHECK(offset <= size_ && n <= size_ - offset,
                "'{}' is truncated: {} needs bytes [{}, {}) but the file has {} bytes", path_,
                what, offset, offset + n, size_);
  if (n == 0) return;
  UNRAVEL_CHECK(std::fseek(f_, static_cast<long>(offset), SEEK_SET) == 0,
                "cannot seek in '{}' to {}: {}", path_, offset, std::strerror(errno));
  size_t got = std::fread(dst, 1, n, f_);
  UNRAVEL_CHECK(got == n, "reading {} from '{}' failed after {} of {} bytes", what, path_, got, n);
}

}  // namespace unravel::io_detail
