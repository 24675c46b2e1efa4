// The float32 vector kernels behind exp / log1p / softplus / sigmoid / softplus_grad
// (ops/cpu/vec_math.h): ulp error against double-precision references over a spread of every
// float bit pattern, std::'s values at the special and limit inputs, results independent of
// the thread count, of contiguity and of an element's position, and float64 untouched.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/functors.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

namespace {

double ref(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log1p: return std::log1p(x);
    case UnaryOp::softplus: return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    default: return 1.0 / (1.0 + std::exp(-x));
  }
}

// |got − want| in units of the float ulp at want (subnormal spacing below FLT_MIN); 0 when both
// are the same special value, huge when only one is.
double ulp_error(float got, double want) {
  const float wf = static_cast<float>(want);
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : 1e30;
  if (std::isinf(wf) || std::isinf(got)) return got == wf ? 0.0 : 1e30;
  if (got == wf) return 0.0;
  int e = 0;
  std::frexp(std::fabs(want), &e);
  const double ulp = std::max(std::ldexp(1.0, e - 24), std::ldexp(1.0, -149));
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

Tensor run(UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  backend(kCPU).unary(op, x.view(), y.view(), 0.0);
  return y;
}

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Bitwise equality of two float tensors' values (NaNs included).
bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> u = a.to_vector<float>(), v = b.to_vector<float>();
  return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * sizeof(float)) == 0;
}

const UnaryOp kOps[] = {UnaryOp::exp, UnaryOp::log1p, UnaryOp::softplus, UnaryOp::sigmoid};

}  // namespace

TEST_CASE("vec math: ulp error over a spread of all float bit patterns") {
  // ~1.1 M inputs: every 3877th bit pattern, both signs, all exponents (NaNs included).
  std::vector<float> xs;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 3877) xs.push_back(from_bits(static_cast<uint32_t>(b)));
  Tensor x = Tensor::from_vector<float>(xs, {static_cast<int64_t>(xs.size())});
  const double bound[] = {1.5, 1.5, 2.0, 2.5};  // exp, log1p, softplus, sigmoid
  for (int k = 0; k < 4; ++k) {
    const UnaryOp op = kOps[k];
    CAPTURE(std::string(fn::unary_name(op)));
    const std::vector<float> y = run(op, x).to_vector<float>();
    double worst = 0.0;
    float worst_x = 0.0f;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double err = ulp_error(y[i], ref(op, xs[i]));
      if (err > worst) {
        worst = err;
        worst_x = xs[i];
      }
    }
    CAPTURE(worst_x);
    CHECK(worst <= bound[k]);
  }
}

TEST_CASE("vec math: special and limit inputs give std::'s values") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const float denorm = std::numeric_limits<float>::denorm_min();
  const std::vector<float> xs = {0.0f, -0.0f, inf, -inf, nan, -1.0f, -1.5f, -0.999999f,
                                 88.72f, 88.73f, 89.5f, -87.3f, -100.0f, -103.9f, -104.5f, -200.0f,
                                 1e-30f, -1e-30f, denorm, -denorm, 1.17549435e-38f, 3.4e38f,
                                 -3.4e38f, 16.0f, 17.5f, 30.0f, -17.5f, -30.0f, 5.9604645e-8f};
  Tensor x = Tensor::from_vector<float>(xs, {static_cast<int64_t>(xs.size())});
  for (UnaryOp op : kOps) {
    CAPTURE(std::string(fn::unary_name(op)));
    const std::vector<float> y = run(op, x).to_vector<float>();
    for (size_t i = 0; i < xs.size(); ++i) {
      CAPTURE(xs[i]);
      const double want = ref(op, xs[i]);
      CHECK(ulp_error(y[i], want) <= 2.5);
      CHECK(std::isnan(y[i]) == std::isnan(want));
      if (!std::isnan(want)) CHECK(std::signbit(y[i]) == std::signbit(static_cast<float>(want)));
    }
  }
  // Exact values where the result is a limit.
  const std::vector<float> e = run(UnaryOp::exp, x).to_vector<float>();
  CHECK(e[0] == 1.0f);
  CHECK(e[2] == inf);
  CHECK(e[3] == 0.0f);
  CHECK(e[10] == inf);
  CHECK(e[15] == 0.0f);
  // exp(-100) is subnormal: flushed to zero, as every CPU kernel runs with FTZ + DAZ
  // (cpu_flush_denormals, engine/cpu/cpu_backend.h).
  CHECK(e[12] == 0.0f);
  const std::vector<float> l = run(UnaryOp::log1p, x).to_vector<float>();
  CHECK(l[5] == -inf);
  CHECK(std::isnan(l[6]));
  CHECK(l[2] == inf);
  CHECK(std::signbit(l[1]));  // log1p(-0) = -0
  CHECK(l[16] == 1e-30f);
}

TEST_CASE("vec math: independent of thread count, contiguity and position") {
  Generator g(3);
  // Large enough to be split across threads (above the parallel grain).
  Tensor x = normal({3, 100001}, g) * 8.0;
  for (UnaryOp op : kOps) {
    CAPTURE(std::string(fn::unary_name(op)));
    const int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    const std::vector<float> one = run(op, x).to_vector<float>();
    omp_set_num_threads(2);
    const std::vector<float> two = run(op, x).to_vector<float>();
    omp_set_num_threads(prev);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
    // A strided view (transposed) and an offset start give the same value per element.
    Tensor xt = transpose(contiguous(transpose(x, 0, 1)), 0, 1);
    REQUIRE(!xt.is_contiguous());
    CHECK(same_bits(run(op, contiguous(xt)), run(op, xt)));
    Tensor tail = slice(x, 1, 3, 100001);
    CHECK(same_bits(run(op, contiguous(tail)), contiguous(slice(run(op, x), 1, 3, 100001))));
  }
  // softplus_grad (a · sigmoid(b)), contiguous vs broadcast a.
  Tensor a = normal({3, 1001}, g), b = normal({3, 1001}, g) * 6.0;
  Tensor y = Tensor::empty(a.shape());
  backend(kCPU).binary(BinaryOp::softplus_grad, a.view(), b.view(), y.view(), 0.0);
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(), yv = y.to_vector<float>();
  for (size_t i = 0; i < av.size(); ++i) {
    const double want = av[i] / (1.0 + std::exp(-static_cast<double>(bv[i])));
    CHECK(std::fabs(yv[i] - want) <= 5e-7 * std::fabs(want) + 1e-30);
  }
  Tensor s = Tensor::full({1}, 2.0f);
  TensorView sv = s.view();
  sv.shape = a.shape();
  sv.strides = Strides{0, 0};
  Tensor yb = Tensor::empty(a.shape());
  backend(kCPU).binary(BinaryOp::softplus_grad, sv, b.view(), yb.view(), 0.0);
  Tensor yd = Tensor::empty(a.shape());
  backend(kCPU).binary(BinaryOp::softplus_grad, Tensor::full(a.shape(), 2.0f).view(), b.view(),
                       yd.view(), 0.0);
  CHECK(testing::max_abs_diff(yb, yd) == 0.0);
}

TEST_CASE("vec math: float64 keeps the scalar std:: formulas") {
  Tensor x = testing::rand64({1000}, 5, -30.0, 30.0);
  const std::vector<double> xv = x.to_vector<double>();
  for (UnaryOp op : kOps) {
    CAPTURE(std::string(fn::unary_name(op)));
    const std::vector<double> y = run(op, x).to_vector<double>();
    for (size_t i = 0; i < xv.size(); ++i) {
      double want = 0;
      fn::visit_unary(op, [&](auto f) { want = f(xv[i], 0.0); });
      CHECK(std::memcmp(&y[i], &want, sizeof want) == 0);  // bitwise, NaNs included
    }
  }
}
