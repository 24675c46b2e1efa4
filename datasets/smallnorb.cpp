// SmallNORB from its original binary matrices (datasets/factor_datasets.h).
//
// A matrix file is: int32 magic (0x1E3D4C55 for uint8 data, 0x1E3D4C54 for int32), int32 ndim,
// max(3, ndim) int32 dims (unused trailing ones are 1), then the elements, all little-endian.
// The files are read through zlib's gzread, which reads plain files as they are and the
// published `.mat.gz` downloads too. The category and info files are read first and checked to
// cover the factor grid exactly once; the stereo pairs are then streamed, the left image of each
// resized to size × size (datasets/resize.h) and stored at its grid position, in memory (24 300
// items: 100 MB at 64×64, so no cache file).
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/ranges.h>

#include "datasets/factor_datasets.h"
#include "datasets/resize.h"
#include "engine/check.h"

namespace unravel {

namespace fs = std::filesystem;

namespace {

constexpr int32_t kMagicU8 = 0x1E3D4C55;
constexpr int32_t kMagicI32 = 0x1E3D4C54;

/// One open matrix file (plain or gzip), read sequentially; errors name the file.
class MatFile {
 public:
  MatFile(const std::string& path, int32_t magic, const char* kind) : path_(path) {
    f_ = gzopen(path.c_str(), "rb");
    UNRAVEL_CHECK(f_ != nullptr, "smallnorb: cannot open '{}': {}", path, std::strerror(errno));
    // A refused header throws from the constructor, where the destructor does not run: close
    // here (found by fuzz_smallnorb: the gzip stream's 31 KB leaked per refused file).
    try {
      read_header(magic, kind);
    } catch (...) {
      gzclose(f_);
      f_ = nullptr;
      throw;
    }
  }
  ~MatFile() {
    if (f_) gzclose(f_);
  }
  MatFile(const MatFile&) = delete;
  MatFile& operator=(const MatFile&) = delete;

 private:
  void read_header(int32_t magic, const char* kind) {
    const std::string& path = path_;
    int32_t head[2];
    read(head, sizeof head, "the header");
    UNRAVEL_CHECK(head[0] == magic, "smallnorb '{}': magic 0x{:08X} is not that of an {} matrix "
                  "(0x{:08X})", path, static_cast<uint32_t>(head[0]), kind,
                  static_cast<uint32_t>(magic));
    UNRAVEL_CHECK(head[1] >= 1 && head[1] <= 8, "smallnorb '{}': {} dimensions in the header", path,
                  head[1]);
    dims_.resize(static_cast<size_t>(std::max(head[1], 3)));
    read(dims_.data(), dims_.size() * 4, "the dimensions");
    dims_.resize(static_cast<size_t>(head[1]));
    for (int32_t d : dims_)
      UNRAVEL_CHECK(d >= 1, "smallnorb '{}': dimension {} in the header", path, d);
  }

 public:
  const std::vector<int32_t>& dims() const { return dims_; }
  /// Reads exactly n bytes (`what` names them in the error).
  void read(void* dst, size_t n, const char* what) {
    auto* out = static_cast<uint8_t*>(dst);
    size_t done = 0;
    while (done < n) {
      const unsigned ask = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int r = gzread(f_, out + done, ask);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        UNRAVEL_CHECK(false, "smallnorb '{}': corrupt file while reading {}: {}", path_, what,
                      msg ? msg : "read error");
      }
      UNRAVEL_CHECK(r > 0, "smallnorb '{}': truncated: {} ends after {} of {} bytes", path_, what,
                    done, n);
      done += static_cast<size_t>(r);
    }
  }
  /// Throws unless the file ends here.
  void expect_end() {
    uint8_t extra;
    UNRAVEL_CHECK(gzread(f_, &extra, 1) == 0, "smallnorb '{}': bytes after the {} matrix "
                  "elements (not the size its header gives)", path_, fmt::join(dims_, "x"));
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
  std::vector<int32_t> dims_;
};

std::string find_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const fs::path& p : {fs::path(dir) / name, fs::path(dir) / (name + ".gz")})
    if (fs::is_regular_file(p, ec)) return p.string();
  const std::string want = (fs::path(dir) / name).string();
  UNRAVEL_CHECK(false, "smallnorb: no file '{}' (nor '{}.gz')", want, want);
  return {};
}

std::vector<int32_t> read_ints(const std::string& path, int64_t n, int32_t cols) {
  MatFile f(path, kMagicI32, "int32");
  const auto& d = f.dims();
  const bool ok = cols == 1 ? d.size() == 1 && d[0] == n
                            : d.size() == 2 && d[0] == n && d[1] == cols;
  UNRAVEL_CHECK(ok, "smallnorb '{}': int32 matrix must be [{}{}], got [{}]", path, n,
                cols == 1 ? "" : fmt::format(", {}", cols), fmt::join(d, ", "));
  std::vector<int32_t> v(static_cast<size_t>(n * cols));
  f.read(v.data(), v.size() * 4, "the elements");
  f.expect_end();
  return v;
}

}  // namespace

std::array<std::string, 3> SmallNorb::file_names(bool test) {
  const std::string stem =
      std::string("smallnorb-5x46789x9x18x6x2x96x96-") + (test ? "testing" : "training");
  return {stem + "-dat.mat", stem + "-cat.mat", stem + "-info.mat"};
}

SmallNorb::SmallNorb(const std::string& dir, bool test, int size) {
  name_ = std::string("smallnorb/") + (test ? "test:" : "train:") + dir;
  set_factors({"category", "instance", "elevation", "azimuth", "lighting"},
              {kGrid.begin(), kGrid.end()}, {});
  UNRAVEL_CHECK(size >= 1 && size <= 1024, "smallnorb: item size {} must be in 1..1024", size);
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_directory(dir, ec), "smallnorb: '{}' is not a directory (expected the "
                "folder holding {} and its -cat/-info files)", dir, file_names(test)[0]);
  const auto names = file_names(test);
  const std::string dat_path = find_file(dir, names[0]);
  const std::string cat_path = find_file(dir, names[1]);
  const std::string info_path = find_file(dir, names[2]);
  constexpr int64_t n = kItems;
  const std::vector<int32_t> cat = read_ints(cat_path, n, 1);
  const std::vector<int32_t> info = read_ints(info_path, n, 4);

  // Instance ids per category, ranked.
  std::map<int32_t, std::set<int32_t>> instances;
  for (int64_t i = 0; i < n; ++i) {
    UNRAVEL_CHECK(cat[i] >= 0 && cat[i] < kGrid[0], "smallnorb '{}': category {} of item {} is "
                  "not in 0..4", cat_path, cat[i], i);
    instances[cat[i]].insert(info[i * 4]);
  }
  for (int c = 0; c < kGrid[0]; ++c)
    UNRAVEL_CHECK(instances[c].size() == static_cast<size_t>(kGrid[1]), "smallnorb '{}': category "
                  "{} has {} instances, expected {}", info_path, c, instances[c].size(), kGrid[1]);
  std::vector<int64_t> pos(static_cast<size_t>(n));
  std::vector<uint8_t> seen(static_cast<size_t>(n), 0);
  item_values_.assign(static_cast<size_t>(n * 5), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* in = &info[i * 4];
    const auto& ids = instances[cat[i]];
    const int64_t cls[5] = {cat[i], std::distance(ids.begin(), ids.find(in[0])), in[1], in[2] / 2,
                            in[3]};
    UNRAVEL_CHECK(in[1] >= 0 && in[1] < kGrid[2] && in[2] >= 0 && in[2] % 2 == 0 &&
                      in[2] / 2 < kGrid[3] && in[3] >= 0 && in[3] < kGrid[4],
                  "smallnorb '{}': item {} has info ({}, {}, {}, {}); expected elevation 0..8, "
                  "azimuth 0, 2, .., 34, lighting 0..5", info_path, i, in[0], in[1], in[2], in[3]);
    const int64_t g = grid_index(cls, sizes_, "smallnorb");
    UNRAVEL_CHECK(!seen[g], "smallnorb '{}': item {} repeats the factors of an earlier item "
                  "(category {}, instance {}, elevation {}, azimuth {}, lighting {})", info_path, i,
                  cat[i], in[0], in[1], in[2], in[3]);
    seen[g] = 1;
    pos[i] = g;
    const double v[5] = {static_cast<double>(cat[i]), static_cast<double>(in[0]),
                         30.0 + 5.0 * in[1], 10.0 * in[2], static_cast<double>(in[3])};
    std::copy_n(v, 5, item_values_.begin() + g * 5);
  }

  const ImageDecodeSpec spec{1, size, size, 0};
  px_ = ImagePixels::filled(n, spec, [&](uint8_t* dst, bool) {
    MatFile f(dat_path, kMagicU8, "uint8");
    const auto& d = f.dims();
    UNRAVEL_CHECK(d.size() == 4 && d[0] == n && d[1] == 2 && d[2] == d[3],
                  "smallnorb '{}': the image matrix must be [{}, 2, S, S] (S = 96 as published), "
                  "got [{}]", dat_path, n, fmt::join(d, ", "));
    // S bounds the block buffer below (512 pairs): refused before it is allocated (found by
    // fuzz_smallnorb: a header claiming S = 2^20 asked for 4 TB).
    UNRAVEL_CHECK(d[2] <= 512, "smallnorb '{}': images of {}×{} pixels in the header; at most "
                  "512×512 are read (the published files have 96×96)", dat_path, d[2], d[3]);
    const int s = d[2];
    const size_t pair = 2 * static_cast<size_t>(s) * s, per = static_cast<size_t>(size) * size;
    constexpr int64_t kBlock = 512;
    std::vector<uint8_t> buf(kBlock * pair);
    const Resizer resize(s, s, size, size);
    for (int64_t at = 0; at < n; at += kBlock) {
      const int64_t m = std::min(kBlock, n - at);
      f.read(buf.data(), static_cast<size_t>(m) * pair, "the images");
#pragma omp parallel for schedule(static)
      for (int64_t b = 0; b < m; ++b) {
        std::vector<float> tmp(per);
        resize.apply(buf.data() + b * pair, 1, tmp.data(), 1.f);
        uint8_t* out = dst + pos[at + b] * per;
        for (size_t k = 0; k < per; ++k)
          out[k] = static_cast<uint8_t>(std::clamp(std::lround(tmp[k]), 0L, 255L));
      }
    }
    f.expect_end();
  });
}

}  // namespace unravel
