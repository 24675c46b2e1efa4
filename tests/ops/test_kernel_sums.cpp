// Fused pairwise IMQ kernel sums (ops/kernel_sums.h): values and gradients against the unfused
// composite expression (f64 and f32, a == b, Ba != Bb, D = 1, several row blocks), f64
// finite-difference gradient checks, independence of the thread count, and error messages.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

const std::vector<double> kScales = {0.2, 0.4, 1.0, 2.0, 4.0, 10.0};  // C_s = 2·s as in MMD

// The unfused expression: Σ over all elements of Σ_s 1/(d²/c_s + 1), d² of shape (Ba, Bb, D)
// (per dimension) or (Ba, Bb) (full).
Tensor composite(const Tensor& a, const Tensor& b, const std::vector<double>& c, bool full) {
  Tensor d2 = square(unsqueeze(a, 1) - unsqueeze(b, 0));
  if (full) d2 = sum(d2, {-1});
  Tensor total;
  for (double cs : c) {
    Tensor k = reciprocal(d2 * (1.0 / cs) + 1.0);
    total = total.defined() ? total + k : k;
  }
  return sum(total);
}

Tensor fused(const Tensor& a, const Tensor& b, const std::vector<double>& c, bool full) {
  return full ? pairwise_imq_sum_full(a, b, c) : pairwise_imq_sum(a, b, c);
}

struct Case {
  int64_t ba, bb, d;
  bool same;  // b is a itself
};

}  // namespace

TEST_CASE("pairwise_imq_sum: values and gradients match the composite expression") {
  const Case cases[] = {{5, 7, 3, false}, {1, 1, 1, false}, {4, 9, 1, false}, {6, 6, 4, true},
                        {1, 1, 2, true},  {70, 45, 5, false}, {97, 97, 3, true}};
  for (bool full : {false, true})
    for (const Case& cs : cases) {
      CAPTURE(full);
      CAPTURE(cs.ba);
      CAPTURE(cs.bb);
      CAPTURE(cs.d);
      CAPTURE(cs.same);
      Tensor a64 = rand64(Shape{cs.ba, cs.d}, 11 + cs.ba, -1.5, 1.5);
      Tensor b64 = cs.same ? a64 : rand64(Shape{cs.bb, cs.d}, 23 + cs.bb, -1.0, 2.0);
      for (DType dt : {DType::f64, DType::f32}) {
        CAPTURE(dtype_name(dt));
        Tensor a = to(a64, dt).detach().set_requires_grad();
        Tensor b = cs.same ? a : to(b64, dt).detach().set_requires_grad();
        Tensor yf = fused(a, b, kScales, full);
        CHECK(yf.dtype() == dt);
        CHECK(yf.dim() == 0);
        TensorList gf = grad({yf}, cs.same ? TensorList{a} : TensorList{a, b});
        // Reference always in f64 so the f32 result is judged against the exact value.
        Tensor ar = a64.detach().set_requires_grad();
        Tensor br = cs.same ? ar : b64.detach().set_requires_grad();
        Tensor yr = composite(ar, br, kScales, full);
        TensorList gr = grad({yr}, cs.same ? TensorList{ar} : TensorList{ar, br});
        const double tol = dt == DType::f64 ? 1e-12 : 2e-6;
        CHECK(std::fabs(yf.item() - yr.item()) <= tol * std::fabs(yr.item()));
        for (size_t k = 0; k < gr.size(); ++k) {
          double scale = 1.0;
          for (double v : gr[k].to_vector<double>()) scale = std::max(scale, std::fabs(v));
          CHECK(max_abs_diff(gf[k], gr[k]) <= (dt == DType::f64 ? 1e-12 : 2e-5) * scale);
        }
        // The same values with the composite run in the same dtype (what mmd_dim used to do).
        if (dt == DType::f32) {
          Tensor yc = composite(a.detach(), b.detach(), kScales, full);
          CHECK(std::fabs(yf.item() - yc.item()) <= 2e-6 * std::fabs(yr.item()));
        }
      }
    }
}

TEST_CASE("pairwise_imq_sum: f64 finite-difference gradient checks") {
  Tensor a = rand64(Shape{4, 3}, 1, -1, 1), b = rand64(Shape{5, 3}, 2, -1, 2);
  Tensor col = rand64(Shape{6, 1}, 3, -1, 1), wide = rand64(Shape{3, 4}, 4, -1, 1);
  for (bool full : {false, true}) {
    const char* what = full ? "pairwise_imq_sum_full" : "pairwise_imq_sum";
    CAPTURE(what);
    gradcheck([&](const TensorList& in) { return fused(in[0], in[1], kScales, full); }, {a, b},
              what);
    // a == b: both contributions reach the one input.
    gradcheck([&](const TensorList& in) { return fused(in[0], in[0], kScales, full); }, {b},
              what);
    // The same memory as two different tensors (a full-slice view of a): the kernel takes its
    // symmetric path and the gradient is split between them; and equal values in other memory.
    gradcheck([&](const TensorList& in) { return fused(in[0], slice(in[0], 0, 0, 4), kScales,
                                                       full); },
              {a}, what);
    gradcheck([&](const TensorList& in) { return fused(in[0], in[0] * 1.0, kScales, full); },
              {a}, what);
    // D = 1, one row against several, and a non-contiguous (transposed) operand.
    gradcheck([&](const TensorList& in) { return fused(in[0], in[1], {0.5, 3.0}, full); },
              {col, slice(col, 0, 0, 1)}, what);
    gradcheck([&](const TensorList& in) { return fused(transpose(in[0], 0, 1), in[1], kScales,
                                                       full); },
              {wide, b}, what);
    // Composed with other ops (the incoming gradient is not 1).
    gradcheck([&](const TensorList& in) {
      return square(fused(in[0], in[1], kScales, full)) * 0.01 - fused(in[1], in[1], kScales, full);
    }, {a, b}, what);
  }
}

TEST_CASE("pairwise_imq_sum: the result does not depend on the thread count") {
  const int prev = omp_get_max_threads();
  Tensor a64 = rand64(Shape{300, 8}, 5, -2, 2), b64 = rand64(Shape{260, 8}, 6, -2, 2);
  for (bool full : {false, true})
    for (bool same : {false, true}) {
      CAPTURE(full);
      CAPTURE(same);
      std::vector<std::vector<float>> runs;
      for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        Tensor a = to(a64, DType::f32).detach().set_requires_grad();
        Tensor b = same ? a : to(b64, DType::f32).detach().set_requires_grad();
        Tensor y = fused(a, b, kScales, full);
        TensorList g = grad({y}, same ? TensorList{a} : TensorList{a, b});
        std::vector<float> all{static_cast<float>(y.item())};
        for (const Tensor& t : g)
          for (float v : t.to_vector<float>()) all.push_back(v);
        runs.push_back(all);
      }
      omp_set_num_threads(prev);
      CHECK(runs[0] == runs[1]);
      CHECK(runs[0] == runs[2]);
    }
}

TEST_CASE("pairwise_imq_sum: without the tape and error messages") {
  Tensor a = rand64(Shape{4, 3}, 1), b = rand64(Shape{5, 3}, 2);
  {
    NoGradGuard ng;
    Tensor y = pairwise_imq_sum(a.detach().set_requires_grad(), b, kScales);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.item() == doctest::Approx(composite(a, b, kScales, false).item()).epsilon(1e-12));
  }
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(a, rand64(Shape{5, 2}, 3), kScales),
                       doctest::Contains("pairwise_imq_sum: want a (Ba, D) and b (Bb, D)"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum_full(rand64(Shape{4}, 3), b, kScales),
                       doctest::Contains("pairwise_imq_sum_full: want a (Ba, D)"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(rand64(Shape{2, 4, 3}, 3), b, kScales),
                       doctest::Contains("[2, 4, 3]"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(a, to(b, DType::f32), kScales),
                       doctest::Contains("pairwise_imq_sum"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(a, b, std::vector<double>{}),
                       doctest::Contains("at least one kernel scale"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(a, b, std::vector<double>{1.0, -2.0}),
                       doctest::Contains("finite and > 0, got -2"), Error);
  CHECK_THROWS_WITH_AS(pairwise_imq_sum(rand64(Shape{0, 3}, 3), b, kScales),
                       doctest::Contains("at least one row"), Error);
}
