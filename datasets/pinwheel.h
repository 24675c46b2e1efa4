// Pinwheel: the 2-D clustering data of Mathieu et al. (2019), generated exactly as R. P. Adams'
// MATLAB pinwheel.m that they call, pinwheel(radial_std = 0.1, tangential_std = 0.3,
// num_classes = 4, num_per_class = 100, rate = 0.25):
//   f ~ N(0, I₂)·diag(tangential_std, radial_std)   (column 1 gets the *tangential* std: the
//                                                    MATLAB code's quirk, kept on purpose)
//   f₁ += 1
//   angle_n = 2π·c_n / C + rate·exp(f₁)             (c_n = 0..C−1, blocks of num_per_class)
//   x_n = f_n · [[cos a, −sin a], [sin a, cos a]]     (row vector times matrix):
//         x₁ = f₁ cos a + f₂ sin a,  x₂ = −f₁ sin a + f₂ cos a
// No rescaling and no shuffling (rows come in class blocks; the batcher shuffles). Normals are
// drawn from the Generator in row order: f[0,0], f[0,1], f[1,0], ... Train and test sets are
// two separate draws (Mathieu et al.: 400 points each).
#pragma once
#include <cstdint>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"

namespace unravel {

struct PinwheelOptions {
  double radial_std = 0.1;
  double tangential_std = 0.3;
  int num_classes = 4;
  int num_per_class = 100;
  double rate = 0.25;
};

class Pinwheel final : public Dataset {
 public:
  /// Draws num_classes × num_per_class points from `gen`.
  Pinwheel(const PinwheelOptions& opts, Generator& gen);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Shape item_shape() const override { return Shape{2}; }
  std::string name() const override { return "pinwheel"; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool has_labels() const override { return true; }
  int64_t num_classes() const override { return classes_; }
  int64_t label(int64_t i) const override;

  /// All points as an f32 tensor [N, 2].
  Tensor points() const;
  /// Point i as (x₁, x₂).
  std::pair<double, double> point(int64_t i) const { return {xy_[2 * i], xy_[2 * i + 1]}; }

 private:
  int classes_;
  std::vector<double> xy_;      // N × 2
  std::vector<int64_t> labels_;
};

}  // namespace unravel
