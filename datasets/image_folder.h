// A folder of PNG or JPEG images (user data): every *.png, *.jpg and *.jpeg file directly inside
// the folder (extension case-insensitive; the content is told apart by its signature), sorted
// by file name (byte order), decoded with libpng / libjpeg-turbo, converted to grey
// (channels = 1) or RGB (channels = 3), optionally centre-cropped, and resized to height × width
// with the PIL-style triangle filter of datasets/resize.h. Images are decoded once and held as
// u8 CHW, in memory or (cache = true) in a memory-mapped cache file (datasets/image_cache.h);
// batches are f32 in [0, 1]. A file that cannot be read raises an error naming it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_cache.h"

namespace unravel {

struct ImageFolderOptions {
  int channels = 1;   ///< 1 (grey) or 3 (RGB)
  int height = 64;    ///< output size
  int width = 64;
  int crop_side = 0;  ///< centred square crop before resizing (0 = none)
  bool cache = false; ///< decode once into a memory-mapped cache file instead of memory
  std::string cache_dir{};  ///< where the cache goes ("" = image_cache_path's default)
};

class ImageFolder final : public Dataset {
 public:
  /// Loads every PNG/JPEG in `dir` (OpenMP over files); throws when the folder is missing, holds
  /// no image, or any file is unreadable.
  ImageFolder(const std::string& dir, const ImageFolderOptions& opts = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Shape item_shape() const override { return Shape{channels_, height_, width_}; }
  std::string name() const override { return "image-folder:" + dir_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool prefetch_batches() const override { return true; }

  /// File name (without directory) of item i.
  const std::string& file_name(int64_t i) const { return files_.at(static_cast<size_t>(i)); }
  /// Resized u8 pixels of item i, CHW.
  const uint8_t* pixels(int64_t i) const { return px_.item(i); }
  /// The decoded items (in memory or mapped).
  const ImagePixels& items() const { return px_; }

 private:
  std::string dir_;
  int channels_, height_, width_;
  std::vector<std::string> files_;
  ImagePixels px_;
};

}  // namespace unravel
