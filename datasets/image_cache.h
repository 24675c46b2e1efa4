// Decoded image items (u8, CHW) for a list of PNG/JPEG files: decoded once, centre-cropped and
// resized, held either in memory or in a cache file that is memory-mapped.
//
// The cache file (one per source folder, decode spec and format version) is
//   header (64 bytes): magic "UNRVIMGC", u32 version, u32 header bytes, i64 count,
//     i32 channels, height, width, crop side, u64 fingerprint of the source listing
//     (relative names, byte sizes and mtimes in ns, in listing order, and the decode spec),
//     u64 bytes per item
//   count × channels × height × width bytes.
// Opening checks magic, version, shape, count, file length and the fingerprint of the listing as
// it is now; any difference (a file added, removed, rewritten) rebuilds it. Building decodes the
// files with OpenMP into `<cache>.tmp.<pid>`, fsyncs and renames it over the cache, holding an
// flock on `<cache>.lock`: builders that start at once serialise on the lock, and those that
// get it after the winner find a valid cache and map it (a crashed builder's lock is released by
// the kernel, and the next builder, holding the lock, deletes the temp file it left). Readers
// never see a partial file. Progress of a build goes to stderr.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unravel {

/// How each file becomes an item.
struct ImageDecodeSpec {
  int channels = 3;   ///< 1 (grey, BT.601 luma) or 3 (RGB)
  int height = 64;    ///< item size after resizing
  int width = 64;
  /// Side of a centred square crop taken before resizing (torchvision CenterCrop: top-left at
  /// round((H − side) / 2), round((W − side) / 2)); 0 = the whole image.
  int crop_side = 0;
};

/// Version of the cache format and of the decoding it stores (bump when either changes).
inline constexpr uint32_t kImageCacheVersion = 1;

/// Reads one PNG/JPEG file (by its signature), crops and resizes it (PIL-style triangle filter,
/// datasets/resize.h) into `out` (channels × height × width bytes, planar).
void decode_image_item(const std::string& path, const ImageDecodeSpec& spec, uint8_t* out);

/// Writes `count` items as planar bytes (C × H × W each, item after item) into `dst`; `verbose`:
/// progress on stderr. Used for sources that are not a list of image files (3D Shapes' HDF5,
/// MPI3D's .npz, SmallNORB's matrices): errors it throws name its source.
using ItemFill = std::function<void(uint8_t* dst, bool verbose)>;

/// The decoded items of a file list (or of any source an ItemFill reads).
class ImagePixels {
 public:
  /// Decodes `files` (relative to `root`) into memory (OpenMP over files). Errors name the file.
  static ImagePixels decode(const std::string& root, const std::vector<std::string>& files,
                            const ImageDecodeSpec& spec);
  /// Maps the cache file `cache_path` for `files`, building (or rebuilding) it first when it is
  /// missing or stale. `verbose`: progress and a note when building.
  static ImagePixels cached(const std::string& root, const std::vector<std::string>& files,
                            const ImageDecodeSpec& spec, const std::string& cache_path,
                            bool verbose = true);

  /// `count` items written by `fill` into memory.
  static ImagePixels filled(int64_t count, const ImageDecodeSpec& spec, const ItemFill& fill);
  /// As cached(), for a source read by `fill`: the cache is valid while its header holds `count`,
  /// `spec` and `fingerprint` (make it from the source file's stat, image_listing_fingerprint);
  /// `source` names the data in messages.
  static ImagePixels cached_fill(const std::string& source, int64_t count,
                                 const ImageDecodeSpec& spec, uint64_t fingerprint,
                                 const std::string& cache_path, const ItemFill& fill,
                                 bool verbose = true);

  /// No items (a placeholder to assign to).
  static ImagePixels decode_none() { return ImagePixels(); }

  ImagePixels(ImagePixels&&) noexcept = default;
  ImagePixels& operator=(ImagePixels&&) noexcept = default;

  int64_t size() const { return count_; }
  const ImageDecodeSpec& spec() const { return spec_; }
  int64_t item_bytes() const { return static_cast<int64_t>(spec_.channels) * spec_.height * spec_.width; }
  /// Pixels of item i (CHW bytes).
  const uint8_t* item(int64_t i) const { return base_ + i * item_bytes(); }
  /// True when the items come from a mapped cache file.
  bool is_mapped() const { return map_ != nullptr; }
  /// True when cached() had to (re)build the file.
  bool was_built() const { return built_; }
  /// Writes items `indices` as f32 in [0, 1] into `out` (contiguous [n, C, H, W], CPU).
  void to_f32(std::span<const int64_t> indices, float* out) const;

 private:
  ImagePixels() = default;
  ImageDecodeSpec spec_{};
  int64_t count_ = 0;
  std::vector<uint8_t> memory_;
  std::shared_ptr<void> map_;  ///< the mapped cache file (munmap on release)
  const uint8_t* base_ = nullptr;
  bool built_ = false;
};

/// Fingerprint of a listing as the cache stores it (stat of every file, plus the spec).
uint64_t image_listing_fingerprint(const std::string& root, const std::vector<std::string>& files,
                                   const ImageDecodeSpec& spec);

/// Where a dataset's cache file goes: `cache_dir` when not empty, else `$UNRAVEL_CACHE_DIR` when
/// set, else `<root>/.unravel-cache`; the name is `<tag>-<hash of root's absolute path>-c<C>-
/// <H>x<W>-crop<S>-v<version>.u8`. Creates the folder.
std::string image_cache_path(const std::string& root, const std::string& tag,
                             const ImageDecodeSpec& spec, const std::string& cache_dir = "");

/// The image files (names ending .png, .jpg or .jpeg, any case) directly inside `dir`, sorted
/// by name (byte order).
std::vector<std::string> list_image_files(const std::string& dir);

}  // namespace unravel
