// PNG I/O through libpng's simplified API (png_image), which converts any colour type and bit
// depth to the requested 8-bit format: colour → grey uses libpng's sRGB-aware luminance, and
// an alpha channel is composited onto black. See datasets/png.h.
#include "datasets/png.h"

#include <png.h>

#include <algorithm>
#include <cstring>

#include "engine/check.h"

namespace unravel {

namespace {

void write_png(const std::string& path, int w, int h, const uint8_t* bytes, png_uint_32 format) {
  UNRAVEL_CHECK(w > 0 && h > 0 && bytes != nullptr, "write_png '{}': bad image {}x{}", path, w, h);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  const int ok = png_image_write_to_file(&img, path.c_str(), 0, bytes, 0, nullptr);
  const std::string msg = img.message;
  png_image_free(&img);
  UNRAVEL_CHECK(ok != 0, "write_png: cannot write '{}': {}", path, msg);
}

}  // namespace

void write_png_gray(const std::string& path, int w, int h, const uint8_t* bytes) {
  write_png(path, w, h, bytes, PNG_FORMAT_GRAY);
}

void write_png_rgb(const std::string& path, int w, int h, const uint8_t* bytes) {
  write_png(path, w, h, bytes, PNG_FORMAT_RGB);
}

std::vector<uint8_t> encode_png(int w, int h, int channels, const uint8_t* bytes) {
  UNRAVEL_CHECK(w > 0 && h > 0 && bytes != nullptr && (channels == 1 || channels == 3),
                "encode_png: bad image {}x{} with {} channels (1 or 3)", w, h, channels);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // First call sizes the buffer (an upper bound), the second writes and sets the true size.
  png_alloc_size_t size = 0;
  int ok = png_image_write_to_memory(&img, nullptr, &size, 0, bytes, 0, nullptr);
  std::vector<uint8_t> out;
  if (ok) {
    out.resize(size);
    ok = png_image_write_to_memory(&img, out.data(), &size, 0, bytes, 0, nullptr);
    out.resize(size);
  }
  const std::string msg = img.message;
  png_image_free(&img);
  UNRAVEL_CHECK(ok != 0, "encode_png: cannot encode a {}x{} image: {}", w, h, msg);
  return out;
}

Image8 read_png(const std::string& path, int channels) {
  UNRAVEL_CHECK(channels == 1 || channels == 3, "read_png '{}': channels must be 1 or 3, got {}",
                path, channels);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    const std::string msg = img.message;
    png_image_free(&img);
    UNRAVEL_CHECK(false, "read_png: cannot read '{}': {}", path, msg);
  }
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image8 out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.channels = channels;
  out.data.resize(PNG_IMAGE_SIZE(img));
  png_color black{0, 0, 0};
  const int ok = png_image_finish_read(&img, &black, out.data.data(), 0, nullptr);
  const std::string msg = img.message;
  png_image_free(&img);
  UNRAVEL_CHECK(ok != 0, "read_png: cannot decode '{}': {}", path, msg);
  return out;
}

Image8 image_grid(const uint8_t* images, int n, int h, int w, int c, int cols, int pad,
                  uint8_t pad_value) {
  UNRAVEL_CHECK(n > 0 && h > 0 && w > 0 && c > 0 && cols > 0 && pad >= 0,
                "image_grid: bad arguments n={} h={} w={} c={} cols={} pad={}", n, h, w, c, cols,
                pad);
  const int rows = (n + cols - 1) / cols;
  Image8 g;
  g.channels = c;
  g.width = cols * (w + pad) + pad;
  g.height = rows * (h + pad) + pad;
  g.data.assign(static_cast<size_t>(g.width) * g.height * c, pad_value);
  for (int k = 0; k < n; ++k) {
    const int y0 = pad + (k / cols) * (h + pad), x0 = pad + (k % cols) * (w + pad);
    for (int y = 0; y < h; ++y)
      std::memcpy(&g.data[(static_cast<size_t>(y0 + y) * g.width + x0) * c],
                  images + (static_cast<size_t>(k) * h + y) * w * c, static_cast<size_t>(w) * c);
  }
  return g;
}

}  // namespace unravel
