// Parameter-free layers: activations (ReLU, LeakyReLU, Sigmoid, Tanh, Softplus) and shape layers
// (Flatten, Unflatten, Reshape), so they can sit inside a Sequential.
#pragma once
#include <vector>

#include "models/nn/module.h"

namespace unravel::nn {

/// max(x, 0).
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

/// x > 0 ? x : slope · x.
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LeakyReLU"; }
  std::string describe() const override;
  /// The slope applied to negative inputs.
  double negative_slope() const { return slope_; }

 private:
  double slope_;
};

/// 1 / (1 + exp(-x)).
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

/// tanh(x).
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Tanh"; }
};

/// Stable log(1 + exp(x)).
class Softplus : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Softplus"; }
};

/// Merges dims [start, end] (default: everything after the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
  std::string describe() const override;
  int64_t start_dim() const { return start_; }
  int64_t end_dim() const { return end_; }

 private:
  int64_t start_, end_;
};

/// Splits dim `dim` into `sizes` (one entry may be -1).
class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Unflatten"; }
  std::string describe() const override;
  int64_t dim() const { return dim_; }
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

/// Keeps the batch dim and reshapes the rest: (N, ...) → (N, shape...), e.g. (N, 1024) →
/// (N, 64, 4, 4) with shape {64, 4, 4}; one entry may be -1.
class Reshape : public Module {
 public:
  explicit Reshape(std::vector<int64_t> shape) : shape_(std::move(shape)) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Reshape"; }
  std::string describe() const override;
  /// The shape after the batch dim.
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  std::vector<int64_t> shape_;
};

/// Watters et al. 2019's spatial broadcast: (N, D) → (N, D + 2, height, width), each latent
/// tiled over the grid and two coordinate channels appended (x then y, each from -1 to 1 across
/// the grid), so that the convolutions after it render position by comparing latents with
/// coordinates instead of learning it through upsampling.
class SpatialBroadcast : public Module {
 public:
  SpatialBroadcast(int64_t height, int64_t width);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "SpatialBroadcast"; }
  std::string describe() const override;
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 private:
  int64_t height_, width_;
  std::string coords_key_;  ///< the coordinate planes' cached_constant key
};

}  // namespace unravel::nn
