// IDX reader/writer (datasets/idx.h). The whole file is decompressed into memory with zlib's
// inflate (gzip wrapper, windowBits 15+16) or read as is, then validated: the two zero bytes of
// the magic, a known type code, rank ≥ 1, and exactly numel × size data bytes after the header.
#include "datasets/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/ranges.h>

#include "engine/check.h"

namespace unravel {

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  UNRAVEL_CHECK(f != nullptr, "read_idx: cannot open '{}': {}", path, std::strerror(errno));
  std::vector<uint8_t> buf;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) buf.insert(buf.end(), chunk, chunk + n);
  UNRAVEL_CHECK(!std::ferror(f.get()), "read_idx: error reading '{}'", path);
  return buf;
}

// Bytes per element of an IDX type code, 0 for an unknown code.
int type_size_or_zero(uint8_t type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// The whole size of an IDX file as its first n bytes tell: SIZE_MAX while the header is
// incomplete, 0 when it is invalid (reading stops; parse_idx then says what is wrong).
size_t idx_size_from_header(const uint8_t* p, size_t n) {
  if (n < 4) return SIZE_MAX;
  const int tsize = type_size_or_zero(p[2]);
  if (p[0] != 0 || p[1] != 0 || p[3] == 0 || tsize == 0) return 0;
  const size_t head = 4 + 4 * static_cast<size_t>(p[3]);
  if (n < head) return SIZE_MAX;
  uint64_t numel = 1;
  for (size_t d = 0; d < p[3]; ++d)
    if (__builtin_mul_overflow(numel, uint64_t{be32(p + 4 + 4 * d)}, &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX) / 8)
      return 0;
  return head + numel * static_cast<uint64_t>(tsize);
}

// Decompresses a gzip file (concatenated members included). Inflating stops once the output
// passes what the IDX header in its first bytes promises (idx_size_from_header), so a corrupt or
// hostile file costs the memory its header claims, not whatever its stream expands to; the
// excess is then reported by parse_idx as trailing bytes. The byte counts are kept here, not in
// z_stream's total_in/total_out, which inflateReset zeroes between members.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  UNRAVEL_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, "read_idx: zlib init failed for '{}'", path);
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&zs, inflateEnd);
  std::vector<uint8_t> out(std::max<size_t>(in.size() * 4, 1 << 16));
  size_t used = 0, produced = 0;
  bool complete = false;
  for (;;) {
    const size_t limit = idx_size_from_header(out.data(), produced);
    if (produced > limit) break;
    if (produced == out.size()) {
      const size_t twice = out.size() * 2;
      out.resize(limit < twice ? std::max(limit + 1, out.size() + 1) : twice);
    }
    zs.next_in = const_cast<Bytef*>(in.data() + used);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(in.size() - used, 1u << 30));
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    const uInt in_before = zs.avail_in, out_before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    used += in_before - zs.avail_in;
    produced += out_before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are legal; continue with the next one if bytes remain.
      if (used == in.size()) {
        complete = true;
        break;
      }
      UNRAVEL_CHECK(inflateReset(&zs) == Z_OK, "read_idx: zlib reset failed for '{}'", path);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && used == in.size()) break;  // input exhausted mid-stream
    UNRAVEL_CHECK(false, "read_idx: '{}' is a corrupt gzip stream: {}", path,
                  zs.msg ? zs.msg : "zlib error " + std::to_string(rc));
  }
  UNRAVEL_CHECK(complete || produced > idx_size_from_header(out.data(), produced),
                "read_idx: '{}' is truncated: the gzip stream ends early (after {} bytes)", path,
                produced);
  out.resize(produced);
  return out;
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int idx_type_size(uint8_t type) {
  const int size = type_size_or_zero(type);
  UNRAVEL_CHECK(size != 0, "idx: unknown type code 0x{:02x}", type);
  return size;
}

namespace {

// Validates and converts the file's bytes (gzip or plain); `path` names it in errors.
IdxArray parse_idx(std::vector<uint8_t> raw, const std::string& path) {
  if (raw.size() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) raw = gunzip(raw, path);
  UNRAVEL_CHECK(raw.size() >= 4, "read_idx: '{}' is truncated: {} bytes, no IDX magic", path,
                raw.size());
  UNRAVEL_CHECK(raw[0] == 0 && raw[1] == 0 && raw[3] >= 1,
                "read_idx: '{}' has a bad magic number 0x{:02x}{:02x}{:02x}{:02x} (expected "
                "00 00 <type> <rank ≥ 1>)",
                path, raw[0], raw[1], raw[2], raw[3]);
  IdxArray a;
  a.type = raw[2];
  const uint8_t t = a.type;
  UNRAVEL_CHECK(t == 0x08 || t == 0x09 || t == 0x0B || t == 0x0C || t == 0x0D || t == 0x0E,
                "read_idx: '{}' has an unknown IDX type code 0x{:02x}", path, t);
  const int tsize = idx_type_size(t);
  const int rank = raw[3];
  const size_t head = 4 + 4 * static_cast<size_t>(rank);
  UNRAVEL_CHECK(raw.size() >= head, "read_idx: '{}' is truncated inside its header ({} of {} bytes)",
                path, raw.size(), head);
  // The element count is checked as it grows: extents of up to 2^32 - 1 each can overflow
  // 64 bits long before the data-size check below could refuse them.
  uint64_t numel = 1;
  for (int d = 0; d < rank; ++d) {
    a.dims.push_back(be32(&raw[4 + 4 * d]));
    UNRAVEL_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(a.dims.back()), &numel) &&
                      numel <= static_cast<uint64_t>(INT64_MAX) / 8,
                  "read_idx: '{}' is corrupt: its extents {} (of {}) multiply beyond 2^60 elements",
                  path, fmt::join(a.dims, "x"), rank);
  }
  const uint64_t bytes = numel * tsize;
  UNRAVEL_CHECK(raw.size() - head >= bytes,
                "read_idx: '{}' is truncated: dims need {} data bytes but {} are present", path,
                bytes, raw.size() - head);
  UNRAVEL_CHECK(raw.size() - head == bytes, "read_idx: '{}' has {} unexpected trailing bytes", path,
                raw.size() - head - bytes);
  a.data.assign(raw.begin() + head, raw.end());
  if (tsize > 1)  // big-endian to host (little-endian x86/arm64)
    for (size_t i = 0; i < a.data.size(); i += tsize) std::reverse(&a.data[i], &a.data[i] + tsize);
  return a;
}

}  // namespace

IdxArray read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

IdxArray read_idx_buffer(const void* data, size_t size, const std::string& name) {
  UNRAVEL_CHECK(data != nullptr || size == 0, "read_idx_buffer('{}'): null data", name);
  const auto* p = static_cast<const uint8_t*>(data);
  return parse_idx(std::vector<uint8_t>(p, p + size), name);
}

void write_idx(const std::string& path, const IdxArray& a, bool gzip) {
  const int tsize = idx_type_size(a.type);
  UNRAVEL_CHECK(!a.dims.empty() && a.dims.size() < 256, "write_idx '{}': rank {} not in [1, 255]",
                path, a.dims.size());
  UNRAVEL_CHECK(a.data.size() == static_cast<size_t>(a.numel()) * tsize,
                "write_idx '{}': {} data bytes for dims of {} elements × {}", path, a.data.size(),
                a.numel(), tsize);
  std::vector<uint8_t> buf = {0, 0, a.type, static_cast<uint8_t>(a.dims.size())};
  for (int64_t d : a.dims)
    for (int s = 24; s >= 0; s -= 8) buf.push_back(static_cast<uint8_t>(uint64_t(d) >> s));
  const size_t head = buf.size();
  buf.insert(buf.end(), a.data.begin(), a.data.end());
  if (tsize > 1)
    for (size_t i = head; i < buf.size(); i += tsize) std::reverse(&buf[i], &buf[i] + tsize);
  if (gzip) {
    gzFile gz = gzopen(path.c_str(), "wb");
    UNRAVEL_CHECK(gz != nullptr, "write_idx: cannot create '{}'", path);
    const int w = gzwrite(gz, buf.data(), static_cast<unsigned>(buf.size()));
    const int c = gzclose(gz);
    UNRAVEL_CHECK(w == static_cast<int>(buf.size()) && c == Z_OK, "write_idx: error writing '{}'",
                  path);
  } else {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    UNRAVEL_CHECK(f != nullptr, "write_idx: cannot create '{}': {}", path, std::strerror(errno));
    UNRAVEL_CHECK(std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size(),
                  "write_idx: error writing '{}'", path);
  }
}

}  // namespace unravel
