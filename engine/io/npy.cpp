// .npy reader and writer. Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32
// LE for 2.0/3.0), an ASCII (3.0: UTF-8) Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so the data starts at a multiple of 64, then the raw
// elements. The dict is parsed by a small recursive-descent parser that accepts exactly the
// value kinds NumPy writes (strings, True/False, tuples of integers).
#include "engine/io/npy.h"

#include <algorithm>
#include <cstring>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/io/atomic_file.h"
#include "engine/io/host_data.h"

namespace unravel {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;

using io_detail::ByteReader;

struct DictParser {
  const std::string& s;
  const std::string& name;
  size_t i = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw_error(fmt::format("'{}': malformed .npy header ({} at column {}): {}", name, what, i, s));
  }
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool accept(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(fmt::format("expected '{}'", c));
  }
  std::string string_literal() {
    skip_ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a quoted string");
    char q = s[i++];
    size_t start = i;
    while (i < s.size() && s[i] != q) {
      if (s[i] == '\\') fail("escape sequences are not supported");
      ++i;
    }
    if (i >= s.size()) fail("unterminated string");
    return s.substr(start, i++ - start);
  }
  bool bool_literal() {
    skip_ws();
    if (s.compare(i, 4, "True") == 0) return i += 4, true;
    if (s.compare(i, 5, "False") == 0) return i += 5, false;
    fail("expected True or False");
  }
  int64_t int_literal() {
    skip_ws();
    size_t start = i;
    int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
        fail("dimension overflows int64");
      ++i;
    }
    if (i == start) fail("expected a non-negative integer");
    if (i < s.size() && s[i] == 'L') ++i;  // Python 2 long suffix
    return v;
  }
  Shape shape_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    skip_ws();
    if (!accept(')')) {
      for (;;) {
        dims.push_back(int_literal());
        if (accept(')')) break;
        expect(',');
        if (accept(')')) break;
      }
    }
    if (static_cast<int>(dims.size()) > kMaxDims)
      fail(fmt::format("rank {} exceeds the supported maximum {}", dims.size(), kMaxDims));
    return Shape(dims);
  }
};

// Maps a descr string to a dtype; only the little-endian forms listed in npy.h are accepted.
DType parse_descr(const std::string& d, const std::string& name) {
  UNRAVEL_CHECK(d.size() >= 3, "'{}': unsupported .npy dtype '{}'", name, d);
  char order = d[0];
  std::string code = d.substr(1);
  UNRAVEL_CHECK(order == '<' || order == '|' || order == '=' || order == '>',
                "'{}': unsupported .npy dtype '{}' (bad byte-order character)", name, d);
  struct Entry { const char* code; DType dt; };
  static constexpr Entry kTable[] = {{"f4", DType::f32}, {"f8", DType::f64}, {"i4", DType::i32},
                                     {"i8", DType::i64}, {"u1", DType::u8},  {"b1", DType::u8}};
  for (const auto& e : kTable) {
    if (code != e.code) continue;
    UNRAVEL_CHECK(order != '>' || size_of(e.dt) == 1,
                  "'{}': big-endian .npy dtype '{}' is not supported (save little-endian data)",
                  name, d);
    return e.dt;
  }
  UNRAVEL_CHECK(false, "'{}': unsupported .npy dtype '{}' (supported: <f4 <f8 <i4 <i8 |u1 |b1)",
                name, d);
  return DType::f32;
}

NpyHeader parse_header(const ByteReader& read, uint64_t total, const std::string& name) {
  UNRAVEL_CHECK(total >= kMagicLen + 2, "'{}' is not an .npy file: only {} bytes", name, total);
  unsigned char pre[kMagicLen + 6] = {};
  read(0, pre, kMagicLen + 2, "the magic string");
  UNRAVEL_CHECK(std::memcmp(pre, kMagic, kMagicLen) == 0,
                "'{}' is not an .npy file: bad magic bytes (expected \\x93NUMPY)", name);
  NpyHeader h;
  h.major_version = pre[kMagicLen];
  UNRAVEL_CHECK(h.major_version >= 1 && h.major_version <= 3,
                "'{}': unsupported .npy format version {}.{}", name, h.major_version,
                int(pre[kMagicLen + 1]));
  size_t len_bytes = h.major_version == 1 ? 2 : 4;
  read(kMagicLen + 2, pre + kMagicLen + 2, len_bytes, "the header length");
  uint64_t hlen = 0;
  for (size_t b = 0; b < len_bytes; ++b) hlen |= uint64_t(pre[kMagicLen + 2 + b]) << (8 * b);
  uint64_t start = kMagicLen + 2 + len_bytes;
  UNRAVEL_CHECK(hlen <= total - start,
                "'{}' is truncated: the .npy header claims {} bytes but only {} follow", name,
                hlen, total - start);
  std::string text(hlen, '\0');
  read(start, text.data(), hlen, "the header");
  h.data_offset = start + hlen;

  DictParser p{text, name};
  p.expect('{');
  bool have_descr = false, have_order = false, have_shape = false;
  while (!p.accept('}')) {
    std::string key = p.string_literal();
    p.expect(':');
    if (key == "descr") {
      p.skip_ws();
      if (p.i < text.size() && text[p.i] == '[')
        p.fail("structured (record) dtypes are not supported");
      h.descr = p.string_literal();
      have_descr = true;
    } else if (key == "fortran_order") {
      h.fortran_order = p.bool_literal();
      have_order = true;
    } else if (key == "shape") {
      h.shape = p.shape_tuple();
      have_shape = true;
    } else {
      p.fail("unexpected key '" + key + "'");
    }
    if (p.accept('}')) break;
    p.expect(',');
  }
  p.skip_ws();
  if (p.i != text.size()) p.fail("trailing characters after the dict");
  UNRAVEL_CHECK(have_descr && have_order && have_shape,
                "'{}': malformed .npy header: needs keys 'descr', 'fortran_order' and 'shape': {}",
                name, text);
  h.dtype = parse_descr(h.descr, name);
  return h;
}

Tensor read_data(const NpyHeader& h, const ByteReader& read, uint64_t total,
                 const std::string& name) {
  UNRAVEL_CHECK(io_detail::strides_fit(h.shape), "'{}': .npy shape {} overflows int64", name,
                h.shape.str());
  uint64_t n = 1;
  for (int64_t d : h.shape)
    UNRAVEL_CHECK(!__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n),
                  "'{}': .npy shape {} overflows", name, h.shape.str());
  uint64_t bytes = 0;
  UNRAVEL_CHECK(!__builtin_mul_overflow(n, size_of(h.dtype), &bytes), "'{}': .npy shape {} overflows",
                name, h.shape.str());
  uint64_t avail = total - h.data_offset;
  UNRAVEL_CHECK(avail >= bytes,
                "'{}' is truncated: shape {} of '{}' needs {} data bytes but only {} are present",
                name, h.shape.str(), h.descr, bytes, avail);
  UNRAVEL_CHECK(avail == bytes, "'{}': {} unexpected trailing bytes after the .npy data", name,
                avail - bytes);
  if (!h.fortran_order || h.shape.size() < 2) {
    Tensor t = Tensor::empty(h.shape, h.dtype, kCPU);
    read(h.data_offset, t.raw_data(), bytes, "the array data");
    return t;
  }
  // Fortran order: the bytes are a row-major array of the reversed shape; view it with
  // reversed strides (a full transpose) and copy into a row-major tensor.
  Shape rev(h.shape.begin(), h.shape.end());
  std::reverse(rev.begin(), rev.end());
  Tensor raw = Tensor::empty(rev, h.dtype, kCPU);
  read(h.data_offset, raw.raw_data(), bytes, "the array data");
  Strides rs = contiguous_strides(rev);
  Strides fs(rs.begin(), rs.end());
  std::reverse(fs.begin(), fs.end());
  Tensor fview = Tensor::make_view(raw.storage(), 0, h.shape, fs, h.dtype);
  Tensor out = Tensor::empty(h.shape, h.dtype, kCPU);
  if (n) backend(kCPU).copy(fview.view(), out.view());
  return out;
}

std::string descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::bf16: break;  // written as float32 (save_npy)
  }
  return "";
}

// The preamble + padded header for t, as NumPy writes it.
std::string header_bytes(const Tensor& t) {
  std::string shape = "(";
  for (int d = 0; d < t.dim(); ++d) {
    if (d) shape += ", ";
    shape += std::to_string(t.shape()[d]);
  }
  if (t.dim() == 1) shape += ",";
  shape += ")";
  std::string dict =
      "{'descr': '" + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  int major = 1;
  size_t pre = kMagicLen + 4;
  size_t total = pre + dict.size() + 1;
  total = (total + kAlign - 1) / kAlign * kAlign;
  if (total - pre > 0xFFFF) {
    major = 2;
    pre = kMagicLen + 6;
    total = (pre + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  }
  size_t hlen = total - pre;
  std::string out(kMagic, kMagicLen);
  out += char(major);
  out += char(0);
  for (size_t b = 0; b < (major == 1 ? 2u : 4u); ++b) out += char((hlen >> (8 * b)) & 0xFF);
  out += dict;
  out.append(hlen - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

}  // namespace

NpyHeader read_npy_header(const std::string& path) {
  io_detail::InputFile f(path);
  return parse_header(f.reader(), f.size(), path);
}

Tensor load_npy(const std::string& path) {
  io_detail::InputFile f(path);
  const ByteReader read = f.reader();
  NpyHeader h = parse_header(read, f.size(), path);
  return read_data(h, read, f.size(), path);
}

namespace {
ByteReader buffer_reader(const void* data, size_t size, const std::string& name) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return [bytes, size, &name](uint64_t off, void* dst, uint64_t n, const char* what) {
    UNRAVEL_CHECK(off <= size && n <= size - off,
                  "'{}' is truncated: {} needs bytes [{}, {}) but the buffer has {} bytes", name,
                  what, off, off + n, size);
    if (n) std::memcpy(dst, bytes + off, n);
  };
}
}  // namespace

NpyHeader parse_npy_header(const void* data, size_t size, const std::string& name) {
  UNRAVEL_CHECK(data != nullptr || size == 0, "parse_npy_header('{}'): null data", name);
  return parse_header(buffer_reader(data, size, name), size, name);
}

uint64_t npy_header_length(const void* first12, const std::string& name) {
  const auto* b = static_cast<const unsigned char*>(first12);
  UNRAVEL_CHECK(std::memcmp(b, kMagic, kMagicLen) == 0,
                "'{}' is not an .npy file: bad magic bytes (expected \\x93NUMPY)", name);
  const int major = b[kMagicLen];
  UNRAVEL_CHECK(major >= 1 && major <= 3, "'{}': unsupported .npy format version {}.{}", name,
                major, int(b[kMagicLen + 1]));
  const size_t len_bytes = major == 1 ? 2 : 4;
  uint64_t hlen = 0;
  for (size_t k = 0; k < len_bytes; ++k) hlen |= uint64_t(b[kMagicLen + 2 + k]) << (8 * k);
  return kMagicLen + 2 + len_bytes + hlen;
}

Tensor load_npy_buffer(const void* data, size_t size, const std::string& name) {
  UNRAVEL_CHECK(data != nullptr || size == 0, "load_npy_buffer('{}'): null data", name);
  const ByteReader read = io_detail::buffer_reader(data, size, name);
  NpyHeader h = parse_header(read, size, name);
  return read_data(h, read, size, name);
}

std::vector<uint8_t> npy_bytes(const Tensor& t) {
  UNRAVEL_CHECK(t.defined(), "npy_bytes: tensor is undefined");
  Tensor host = io_detail::host_contiguous(t);
  std::string head = header_bytes(host);
  std::vector<uint8_t> out(head.size() + host.nbytes());
  std::memcpy(out.data(), head.data(), head.size());
  if (host.nbytes()) std::memcpy(out.data() + head.size(), host.raw_data(), host.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  UNRAVEL_CHECK(t.defined(), "save_npy('{}'): tensor is undefined", path);
  // NumPy has no bfloat16: a bf16 tensor is written as float32, which holds every bf16 value
  // exactly (the documented convention; loading gives f32).
  Tensor host = io_detail::host_contiguous(t, t.dtype() == DType::bf16 ? DType::f32 : t.dtype());
  std::string head = header_bytes(host);
  AtomicFile out(path);
  out.write(head.data(), head.size());
  out.write(host.raw_data(), host.nbytes());
  out.commit();
}

}  // namespace unravel
