// A folder of PNG images (user data): every *.png file directly inside the folder (extension
// case-insensitive), sorted by file name (byte order), read with libpng, converted to grey
// (channels = 1) or RGB (channels = 3), and resized to height × width with the PIL-style
// triangle filter of datasets/resize.h. Images are resized once at load and held as u8 CHW;
// batches are f32 in [0, 1]. A file that cannot be read raises an error naming it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace unravel {

struct ImageFolderOptions {
  int channels = 1;   ///< 1 (grey) or 3 (RGB)
  int height = 64;    ///< output size
  int width = 64;
};

class ImageFolder final : public Dataset {
 public:
  /// Loads every PNG in `dir` (OpenMP over files); throws when the folder is missing, holds no
  /// PNG, or any file is unreadable.
  ImageFolder(const std::string& dir, const ImageFolderOptions& opts = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Shape item_shape() const override { return Shape{channels_, height_, width_}; }
  std::string name() const override { return "image-folder:" + dir_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;

  /// File name (without directory) of item i.
  const std::string& file_name(int64_t i) const { return files_.at(static_cast<size_t>(i)); }
  /// Resized u8 pixels of item i, CHW.
  const uint8_t* pixels(int64_t i) const { return data_.data() + i * item_numel(); }

 private:
  std::string dir_;
  int channels_, height_, width_;
  std::vector<std::string> files_;
  std::vector<uint8_t> data_;  // N × C × H × W
};

}  // namespace unravel
