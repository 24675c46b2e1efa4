// NumPy .npy files (format versions 1.0, 2.0 and 3.0), read from a path or from a memory buffer
// (e.g. a member of an .npz zip), and written atomically. Supported dtypes: <f4 <f8 <i4 <i8 |u1
// and |b1 (read as u8); little-endian only; C or Fortran order (Fortran data is transposed into
// a row-major tensor on reading).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unravel {

/// What an .npy header describes.
struct NpyHeader {
  DType dtype = DType::f32;     ///< element type of the tensor it loads into
  std::string descr;            ///< the descr string as written ("<f4", "|b1", ...)
  Shape shape;
  bool fortran_order = false;
  int major_version = 1;
  uint64_t data_offset = 0;     ///< bytes from the start of the file to the first element
};

/// Reads and validates only the header of an .npy file.
NpyHeader read_npy_header(const std::string& path);
/// Parses the header at the start of .npy bytes; `data` may be just the prefix that holds it
/// (for streamed members: read 12 bytes, then npy_header_length of them). `name` is for errors.
NpyHeader parse_npy_header(const void* data, size_t size, const std::string& name);
/// Total bytes of magic, version, length field and header dict, from the first 12 bytes of an
/// .npy (checks the magic and version).
uint64_t npy_header_length(const void* first12, const std::string& name);
/// Reads an .npy file into a contiguous CPU tensor.
Tensor load_npy(const std::string& path);
/// Parses .npy bytes held in memory; `name` is used in error messages.
Tensor load_npy_buffer(const void* data, size_t size, const std::string& name = "<buffer>");
/// Serialises t (any device or layout) as .npy bytes: C order, version 1.0 (2.0 if needed).
std::vector<uint8_t> npy_bytes(const Tensor& t);
/// Writes t as an .npy file atomically (temporary + fsync + rename).
void save_npy(const std::string& path, const Tensor& t);

}  // namespace unravel
