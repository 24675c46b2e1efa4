// JPEG through libjpeg-turbo (datasets/jpeg.h). The error manager longjmps back to the reader,
// which formats libjpeg's message with the file name; warnings are errors too (libjpeg reports
// "Premature end of JPEG file" and "Corrupt JPEG data" as warnings and keeps going).
#include "datasets/jpeg.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include "engine/check.h"

namespace unravel {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg passes &pub, we cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);  // a warning (corrupt or truncated data): refuse the file
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  UNRAVEL_CHECK(f.good(), "read_jpeg: cannot open '{}': {}", path, std::strerror(errno));
  const auto size = static_cast<int64_t>(f.tellg());
  // No JPEG of at most kMaxImageSide² pixels needs more; refuse before reading it into memory.
  UNRAVEL_CHECK(size >= 0 && size <= (int64_t{1} << 30), "read_jpeg '{}': {} bytes is too large for "
                "an image file (at most 1 GiB)", path, size);
  f.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  UNRAVEL_CHECK(f.gcount() == size, "read_jpeg: cannot read '{}' ({} of {} bytes): {}", path,
                static_cast<int64_t>(f.gcount()), size, std::strerror(errno));
  return bytes;
}

// Decodes into `out` (owned by the caller, so that nothing this function changes after setjmp
// is an automatic object of its own frame). Returns "" or libjpeg's/our error message.
std::string decode_into(const uint8_t* bytes, size_t size, int channels, const std::string& what,
                        Image8& out, jpeg_decompress_struct& cinfo, ErrorManager& err) {
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const int w = static_cast<int>(cinfo.image_width), h = static_cast<int>(cinfo.image_height);
  const J_COLOR_SPACE in = cinfo.jpeg_color_space;
  std::string bad;
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide)
    bad = fmt::format("image size {}x{} outside 1..{}", w, h, kMaxImageSide);
  else if (in == JCS_CMYK || in == JCS_YCCK || in == JCS_UNKNOWN)
    bad = fmt::format("colour space {} (CMYK/YCCK/unknown) is not supported; convert the file to "
                      "RGB", static_cast<int>(in));
  if (!bad.empty()) {
    jpeg_destroy_decompress(&cinfo);
    return bad;
  }
  cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (static_cast<int>(cinfo.output_components) != channels) {
    jpeg_destroy_decompress(&cinfo);
    return fmt::format("decoder gave {} components, wanted {}", cinfo.output_components, channels);
  }
  out.width = w;
  out.height = h;
  out.channels = channels;
  out.data.resize(static_cast<size_t>(w) * h * channels);
  const size_t stride = static_cast<size_t>(w) * channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  (void)what;
  return {};
}

}  // namespace

Image8 decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& what) {
  UNRAVEL_CHECK(channels == 1 || channels == 3, "read_jpeg '{}': channels must be 1 or 3, got {}",
                what, channels);
  UNRAVEL_CHECK(size >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8,
                "read_jpeg '{}': not a JPEG file ({} bytes, no FF D8 start-of-image marker)", what,
                size);
  Image8 out;
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  const std::string msg = decode_into(bytes, size, channels, what, out, cinfo, err);
  UNRAVEL_CHECK(msg.empty(), "read_jpeg: cannot decode '{}': {}", what, msg);
  return out;
}

Image8 read_jpeg(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_jpeg(bytes.data(), bytes.size(), channels, path);
}

void write_jpeg(const std::string& path, int w, int h, int channels, const uint8_t* bytes,
                int quality) {
  UNRAVEL_CHECK(w > 0 && h > 0 && bytes != nullptr && (channels == 1 || channels == 3) &&
                    quality >= 1 && quality <= 100,
                "write_jpeg '{}': bad image {}x{}x{} or quality {}", path, w, h, channels, quality);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  UNRAVEL_CHECK(f != nullptr, "write_jpeg: cannot create '{}': {}", path, std::strerror(errno));
  jpeg_compress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  if (setjmp(err.jump)) {
    const std::string msg = err.message;
    jpeg_destroy_compress(&cinfo);
    std::fclose(f);
    UNRAVEL_CHECK(false, "write_jpeg: cannot write '{}': {}", path, msg);
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = channels;
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(w) * channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    auto row = const_cast<JSAMPROW>(bytes + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  const bool closed = std::fclose(f) == 0;
  UNRAVEL_CHECK(closed, "write_jpeg: cannot finish '{}': {}", path, std::strerror(errno));
}

Image8 read_image(const std::string& path, int channels) {
  unsigned char sig[8] = {0};
  size_t got = 0;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    UNRAVEL_CHECK(f != nullptr, "read_image: cannot open '{}': {}", path, std::strerror(errno));
    got = std::fread(sig, 1, sizeof sig, f);
    std::fclose(f);
  }
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (got == 8 && std::memcmp(sig, png_sig, 8) == 0) return read_png(path, channels);
  if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) return read_jpeg(path, channels);
  UNRAVEL_CHECK(false, "read_image '{}': neither PNG nor JPEG ({} bytes read, first: {:02x})", path,
                got, fmt::join(sig, sig + got, " "));
  return {};
}

}  // namespace unravel
