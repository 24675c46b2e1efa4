// Malformed dataset files found by the fuzz targets of tests/fuzz (scripts/fuzz.sh), kept as
// unit tests of the loaders: each is refused with an error naming the file, before any
// allocation sized from the file's claims. Also the memory-buffer entry points the fuzz targets
// use, which must read exactly what the file readers read.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/dsprites.h"
#include "datasets/idx.h"
#include "datasets/npz.h"
#include "datasets/png.h"
#include "engine/check.h"
#include "engine/io/npy.h"

using namespace unravel;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("unravel_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const Bytes& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}

void put_be32(Bytes& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(v >> (24 - 8 * k));
}
void put_le32(Bytes& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(v >> (8 * k));
}

// Offsets of the zip records with signature PK<a><b>.
std::vector<size_t> find_records(const Bytes& zip, uint8_t a, uint8_t b) {
  std::vector<size_t> at;
  for (size_t i = 0; i + 4 <= zip.size(); ++i)
    if (zip[i] == 'P' && zip[i + 1] == 'K' && zip[i + 2] == a && zip[i + 3] == b) at.push_back(i);
  return at;
}

// Sets the uncompressed size of every member, in the local headers and the central directory.
Bytes with_claimed_size(Bytes zip, uint32_t size) {
  for (size_t at : find_records(zip, 3, 4)) put_le32(zip, at + 22, size);
  for (size_t at : find_records(zip, 1, 2)) put_le32(zip, at + 24, size);
  return zip;
}

}  // namespace

TEST_CASE("idx: extents whose product overflows are refused, not multiplied (fuzz_idx)") {
  Bytes b = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
  put_be32(b, 8, 0xFFFFFFFFu);
  put_be32(b, 12, 0xFFFFFFFFu);
  CHECK_THROWS_WITH_AS(read_idx_buffer(b.data(), b.size(), "huge-idx3-ubyte"),
                       doctest::Contains("'huge-idx3-ubyte' is corrupt: its extents"), Error);
  const fs::path dir = temp_dir("malformed_idx");
  spit(dir / "huge", b);
  CHECK_THROWS_WITH_AS(read_idx((dir / "huge").string()),
                       doctest::Contains("multiply beyond 2^60 elements"), Error);
  fs::remove_all(dir);
}

TEST_CASE("idx: concatenated gzip members are decoded one after the other") {
  const fs::path dir = temp_dir("malformed_gz");
  IdxArray a{0x0B, {3, 2}, {}};
  for (int i = 0; i < 12; ++i) a.data.push_back(static_cast<uint8_t>(i * 19));
  write_idx((dir / "plain").string(), a, false);
  const Bytes plain = slurp(dir / "plain");
  // The same bytes as two gzip members (gzopen "ab" appends a member), split inside the data.
  const std::string gz = (dir / "two.gz").string();
  for (const char* mode : {"wb", "ab"}) {
    gzFile f = gzopen(gz.c_str(), mode);
    REQUIRE(f != nullptr);
    const size_t half = 11, from = mode[0] == 'w' ? 0 : half;
    const size_t n = mode[0] == 'w' ? half : plain.size() - half;
    REQUIRE(gzwrite(f, plain.data() + from, static_cast<unsigned>(n)) == static_cast<int>(n));
    REQUIRE(gzclose(f) == Z_OK);
  }
  const IdxArray b = read_idx(gz);
  CHECK(b.type == a.type);
  CHECK(b.dims == a.dims);
  CHECK(b.data == read_idx((dir / "plain").string()).data);
  fs::remove_all(dir);
}

TEST_CASE("idx: a gzip stream longer than its header says is refused after the header's size") {
  const fs::path dir = temp_dir("malformed_bomb");
  // The header promises one byte; the stream holds 8 MB of zeros after it.
  Bytes raw = {0, 0, 0x08, 1, 0, 0, 0, 1, 7};
  raw.resize(raw.size() + (8u << 20), 0);
  const std::string gz = (dir / "bomb.gz").string();
  gzFile f = gzopen(gz.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, raw.data(), static_cast<unsigned>(raw.size())) == static_cast<int>(raw.size()));
  REQUIRE(gzclose(f) == Z_OK);
  CHECK(fs::file_size(gz) < 20000);
  CHECK_THROWS_WITH_AS(read_idx(gz), doctest::Contains("unexpected trailing bytes"), Error);
  fs::remove_all(dir);
}

TEST_CASE("png: a chunk longer than the file is refused before libpng allocates it (fuzz_png)") {
  // fuzz_png's find: a 9x3 grey IHDR, then an sPLT chunk claiming 1 665 684 045 bytes, which
  // libpng 1.6.39 allocated in png_image_begin_read_from_memory before finding the file short.
  const Bytes b = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
      0x52, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x69,
      0x71, 0x18, 0xdb, 0x63, 0x48, 0x52, 0x4d, 0x73, 0x50, 0x4c, 0x54, 0x08, 0x99, 0x63, 0x60,
      0x50, 0x65, 0xe0, 0x36, 0x60, 0x10, 0xb3, 0x06, 0x00, 0x02, 0x6a, 0x00, 0xb2, 0xf9, 0x02,
      0xc3, 0x89};
  for (int channels : {1, 3})
    CHECK_THROWS_WITH_AS(read_png_buffer(b.data(), b.size(), channels, "splt.png"),
                         doctest::Contains("'splt.png' is truncated or corrupt: chunk 'sPLT'"),
                         Error);
}

TEST_CASE("png: a header claiming more pixels than the file holds, or than the limit, is refused") {
  const fs::path dir = temp_dir("malformed_png");
  const std::vector<uint8_t> px(5 * 4, 200);
  write_png_gray((dir / "small.png").string(), 5, 4, px.data());
  const Bytes good = slurp(dir / "small.png");
  // IHDR at byte 8: length, "IHDR", width, height, ...; its CRC covers type and data.
  auto claim = [](Bytes b, uint32_t w, uint32_t h) {
    put_be32(b, 16, w);
    put_be32(b, 20, h);
    put_be32(b, 29, static_cast<uint32_t>(crc32(0, b.data() + 12, 17)));
    return b;
  };
  const Bytes big = claim(good, 60000, 60000);
  CHECK_THROWS_WITH_AS(read_png_buffer(big.data(), big.size(), 1, "big.png"),
                       doctest::Contains("'big.png' is truncated or corrupt: its header says "
                                         "60000x60000 pixels"), Error);
  // Padded with an ancillary chunk to hold 20000 x 20000 one-bit pixels, it is still 1.2 GB as
  // RGB: over kMaxPngBytes.
  Bytes padded = claim(good, 20000, 20000);
  const uint32_t pad = 50000;
  Bytes chunk(12 + pad, 0);
  put_be32(chunk, 0, pad);
  std::memcpy(chunk.data() + 4, "prVt", 4);
  put_be32(chunk, 8 + pad, static_cast<uint32_t>(crc32(0, chunk.data() + 4, 4 + pad)));
  padded.insert(padded.begin() + 33, chunk.begin(), chunk.end());
  CHECK_THROWS_WITH_AS(read_png_buffer(padded.data(), padded.size(), 3, "padded.png"),
                       doctest::Contains("'padded.png' is too large: 20000x20000 pixels"), Error);
  // The file reader takes the same path.
  spit(dir / "big.png", big);
  CHECK_THROWS_WITH_AS(read_png((dir / "big.png").string(), 1),
                       doctest::Contains("big.png' is truncated or corrupt"), Error);
  CHECK(read_png_buffer(good.data(), good.size(), 1, "small.png").data == px);
  fs::remove_all(dir);
}

TEST_CASE("npz: member sizes the archive cannot hold are refused before allocating (fuzz_npz)") {
  const fs::path dir = temp_dir("malformed_npz");
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{4});
  save_npz((dir / "deflated.npz").string(), {{"a", a}}, true);
  save_npz((dir / "stored.npz").string(), {{"a", a}}, false);
  const Bytes deflated = with_claimed_size(slurp(dir / "deflated.npz"), 0x7FFFFFFF);
  spit(dir / "claims.npz", deflated);
  CHECK_THROWS_WITH_AS(NpzReader((dir / "claims.npz").string()).read("a"),
                       doctest::Contains("more than deflate can expand"), Error);
  const Bytes stored = with_claimed_size(slurp(dir / "stored.npz"), 1u << 30);
  CHECK_THROWS_WITH_AS(NpzReader(stored.data(), stored.size(), "stored.npz").read("a"),
                       doctest::Contains("'stored.npz': member 'a.npy' is corrupt: stored "
                                         "uncompressed"), Error);
  fs::remove_all(dir);
}

TEST_CASE("npz and dSprites from a memory buffer read what the file readers read") {
  const fs::path dir = temp_dir("npz_buffer");
  std::vector<int64_t> cls(2 * 6, 0);
  cls[6 + 5] = 1;  // items (.., 0) and (.., 1): the grid of sizes 1, 1, 1, 1, 2
  const Tensor classes = Tensor::from_vector(cls, Shape{2, 6});
  const Tensor values = Tensor::from_vector(std::vector<double>(12, 0.5), Shape{2, 6});
  const Tensor imgs = Tensor::from_vector(std::vector<uint8_t>(2 * 64 * 64, 1), Shape{2, 64, 64});
  const std::string path = (dir / "d.npz").string();
  save_npz(path, {{"imgs", imgs}, {"latents_classes", classes}, {"latents_values", values}}, true);
  const Bytes bytes = slurp(path);
  const NpzReader mem(bytes.data(), bytes.size(), "in-memory.npz");
  CHECK(mem.members() == NpzReader(path).members());
  CHECK(mem.read("latents_classes").to_vector<int64_t>() == cls);
  const DSprites a = DSprites::from_npz(path), b = DSprites::from_npz(mem);
  CHECK(b.size() == a.size());
  CHECK(b.factor_sizes() == a.factor_sizes());
  CHECK(b.name() == "dsprites:in-memory.npz");
  CHECK_THROWS_WITH_AS(NpzReader(bytes.data(), 20, "short.npz"),
                       doctest::Contains("cannot open 'short.npz'"), Error);
  fs::remove_all(dir);
}
