// PNG reading and writing (files, or PNG bytes in memory) with libpng, plus a helper that tiles
// images into a grid (for sample sheets such as docs/images/dsprites_samples.png). Errors name
// the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace unravel {

/// An 8-bit image: h × w × c bytes, row-major, channels interleaved.
struct Image8 {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> data;
};

/// Writes an 8-bit greyscale PNG (w × h bytes, row-major).
void write_png_gray(const std::string& path, int w, int h, const uint8_t* bytes);
/// Writes an 8-bit RGB PNG (w × h × 3 bytes, row-major, interleaved).
void write_png_rgb(const std::string& path, int w, int h, const uint8_t* bytes);
/// Encodes an 8-bit grey (channels = 1) or RGB (channels = 3) image of w × h pixels (row-major,
/// interleaved) as PNG file bytes in memory (e.g. for a TensorBoard image summary).
std::vector<uint8_t> encode_png(int w, int h, int channels, const uint8_t* bytes);
/// The largest decoded image read_png accepts, in bytes (w × h × channels): 256 MiB, e.g. a
/// 9000 × 9000 RGB photograph. Larger images are refused before any pixel is decoded.
inline constexpr uint64_t kMaxPngBytes = uint64_t{1} << 28;

/// Reads any PNG (palette, grey, grey+alpha, RGB, RGBA, 1–16 bits) and converts it to 8-bit
/// grey (channels = 1, ITU-R BT.601 luma) or RGB (channels = 3); alpha is composited onto black.
/// A header that claims more pixels than the file can hold, or more than kMaxPngBytes, is
/// refused before the pixels are allocated.
Image8 read_png(const std::string& path, int channels);
/// The same from `size` bytes in memory; `name` stands for the file in error messages.
Image8 read_png_buffer(const void* data, size_t size, int channels, const std::string& name);
/// Tiles n images of h × w × c bytes (consecutive in `images`) into a grid of `cols` columns
/// with `pad` pixels of value `pad_value` between and around tiles.
Image8 image_grid(const uint8_t* images, int n, int h, int w, int c, int cols, int pad = 2,
                  uint8_t pad_value = 128);

}  // namespace unravel
