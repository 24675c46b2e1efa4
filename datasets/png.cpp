// PNG I/O through libpng's simplified API (png_image), which converts any colour type and bit
// depth to the requested 8-bit format: colour → grey uses libpng's sRGB-aware luminance, and
// an alpha channel is composited onto black. See datasets/png.h.
#include "datasets/png.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

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

// libpng 1.6.39 (Debian 12) allocates a chunk's declared length before reading the chunk: a
// 62-byte file whose sPLT chunk claims 1.6 GB made png_image_begin_read_from_memory malloc
// 1.6 GB (found by fuzz_png; PNG_USER_CHUNK_MALLOC_MAX does not stop it on this path). So the
// chunk list is walked first: every chunk up to IEND must lie inside the data.
void check_chunks(const uint8_t* p, size_t size, const std::string& path) {
  if (size < 8 || png_sig_cmp(p, 0, 8) != 0) return;  // libpng reports the bad signature
  size_t pos = 8;
  while (size - pos >= 8) {
    const uint64_t len = (uint64_t{p[pos]} << 24) | (uint64_t{p[pos + 1]} << 16) |
                         (uint64_t{p[pos + 2]} << 8) | p[pos + 3];
    std::string type(reinterpret_cast<const char*>(p + pos + 4), 4);
    for (char& c : type)
      if (c < 0x20 || c > 0x7e) c = '?';
    UNRAVEL_CHECK(len + 12 <= size - pos,
                  "read_png: '{}' is truncated or corrupt: chunk '{}' at byte {} claims {} bytes "
                  "but only {} follow", path, type, pos, len, size - pos - 8);
    if (type == "IEND") return;
    pos += 12 + len;
  }
}

// Refuses, before the output buffer is allocated, an image whose header claims more pixels
// than the file can hold or than kMaxPngBytes. Deflate expands at most 1032:1, and the filtered
// image data of a w × h image is at least h · (1 + ⌈w / 8⌉) bytes (1 bit per pixel, one filter
// byte per row): a file smaller than that over 1032 is truncated or corrupt, however large its
// IHDR says the image is (libpng would only find out once the pixels were allocated).
void check_decoded_size(size_t size, const png_image& img, int channels,
                        const std::string& path) {
  const uint64_t w = img.width, h = img.height;  // each < 2^31 (libpng checks the IHDR)
  const uint64_t least = h * (1 + (w + 7) / 8);
  UNRAVEL_CHECK(least <= 1032 * static_cast<uint64_t>(size) + 1024,
                "read_png: '{}' is truncated or corrupt: its header says {}x{} pixels, at least {} "
                "bytes of image data, more than its {} bytes can hold", path, w, h, least, size);
  const uint64_t bytes = w * h * static_cast<uint64_t>(channels);
  UNRAVEL_CHECK(bytes <= kMaxPngBytes,
                "read_png: '{}' is too large: {}x{} pixels need {} MB decoded (the limit is {} MB)",
                path, w, h, bytes >> 20, kMaxPngBytes >> 20);
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
  // The whole file is read first so that files and buffers take one path (read_png_buffer).
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  UNRAVEL_CHECK(f != nullptr, "read_png: cannot read '{}': {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0)
    bytes.insert(bytes.end(), chunk, chunk + n);
  UNRAVEL_CHECK(!std::ferror(f.get()), "read_png: error reading '{}'", path);
  return read_png_buffer(bytes.data(), bytes.size(), channels, path);
}

Image8 read_png_buffer(const void* data, size_t size, int channels, const std::string& path) {
  UNRAVEL_CHECK(channels == 1 || channels == 3, "read_png '{}': channels must be 1 or 3, got {}",
                path, channels);
  check_chunks(static_cast<const uint8_t*>(data), size, path);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  // Frees libpng's state however this function is left (png_image_free is safe to repeat).
  const std::unique_ptr<png_image, void (*)(png_image*)> guard(&img, png_image_free);
  UNRAVEL_CHECK(png_image_begin_read_from_memory(&img, data, size),
                "read_png: cannot read '{}': {}", path, img.message);
  check_decoded_size(size, img, channels, path);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image8 out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.channels = channels;
  out.data.resize(PNG_IMAGE_SIZE(img));
  png_color black{0, 0, 0};
  UNRAVEL_CHECK(png_image_finish_read(&img, &black, out.data.data(), 0, nullptr),
                "read_png: cannot decode '{}': {}", path, img.message);
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
