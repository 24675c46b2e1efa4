// JPEG reading and writing with libjpeg-turbo's libjpeg API (Debian libjpeg62-turbo-dev), and
// read_image, which reads a PNG or JPEG file by its first bytes. Errors never exit(): a setjmp
// error manager turns every libjpeg error, and every libjpeg warning (a truncated file is a
// warning to libjpeg, which would otherwise pad the image with grey), into an unravel::Error
// naming the file. Dimensions are validated before the pixel buffer is allocated.
#pragma once
#include <cstdint>
#include <string>

#include "datasets/png.h"

namespace unravel {

/// Largest width or height read_jpeg / read_image accept (CelebA is 178×218, 3D chairs 600×600).
inline constexpr int kMaxImageSide = 16384;

/// Reads a baseline or progressive JPEG (grey or YCbCr) as 8-bit grey (channels = 1) or RGB
/// (channels = 3); libjpeg converts colour spaces. CMYK/YCCK files are refused.
Image8 read_jpeg(const std::string& path, int channels);
/// Decodes JPEG bytes in memory; `what` names the source in errors.
Image8 decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& what);
/// Writes an 8-bit grey (channels = 1) or RGB (channels = 3) image of w × h pixels (row-major,
/// interleaved) as a baseline JPEG of the given quality (1..100).
void write_jpeg(const std::string& path, int w, int h, int channels, const uint8_t* bytes,
                int quality = 90);
/// Reads a PNG or a JPEG file, told apart by its signature bytes (not its name), as grey or RGB;
/// any other content raises an error naming the file and what its first bytes were.
Image8 read_image(const std::string& path, int channels);

}  // namespace unravel
