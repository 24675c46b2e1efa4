// IDX reader/writer (datasets/idx.h). The whole file is decompressed into memory with zlib's
// inflate (gzip wrapper, windowBits 15+16) or read as is, then validated: the two zero bytes of
// the magic, a known type code, rank ≥ 1, and exactly numel × size data bytes after the header.
#include "datasets/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

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

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  UNRAVEL_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, "read_idx: zlib init failed for '{}'", path);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  std::vector<uint8_t> out(std::max<size_t>(in.size() * 4, 1 << 16));
  int rc = Z_OK;
  while (true) {
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - zs.total_out, 1u << 30));
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are legal; continue with the next one if bytes remain.
      if (zs.avail_in == 0) break;
      UNRAVEL_CHECK(inflateReset(&zs) == Z_OK, "read_idx: zlib reset failed for '{}'", path);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out > 0) break;  // input exhausted mid-stream
    const std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
    inflateEnd(&zs);
    UNRAVEL_CHECK(false, "read_idx: '{}' is a corrupt gzip stream: {}", path, msg);
  }
  const size_t total = zs.total_out;
  inflateEnd(&zs);
  UNRAVEL_CHECK(rc == Z_STREAM_END,
                "read_idx: '{}' is truncated: the gzip stream ends early (after {} bytes)", path,
                total);
  out.resize(total);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int idx_type_size(uint8_t type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: UNRAVEL_CHECK(false, "idx: unknown type code 0x{:02x}", type);
  }
  return 0;
}

IdxArray read_idx(const std::string& path) {
  std::vector<uint8_t> raw = read_file(path);
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
  for (int d = 0; d < rank; ++d) a.dims.push_back(be32(&raw[4 + 4 * d]));
  const uint64_t bytes = static_cast<uint64_t>(a.numel()) * tsize;
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
