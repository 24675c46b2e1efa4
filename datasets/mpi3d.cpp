// MPI3D from its published .npz files (datasets/factor_datasets.h).
//
// The member `images` is 1 036 800 × 12 288 bytes = 12.7 GB, so it is never held whole: it is
// streamed out of the archive (stored or deflated alike, datasets/npz.h NpzMemberReader) in
// blocks of 1024 images, converted to planar bytes and written into the memory-mapped cache
// file of datasets/image_cache.h, once per version of the .npz (its size and mtime). The whole
// member is read, so its CRC is checked before the cache is committed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/ranges.h>

#include "datasets/factor_datasets.h"
#include "datasets/npz.h"
#include "engine/check.h"
#include "engine/io/npy.h"

namespace unravel {

namespace {

/// Streams member `images` (uint8 [n, 64, 64, 3], C order) of `path` into dst as planar items.
void read_images(const std::string& path, int64_t n, uint8_t* dst, bool verbose) {
  constexpr int64_t kBlock = 1024, kItem = 64 * 64 * 3;
  NpzReader npz(path);
  NpzMemberReader member(npz, "images");
  const std::string what = path + ":images.npy";
  uint8_t first[12] = {};
  UNRAVEL_CHECK(member.size() >= sizeof first, "mpi3d '{}': member 'images.npy' has only {} bytes",
                path, member.size());
  member.read(first, sizeof first);
  const uint64_t hlen = npy_header_length(first, what);
  UNRAVEL_CHECK(hlen >= sizeof first && hlen <= (1u << 20), "mpi3d '{}': member 'images.npy' has "
                "a malformed header ({} bytes)", path, hlen);
  std::vector<uint8_t> head(hlen);
  std::copy_n(first, sizeof first, head.begin());
  member.read(head.data() + sizeof first, hlen - sizeof first);
  const NpyHeader h = parse_npy_header(head.data(), head.size(), what);
  UNRAVEL_CHECK(h.descr == "|u1" && !h.fortran_order && h.shape == Shape({n, 64, 64, 3}),
                "mpi3d '{}': member 'images.npy' must be uint8 [{}, 64, 64, 3] in C order, got "
                "'{}' {}{}", path, n, h.descr, h.shape.str(),
                h.fortran_order ? " (Fortran order)" : "");
  UNRAVEL_CHECK(member.size() == hlen + static_cast<uint64_t>(n * kItem),
                "mpi3d '{}': member 'images.npy' has {} bytes, its header promises {}", path,
                member.size(), hlen + static_cast<uint64_t>(n * kItem));
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(kBlock, n) * kItem));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t at = 0; at < n; at += kBlock) {
    const int64_t m = std::min(kBlock, n - at);
    member.read(buf.data(), static_cast<uint64_t>(m * kItem));
    interleaved_to_planar(buf.data(), m, 3, 64 * 64, dst + at * kItem);
    if (verbose && ((at / kBlock) % 50 == 49 || at + m == n))
      std::fprintf(stderr, "\r  mpi3d: read %lld/%lld images (%.0f s)",
                   static_cast<long long>(at + m), static_cast<long long>(n),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (verbose) std::fprintf(stderr, "\n");
  member.finish();
}

}  // namespace

Mpi3D::Mpi3D(const std::string& path, const GridDataOptions& opts) {
  name_ = "mpi3d:" + path;
  set_factors({"object_color", "object_shape", "object_size", "camera_height", "background_color",
               "horizontal_axis", "vertical_axis"},
              {kGrid.begin(), kGrid.end()}, opts.grid);
  std::error_code ec;
  UNRAVEL_CHECK(std::filesystem::is_regular_file(path, ec), "mpi3d: '{}' is not a file (expected "
                "mpi3d_toy.npz, mpi3d_realistic.npz or mpi3d_real.npz)", path);
  const int64_t n = grid_size();
  {
    // Checked on every open (cheap: the archive's directory), so a wrong file is named at once.
    NpzReader npz(path);
    UNRAVEL_CHECK(npz.has("images"), "mpi3d '{}': no member 'images.npy' (members: {})", path,
                  fmt::join(npz.members(), ", "));
    const uint64_t want = static_cast<uint64_t>(n) * 64 * 64 * 3;
    UNRAVEL_CHECK(npz.member_size("images") > want, "mpi3d '{}': member 'images.npy' has {} "
                  "bytes, too few for {} images of 64x64x3 (grid {})", path,
                  npz.member_size("images"), n, fmt::join(sizes_, "x"));
  }
  class_values_.resize(sizes_.size());
  for (size_t j = 0; j < sizes_.size(); ++j)
    for (int64_t c = 0; c < sizes_[j]; ++c) class_values_[j].push_back(static_cast<double>(c));

  const ImageDecodeSpec spec{3, 64, 64, 0};
  uint64_t fingerprint = 0;
  const std::string cache = file_cache_path(path, "mpi3d", spec, opts.cache_dir, fingerprint);
  px_ = ImagePixels::cached_fill(
      path, n, spec, fingerprint, cache,
      [&](uint8_t* dst, bool verbose) { read_images(path, n, dst, verbose); }, opts.verbose);
}

}  // namespace unravel
