// IDX files (LeCun's MNIST format, also used by Fashion-MNIST), plain or gzip-compressed.
// Layout: magic = 0x00 0x00 <type> <rank>, then rank big-endian uint32 extents, then the data
// big-endian, row-major. Types: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
// Gzip is detected from the first two bytes (1f 8b) and decoded with zlib.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace unravel {

/// The contents of an IDX file, data converted to host byte order.
struct IdxArray {
  uint8_t type = 0x08;           ///< IDX type code
  std::vector<int64_t> dims;     ///< extents
  std::vector<uint8_t> data;     ///< numel × element size bytes, host byte order
  /// Number of elements.
  int64_t numel() const;
};

/// Bytes per element of IDX type `type` (throws for an unknown code).
int idx_type_size(uint8_t type);
/// Reads an IDX file (plain or .gz). Errors name the file: missing, wrong magic, unknown type,
/// truncated data, corrupt gzip, trailing bytes.
IdxArray read_idx(const std::string& path);
/// The same from `size` bytes in memory; `name` stands for the file in error messages.
IdxArray read_idx_buffer(const void* data, size_t size, const std::string& name);
/// Writes an IDX file, gzip-compressed when `gzip`.
void write_idx(const std::string& path, const IdxArray& a, bool gzip);

}  // namespace unravel
