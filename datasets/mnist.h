// MNIST and Fashion-MNIST from their IDX files (datasets/idx.h): 28×28 grey images with labels
// 0..9, train (60 000) or test (10 000) split. Pixels are held as u8 and written to batches as
// f32 in [0, 1] (x/255), optionally resized to out_size × out_size with the PIL-style bilinear
// filter of datasets/resize.h (32 for the Fashion-MNIST "sparsity" experiment of Mathieu et
// al.) and optionally clamped to [clamp, 1 − clamp] (they use 1e-6).
// The default directory is where Debian's dataset-fashion-mnist package installs the files.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/resize.h"

namespace unravel {

/// Debian's dataset-fashion-mnist install directory.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct MnistOptions {
  std::string dir = kFashionMnistDir;  ///< folder holding the four IDX files
  bool train = true;                   ///< train-* (60 000) or t10k-* (10 000) files
  int out_size = 0;                    ///< 0: keep 28×28; else resize to out_size²
  double clamp = 0.0;                  ///< clamp pixels to [clamp, 1 − clamp] when > 0
  std::string name = "fashion-mnist";  ///< for messages ("mnist" for the digits)
};

/// File names inside MnistOptions::dir: "<prefix>-images-idx3-ubyte.gz" and
/// "<prefix>-labels-idx1-ubyte.gz" with prefix "train" or "t10k"; the uncompressed names
/// (without .gz) are used when the .gz ones are absent.
std::string mnist_file(const std::string& dir, bool train, bool images);

/// Fashion-MNIST class names, index = label.
const std::vector<std::string>& fashion_mnist_classes();

class Mnist final : public Dataset {
 public:
  /// Loads images and labels; checks magic numbers (0x803 images, 0x801 labels), 28×28 and
  /// matching counts, naming the offending file.
  explicit Mnist(const MnistOptions& opts = {});

  int64_t size() const override { return n_; }
  Shape item_shape() const override { return Shape{1, side_, side_}; }
  std::string name() const override { return name_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool has_labels() const override { return true; }
  int64_t num_classes() const override { return 10; }
  int64_t label(int64_t i) const override;

  /// Raw 28×28 u8 pixels of item i.
  const uint8_t* raw_image(int64_t i) const { return pixels_.data() + i * 784; }

 private:
  std::string name_;
  int64_t n_ = 0;
  int side_ = 28;
  float lo_ = 0.f, hi_ = 1.f;
  std::vector<uint8_t> pixels_;  // n × 784
  std::vector<uint8_t> labels_;  // n
  std::unique_ptr<Resizer> resizer_;
};

}  // namespace unravel
