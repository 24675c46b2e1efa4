// Photographs and renders as their publishers distribute them, decoded once into a memory-mapped
// cache (datasets/image_cache.h):
//
//  * CelebA, aligned and cropped version: `<root>/img_align_celeba/*.jpg` (178×218 JPEGs) and
//    optionally `<root>/list_attr_celeba.txt`; `root` may also be the img_align_celeba folder
//    itself (the attribute file is then looked for beside it and inside it). Each image is
//    centre-cropped to 148×148 (torchvision CenterCrop(148): box x 15..163, y 35..183 of a
//    178×218 image) and resized to 64×64, as in AntixK/PyTorch-VAE (experiment.py / dataset.py:
//    CenterCrop(148), Resize(64)). The 40 attributes are 40 binary factors (class 1 = attribute
//    present): observed labels of real photos, not a full grid, so metrics that need only codes
//    and factor classes (encode_dataset → CodeTable: MIG, SAP, DCI and the table-based
//    β-VAE/FactorVAE scores) can use them, and anything that asks for the image of a given
//    factor tuple (index_of_factors: DatasetFactorSource, FactorSampler) is refused with a
//    message that says so.
//  * 3D chairs (Aubry et al. 2014): `<root>/rendered_chairs/<model>/renders/*.png` (600×600);
//    `root` may be the rendered_chairs folder itself. Whole images resized to 64×64; the label of
//    an image is the index of its chair model (folders sorted by name).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_cache.h"

namespace unravel {

struct PhotoOptions {
  int channels = 3;          ///< 1 (grey) or 3 (RGB)
  int size = 64;             ///< items are size × size
  std::string cache_dir{};   ///< "" = image_cache_path's default
  bool verbose = true;       ///< progress while building the cache
};

class CelebA final : public Dataset {
 public:
  static constexpr int kCropSide = 148;
  static constexpr int kNumAttributes = 40;
  CelebA(const std::string& root, const PhotoOptions& opts = {});

  int64_t size() const override { return px_.size(); }
  Shape item_shape() const override { return Shape{spec().channels, spec().height, spec().width}; }
  std::string name() const override { return "celeba:" + image_dir_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool prefetch_batches() const override { return true; }

  /// True when list_attr_celeba.txt was found (then the dataset has 40 binary factors).
  bool has_attributes() const { return !attr_.empty(); }
  int num_factors() const override { return has_attributes() ? kNumAttributes : 0; }
  std::vector<std::string> factor_names() const override { return attr_names_; }
  std::vector<int64_t> factor_sizes() const override;
  using Dataset::factor_classes;
  using Dataset::factor_values;
  void factor_classes(int64_t i, std::span<int64_t> out) const override;
  void factor_values(int64_t i, std::span<double> out) const override;
  /// Always refuses: the attributes are not a grid (see the file comment).
  int64_t index_of_factors(std::span<const int64_t> classes) const override;

  const std::string& file_name(int64_t i) const { return files_.at(static_cast<size_t>(i)); }
  const ImagePixels& items() const { return px_; }
  const std::string& attribute_file() const { return attr_path_; }

 private:
  const ImageDecodeSpec& spec() const { return px_.spec(); }
  std::string image_dir_, attr_path_;
  std::vector<std::string> files_;
  ImagePixels px_;
  std::vector<std::string> attr_names_;
  std::vector<uint8_t> attr_;  // N × 40, 0/1
};

class Chairs3D final : public Dataset {
 public:
  Chairs3D(const std::string& root, const PhotoOptions& opts = {});

  int64_t size() const override { return px_.size(); }
  Shape item_shape() const override {
    return Shape{px_.spec().channels, px_.spec().height, px_.spec().width};
  }
  std::string name() const override { return "chairs:" + dir_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool prefetch_batches() const override { return true; }
  bool has_labels() const override { return true; }
  int64_t num_classes() const override { return static_cast<int64_t>(models_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }

  /// Relative path (<model>/renders/<file>) of item i; the chair model folders.
  const std::string& file_name(int64_t i) const { return files_.at(static_cast<size_t>(i)); }
  const std::vector<std::string>& models() const { return models_; }
  const ImagePixels& items() const { return px_; }

 private:
  std::string dir_;
  std::vector<std::string> models_, files_;
  std::vector<int64_t> labels_;
  ImagePixels px_;
};

}  // namespace unravel
