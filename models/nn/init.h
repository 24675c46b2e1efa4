// Seeded parameter initialisers (in place, no autograd), following torch.nn.init:
//   fan_in  = size(1) · prod(size(2:)),  fan_out = size(0) · prod(size(2:))
//   kaiming: std = gain / sqrt(fan), uniform bound = sqrt(3) · std, gain(leaky_relu, a) =
//            sqrt(2 / (1 + a²))
//   xavier:  std = gain · sqrt(2 / (fan_in + fan_out)), uniform bound = sqrt(3) · std
// PyTorch's default Linear/Conv init is kaiming_uniform(a = √5) for the weight (bound
// 1/sqrt(fan_in)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
#pragma once
#include <cstdint>
#include <utility>

#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel::nn::init {

enum class Nonlinearity { linear, sigmoid, tanh, relu, leaky_relu };
enum class FanMode { fan_in, fan_out };

/// Recommended gain for a nonlinearity (param = negative slope for leaky_relu).
double calculate_gain(Nonlinearity nl, double param = 0.01);
/// (fan_in, fan_out) of a weight of rank >= 2.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& shape);

/// t = U(lo, hi).
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);
/// t = N(mean, std²).
void normal_(const Tensor& t, double mean, double std, Generator& gen);
/// t = value.
void constant_(const Tensor& t, double value);
/// t = 0.
void zeros_(const Tensor& t);
/// t = 1.
void ones_(const Tensor& t);
/// He uniform: U(-b, b) with b = gain(nl, a) · sqrt(3 / fan).
void kaiming_uniform_(const Tensor& t, Generator& gen, double a = 0.0,
                      FanMode mode = FanMode::fan_in, Nonlinearity nl = Nonlinearity::leaky_relu);
/// He normal: N(0, (gain(nl, a) / sqrt(fan))²).
void kaiming_normal_(const Tensor& t, Generator& gen, double a = 0.0,
                     FanMode mode = FanMode::fan_in, Nonlinearity nl = Nonlinearity::leaky_relu);
/// Glorot uniform: U(-b, b) with b = gain · sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& t, Generator& gen, double gain = 1.0);
/// Glorot normal: N(0, (gain · sqrt(2 / (fan_in + fan_out)))²).
void xavier_normal_(const Tensor& t, Generator& gen, double gain = 1.0);
/// PyTorch's default weight init for Linear/Conv: kaiming_uniform_(a = √5).
void default_weight_(const Tensor& w, Generator& gen);
/// PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (0 bound when fan_in = 0).
void default_bias_(const Tensor& b, int64_t fan_in, Generator& gen);

}  // namespace unravel::nn::init
