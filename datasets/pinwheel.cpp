// Pinwheel generator (datasets/pinwheel.h).
#include "datasets/pinwheel.h"

#include <cmath>
#include <numbers>

#include "engine/check.h"

namespace unravel {

Pinwheel::Pinwheel(const PinwheelOptions& o, Generator& gen) : classes_(o.num_classes) {
  UNRAVEL_CHECK(o.num_classes > 0 && o.num_per_class > 0,
                "Pinwheel: num_classes ({}) and num_per_class ({}) must be positive",
                o.num_classes, o.num_per_class);
  UNRAVEL_CHECK(o.radial_std >= 0 && o.tangential_std >= 0,
                "Pinwheel: standard deviations must be >= 0, got radial {} tangential {}",
                o.radial_std, o.tangential_std);
  const int64_t n = static_cast<int64_t>(o.num_classes) * o.num_per_class;
  xy_.resize(static_cast<size_t>(n) * 2);
  labels_.resize(static_cast<size_t>(n));
  const double rads_per_class = 2 * std::numbers::pi / o.num_classes;
  for (int64_t i = 0; i < n; ++i) {
    const double f1 = gen.normal() * o.tangential_std + 1.0;
    const double f2 = gen.normal() * o.radial_std;
    const int64_t c = i / o.num_per_class;
    const double a = rads_per_class * static_cast<double>(c) + o.rate * std::exp(f1);
    const double ca = std::cos(a), sa = std::sin(a);
    xy_[2 * i] = f1 * ca + f2 * sa;
    xy_[2 * i + 1] = -f1 * sa + f2 * ca;
    labels_[i] = c;
  }
}

int64_t Pinwheel::label(int64_t i) const {
  UNRAVEL_CHECK(i >= 0 && i < size(), "pinwheel: label index {} out of range [0, {})", i, size());
  return labels_[i];
}

void Pinwheel::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  float* o = out.data<float>();
  for (size_t b = 0; b < indices.size(); ++b) {
    o[2 * b] = static_cast<float>(xy_[2 * indices[b]]);
    o[2 * b + 1] = static_cast<float>(xy_[2 * indices[b] + 1]);
  }
  out.bump_version();
}

Tensor Pinwheel::points() const {
  Tensor t = Tensor::empty(Shape{size(), 2}, DType::f32);
  float* o = t.data<float>();
  for (size_t k = 0; k < xy_.size(); ++k) o[k] = static_cast<float>(xy_[k]);
  return t;
}

}  // namespace unravel
