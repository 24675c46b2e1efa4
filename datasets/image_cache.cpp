// Decoded image items in memory or in a memory-mapped cache file (datasets/image_cache.h).
#include "datasets/image_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>

#include <omp.h>

#include "datasets/jpeg.h"
#include "datasets/resize.h"
#include "engine/check.h"

namespace unravel {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'U', 'N', 'R', 'V', 'I', 'M', 'G', 'C'};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  int64_t count;
  int32_t channels, height, width, crop_side;
  uint64_t fingerprint;
  uint64_t item_bytes;
  uint8_t pad[8];
};
static_assert(sizeof(Header) == 64);

uint64_t fnv(uint64_t h, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

std::string lower_ext(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

/// An open file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) ::close(fd); }
};

}  // namespace

std::vector<std::string> list_image_files(const std::string& dir) {
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_directory(dir, ec), "image folder '{}' is not a directory", dir);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = lower_ext(e.path());
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void decode_image_item(const std::string& path, const ImageDecodeSpec& spec, uint8_t* out) {
  const Image8 img = read_image(path, spec.channels);
  const int c = spec.channels;
  const uint8_t* src = img.data.data();
  int h = img.height, w = img.width;
  std::vector<uint8_t> crop;
  if (spec.crop_side > 0) {
    const int s = spec.crop_side;
    UNRAVEL_CHECK(h >= s && w >= s, "'{}': a {}x{} centre crop needs an image at least that "
                  "large, got {}x{} (width x height)", path, s, s, w, h);
    // torchvision.transforms.CenterCrop: top = round((h - s) / 2), left = round((w - s) / 2).
    const int top = static_cast<int>(std::lround((h - s) / 2.0));
    const int left = static_cast<int>(std::lround((w - s) / 2.0));
    crop.resize(static_cast<size_t>(s) * s * c);
    for (int y = 0; y < s; ++y)
      std::memcpy(&crop[static_cast<size_t>(y) * s * c],
                  src + (static_cast<size_t>(top + y) * w + left) * c, static_cast<size_t>(s) * c);
    src = crop.data();
    h = w = s;
  }
  const size_t per = static_cast<size_t>(c) * spec.height * spec.width;
  std::vector<float> tmp(per);
  Resizer(h, w, spec.height, spec.width).apply(src, c, tmp.data(), 1.f);
  for (size_t k = 0; k < per; ++k)
    out[k] = static_cast<uint8_t>(std::clamp(std::lround(tmp[k]), 0L, 255L));
}

namespace {

void check_spec(const ImageDecodeSpec& s, const std::string& root) {
  UNRAVEL_CHECK(s.channels == 1 || s.channels == 3, "images '{}': channels must be 1 or 3, got {}",
                root, s.channels);
  UNRAVEL_CHECK(s.height > 0 && s.width > 0 && s.height <= 4096 && s.width <= 4096,
                "images '{}': item size {}x{} must be in 1..4096", root, s.height, s.width);
  UNRAVEL_CHECK(s.crop_side >= 0, "images '{}': crop side {} must be >= 0", root, s.crop_side);
}

/// Decodes every file into dst (count × per bytes), OpenMP over files, with progress on stderr
/// when `progress`. Throws naming the first file (in listing order) that failed.
void decode_all(const std::string& root, const std::vector<std::string>& files,
                const ImageDecodeSpec& spec, uint8_t* dst, bool progress) {
  const auto n = static_cast<int64_t>(files.size());
  const int64_t per = static_cast<int64_t>(spec.channels) * spec.height * spec.width;
  std::vector<std::string> errors(files.size());
  std::atomic<int64_t> done{0};
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      decode_image_item((fs::path(root) / files[i]).string(), spec, dst + i * per);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
    const int64_t d = ++done;
    if (progress && omp_get_thread_num() == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last > std::chrono::seconds(1) || d == n) {
        last = now;
        const double s = std::chrono::duration<double>(now - t0).count();
        std::fprintf(stderr, "\r  decoding %lld/%lld images (%.0f images/s)", static_cast<long long>(d),
                     static_cast<long long>(n), d / std::max(s, 1e-9));
      }
    }
  }
  if (progress) std::fprintf(stderr, "\r  decoded %lld images in %.1f s%20s\n",
                             static_cast<long long>(n),
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "");
  for (size_t i = 0; i < errors.size(); ++i)
    UNRAVEL_CHECK(errors[i].empty(), "images '{}': file '{}': {}", root, files[i], errors[i]);
}

}  // namespace

uint64_t image_listing_fingerprint(const std::string& root, const std::vector<std::string>& files,
                                   const ImageDecodeSpec& spec) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const int32_t sp[4] = {spec.channels, spec.height, spec.width, spec.crop_side};
  h = fnv(h, sp, sizeof sp);
  for (const auto& f : files) {
    const std::string path = (fs::path(root) / f).string();
    struct stat st{};
    UNRAVEL_CHECK(::stat(path.c_str(), &st) == 0, "images '{}': cannot stat '{}': {}", root, path,
                  std::strerror(errno));
    const int64_t rec[3] = {static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
                            static_cast<int64_t>(st.st_mtim.tv_nsec)};
    h = fnv(h, f.data(), f.size() + 1);  // with the terminating NUL: names stay separated
    h = fnv(h, rec, sizeof rec);
  }
  return h;
}

std::string image_cache_path(const std::string& root, const std::string& tag,
                             const ImageDecodeSpec& spec, const std::string& cache_dir) {
  std::string dir = cache_dir;
  if (dir.empty()) {
    const char* env = std::getenv("UNRAVEL_CACHE_DIR");
    dir = env && *env ? std::string(env) : (fs::path(root) / ".unravel-cache").string();
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  UNRAVEL_CHECK(fs::is_directory(dir, ec), "image cache folder '{}' cannot be created ({}); set "
                "UNRAVEL_CACHE_DIR to a writable folder", dir, ec.message());
  const std::string abs = fs::absolute(root, ec).lexically_normal().string();
  const uint64_t h = fnv(0xcbf29ce484222325ULL, abs.data(), abs.size());
  return (fs::path(dir) / fmt::format("{}-{:016x}-c{}-{}x{}-crop{}-v{}.u8", tag, h, spec.channels,
                                      spec.height, spec.width, spec.crop_side, kImageCacheVersion))
      .string();
}

ImagePixels ImagePixels::decode(const std::string& root, const std::vector<std::string>& files,
                                const ImageDecodeSpec& spec) {
  check_spec(spec, root);
  UNRAVEL_CHECK(!files.empty(), "images '{}': no image files", root);
  return filled(static_cast<int64_t>(files.size()), spec, [&](uint8_t* dst, bool) {
    decode_all(root, files, spec, dst, false);
  });
}

ImagePixels ImagePixels::filled(int64_t count, const ImageDecodeSpec& spec, const ItemFill& fill) {
  check_spec(spec, "<items>");
  UNRAVEL_CHECK(count > 0, "images: {} items", count);
  ImagePixels p;
  p.spec_ = spec;
  p.count_ = count;
  p.memory_.resize(static_cast<size_t>(p.count_ * p.item_bytes()));
  fill(p.memory_.data(), false);
  p.base_ = p.memory_.data();
  return p;
}

namespace {

Header expected_header(int64_t count, const ImageDecodeSpec& spec, uint64_t fingerprint) {
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kImageCacheVersion;
  h.header_bytes = sizeof(Header);
  h.count = count;
  h.channels = spec.channels;
  h.height = spec.height;
  h.width = spec.width;
  h.crop_side = spec.crop_side;
  h.fingerprint = fingerprint;
  h.item_bytes = static_cast<uint64_t>(spec.channels) * spec.height * spec.width;
  return h;
}

/// Maps `path` when it is a complete cache with exactly header `want`; else returns null and
/// says why in `why`.
void* try_map(const std::string& path, const Header& want, size_t& length, std::string& why) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) { why = "no cache file yet"; return nullptr; }
  Header got{};
  if (::pread(f.fd, &got, sizeof got, 0) != static_cast<ssize_t>(sizeof got)) {
    why = "the cache file is shorter than its header";
    return nullptr;
  }
  if (std::memcmp(got.magic, kMagic, 8) != 0) { why = "the cache file has a wrong magic"; return nullptr; }
  if (got.version != want.version) {
    why = fmt::format("the cache file has version {}, this build writes {}", got.version, want.version);
    return nullptr;
  }
  if (std::memcmp(&got, &want, sizeof got) != 0) {
    why = got.fingerprint != want.fingerprint ? "the source folder changed (file names, sizes or "
                                                 "times differ from when the cache was built)"
                                               : "the cache file's shape or count differ";
    return nullptr;
  }
  struct stat st{};
  length = sizeof(Header) + static_cast<size_t>(want.count) * want.item_bytes;
  if (::fstat(f.fd, &st) != 0 || static_cast<size_t>(st.st_size) != length) {
    why = fmt::format("the cache file has {} bytes, expected {}", static_cast<int64_t>(st.st_size), length);
    return nullptr;
  }
  void* addr = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, f.fd, 0);
  if (addr == MAP_FAILED) { why = fmt::format("mmap failed: {}", std::strerror(errno)); return nullptr; }
  return addr;
}

/// Fills `<path>.tmp.<pid>` and renames it over `path`.
void build_cache(const ItemFill& fill, const std::string& path, const Header& header,
                 bool verbose) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  Fd f{::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  UNRAVEL_CHECK(f.fd >= 0, "image cache: cannot create '{}': {}", tmp, std::strerror(errno));
  const size_t length = sizeof(Header) + static_cast<size_t>(header.count) * header.item_bytes;
  try {
    UNRAVEL_CHECK(::ftruncate(f.fd, static_cast<off_t>(length)) == 0,
                  "image cache: cannot size '{}' to {} bytes: {}", tmp, length, std::strerror(errno));
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
    UNRAVEL_CHECK(addr != MAP_FAILED, "image cache: cannot map '{}': {}", tmp, std::strerror(errno));
    struct Unmap {
      void* a;
      size_t n;
      ~Unmap() { ::munmap(a, n); }
    } unmap{addr, length};
    auto* bytes = static_cast<uint8_t*>(addr);
    fill(bytes + sizeof(Header), verbose);
    std::memcpy(bytes, &header, sizeof header);  // the header last: a torn file has none
    UNRAVEL_CHECK(::msync(addr, length, MS_SYNC) == 0 && ::fsync(f.fd) == 0,
                  "image cache: cannot flush '{}': {}", tmp, std::strerror(errno));
    UNRAVEL_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "image cache: cannot rename '{}' to "
                  "'{}': {}", tmp, path, std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

ImagePixels ImagePixels::cached(const std::string& root, const std::vector<std::string>& files,
                                const ImageDecodeSpec& spec, const std::string& cache_path,
                                bool verbose) {
  check_spec(spec, root);
  UNRAVEL_CHECK(!files.empty(), "images '{}': no image files", root);
  return cached_fill(root, static_cast<int64_t>(files.size()), spec,
                     image_listing_fingerprint(root, files, spec), cache_path,
                     [&](uint8_t* dst, bool v) { decode_all(root, files, spec, dst, v); }, verbose);
}

ImagePixels ImagePixels::cached_fill(const std::string& root, int64_t count,
                                     const ImageDecodeSpec& spec, uint64_t fingerprint,
                                     const std::string& cache_path, const ItemFill& fill,
                                     bool verbose) {
  check_spec(spec, root);
  UNRAVEL_CHECK(count > 0, "images '{}': {} items", root, count);
  const Header want = expected_header(count, spec, fingerprint);
  ImagePixels p;
  p.spec_ = spec;
  p.count_ = want.count;
  size_t length = 0;
  std::string why;
  void* addr = try_map(cache_path, want, length, why);
  if (!addr) {
    const std::string lock_path = cache_path + ".lock";
    Fd lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
    UNRAVEL_CHECK(lock.fd >= 0, "image cache: cannot open lock '{}': {}", lock_path, std::strerror(errno));
    int rc;
    while ((rc = ::flock(lock.fd, LOCK_EX)) != 0 && errno == EINTR) {}
    UNRAVEL_CHECK(rc == 0, "image cache: cannot lock '{}': {}", lock_path, std::strerror(errno));
    // Another process may have built it while we waited for the lock.
    addr = try_map(cache_path, want, length, why);
    if (!addr) {
      // Holding the lock, no other builder is running: temp files left here were a crashed
      // builder's (killed mid-build), so they go.
      const fs::path cp(cache_path);
      const std::string stem = cp.filename().string() + ".tmp.";
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(cp.parent_path().empty() ? "." : cp.parent_path(), ec))
        if (e.path().filename().string().rfind(stem, 0) == 0) fs::remove(e.path(), ec);
      if (verbose)
        std::fprintf(stderr, "building image cache %s for %lld items of %s (%s)\n", cache_path.c_str(),
                     static_cast<long long>(want.count), root.c_str(), why.c_str());
      build_cache(fill, cache_path, want, verbose);
      p.built_ = true;
      addr = try_map(cache_path, want, length, why);
      UNRAVEL_CHECK(addr != nullptr, "image cache '{}': just built but cannot be read back: {}",
                    cache_path, why);
    }
    ::flock(lock.fd, LOCK_UN);
  }
  p.map_ = std::shared_ptr<void>(addr, [length](void* a) { ::munmap(a, length); });
  p.base_ = static_cast<const uint8_t*>(addr) + sizeof(Header);
  return p;
}

void ImagePixels::to_f32(std::span<const int64_t> indices, float* out) const {
  const int64_t per = item_bytes();
  for (size_t b = 0; b < indices.size(); ++b) {
    const uint8_t* s = item(indices[b]);
    float* o = out + static_cast<int64_t>(b) * per;
    for (int64_t k = 0; k < per; ++k) o[k] = s[k] * (1.f / 255.f);
  }
}

}  // namespace unravel
