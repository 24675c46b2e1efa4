// Parameter-free layers: thin wrappers over the differentiable ops, with shape checks that
// name the layer.
#include "models/nn/activation.h"

#include "engine/check.h"
#include "ops/creation.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel::nn {

namespace {
std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
std::string LeakyReLU::describe() const { return fmt::format("LeakyReLU({})", slope_); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Softplus::forward(const Tensor& x) { return softplus(x); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_, end_); }
std::string Flatten::describe() const { return fmt::format("Flatten({}, {})", start_, end_); }

Tensor Unflatten::forward(const Tensor& x) {
  int d = normalize_axis(dim_, x.dim(), "Unflatten");
  UNRAVEL_CHECK(x.dim() - 1 + static_cast<int>(sizes_.size()) <= kMaxDims,
                "{}: result rank exceeds {} for input {}", describe(), kMaxDims, x.desc());
  Shape s;
  for (int i = 0; i < d; ++i) s.push_back(x.size(i));
  for (int64_t v : sizes_) s.push_back(v);
  for (int i = d + 1; i < x.dim(); ++i) s.push_back(x.size(i));
  return reshape(x, s);
}
std::string Unflatten::describe() const {
  return fmt::format("Unflatten(dim={}, sizes=({}))", dim_, join(sizes_));
}

Tensor Reshape::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.defined() && x.dim() >= 1 && static_cast<int>(shape_.size()) < kMaxDims,
                "{}: needs a batched input, got {}", describe(), x.desc());
  Shape s{x.size(0)};
  for (int64_t v : shape_) s.push_back(v);
  return reshape(x, s);
}
std::string Reshape::describe() const { return fmt::format("Reshape(N, {})", join(shape_)); }

SpatialBroadcast::SpatialBroadcast(int64_t height, int64_t width)
    : height_(height), width_(width),
      coords_key_(fmt::format("spatial_broadcast_coords_{}x{}", height, width)) {
  UNRAVEL_CHECK(height >= 1 && width >= 1, "SpatialBroadcast: grid {}x{} must be at least 1x1",
                height, width);
}

Tensor SpatialBroadcast::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.dim() == 2, "{}: expects latents (N, D), got {}", describe(), x.desc());
  const int64_t n = x.size(0), d = x.size(1), h = height_, w = width_;
  // The coordinate planes: a constant per (device, dtype, grid), built once on the host.
  Tensor coords = cached_constant(coords_key_, x.device(), x.dtype(), [h, w] {
    Tensor xs = arange(w, DType::f32, kCPU, -1.0, w > 1 ? 2.0 / static_cast<double>(w - 1) : 0.0);
    Tensor ys = arange(h, DType::f32, kCPU, -1.0, h > 1 ? 2.0 / static_cast<double>(h - 1) : 0.0);
    return contiguous(concat({expand(reshape(xs, Shape{1, 1, w}), Shape{1, h, w}),
                              expand(reshape(ys, Shape{1, h, 1}), Shape{1, h, w})}, 0));
  });
  Tensor tiled = expand(reshape(x, Shape{n, d, 1, 1}), Shape{n, d, h, w});
  return concat({tiled, expand(reshape(coords, Shape{1, 2, h, w}), Shape{n, 2, h, w})}, 1);
}
std::string SpatialBroadcast::describe() const {
  return fmt::format("SpatialBroadcast({}, {})", height_, width_);
}

}  // namespace unravel::nn
