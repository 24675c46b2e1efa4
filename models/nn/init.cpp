// Parameter initialisers (formulas in init.h). Each draws a fresh tensor from the explicit
// Generator and copies it into the target under NoGradGuard, so parameters stay leaves.
#include "models/nn/init.h"

#include <cmath>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/random_ops.h"

namespace unravel::nn::init {

namespace {
void check_float(const Tensor& t, const char* fn) {
  UNRAVEL_CHECK(t.defined(), "init::{}: tensor is undefined", fn);
  UNRAVEL_CHECK(is_floating(t.dtype()), "init::{}: needs a floating-point tensor, got {}", fn,
                t.desc());
}
int64_t fan(const Shape& shape, FanMode mode) {
  auto [in, out] = fan_in_and_fan_out(shape);
  return mode == FanMode::fan_in ? in : out;
}
}  // namespace

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::linear:
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& shape) {
  UNRAVEL_CHECK(shape.size() >= 2,
                "init: fan in and fan out need a tensor of rank >= 2, got shape {}", shape.str());
  int64_t receptive = 1;
  for (int d = 2; d < shape.size(); ++d) receptive *= shape[d];
  return {shape[1] * receptive, shape[0] * receptive};
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  check_float(t, "uniform_");
  UNRAVEL_CHECK(lo <= hi, "init::uniform_: lo {} > hi {}", lo, hi);
  NoGradGuard guard;
  copy_(t, uniform(t.shape(), gen, lo, hi, t.dtype(), t.device()));
}

void normal_(const Tensor& t, double mean, double std, Generator& gen) {
  check_float(t, "normal_");
  UNRAVEL_CHECK(std >= 0, "init::normal_: std must be >= 0, got {}", std);
  NoGradGuard guard;
  copy_(t, normal(t.shape(), gen, mean, std, t.dtype(), t.device()));
}

void constant_(const Tensor& t, double value) {
  check_float(t, "constant_");
  NoGradGuard guard;
  fill_(t, value);
}
void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }

void kaiming_uniform_(const Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nl) {
  check_float(t, "kaiming_uniform_");
  int64_t f = fan(t.shape(), mode);
  UNRAVEL_CHECK(f > 0, "init::kaiming_uniform_: zero fan for shape {}", t.shape().str());
  double bound = std::sqrt(3.0) * calculate_gain(nl, a) / std::sqrt(double(f));
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nl) {
  check_float(t, "kaiming_normal_");
  int64_t f = fan(t.shape(), mode);
  UNRAVEL_CHECK(f > 0, "init::kaiming_normal_: zero fan for shape {}", t.shape().str());
  normal_(t, 0.0, calculate_gain(nl, a) / std::sqrt(double(f)), gen);
}

void xavier_uniform_(const Tensor& t, Generator& gen, double gain) {
  check_float(t, "xavier_uniform_");
  auto [in, out] = fan_in_and_fan_out(t.shape());
  UNRAVEL_CHECK(in + out > 0, "init::xavier_uniform_: zero fan for shape {}", t.shape().str());
  double bound = gain * std::sqrt(6.0 / double(in + out));
  uniform_(t, -bound, bound, gen);
}

void xavier_normal_(const Tensor& t, Generator& gen, double gain) {
  check_float(t, "xavier_normal_");
  auto [in, out] = fan_in_and_fan_out(t.shape());
  UNRAVEL_CHECK(in + out > 0, "init::xavier_normal_: zero fan for shape {}", t.shape().str());
  normal_(t, 0.0, gain * std::sqrt(2.0 / double(in + out)), gen);
}

void default_weight_(const Tensor& w, Generator& gen) {
  kaiming_uniform_(w, gen, std::sqrt(5.0), FanMode::fan_in, Nonlinearity::leaky_relu);
}

void default_bias_(const Tensor& b, int64_t fan_in, Generator& gen) {
  double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  uniform_(b, -bound, bound, gen);
}

}  // namespace unravel::nn::init
