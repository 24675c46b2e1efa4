// Gradient checks (f64 finite differences) and forward values for elementwise ops, reductions
// and view ops, including broadcasting and non-contiguous inputs.
#include <doctest/doctest.h>

#include <cmath>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {
struct UnaryCase {
  const char* name;
  Tensor (*f)(const Tensor&);
  double lo, hi;           // input domain (kinks avoided)
  double (*ref)(double);   // scalar reference for the forward
};
double relu_ref(double x) { return x > 0 ? x : 0; }
double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }
double softplus_ref(double x) { return std::log1p(std::exp(x)); }
double rsqrt_ref(double x) { return 1 / std::sqrt(x); }
double square_ref(double x) { return x * x; }
double neg_ref(double x) { return -x; }
double recip_ref(double x) { return 1 / x; }
double leaky_ref(double x) { return x > 0 ? x : 0.2 * x; }
Tensor leaky02(const Tensor& x) { return leaky_relu(x, 0.2); }
double digamma_ref(double x) {
  // ψ = (log Γ)': a 4-point central difference of libm's lgamma (error ~1e-12).
  const double h = 1e-3;
  return (-std::lgamma(x + 2 * h) + 8 * std::lgamma(x + h) - 8 * std::lgamma(x - h) +
          std::lgamma(x - 2 * h)) / (12 * h);
}
}  // namespace

TEST_CASE("unary ops: forward against libm and f64 gradient checks") {
  const UnaryCase cases[] = {
      {"neg", neg, -2, 2, neg_ref},
      {"exp", exp, -2, 2, [](double x) { return std::exp(x); }},
      {"log", log, 0.2, 3, [](double x) { return std::log(x); }},
      {"log1p", log1p, -0.5, 2, [](double x) { return std::log1p(x); }},
      {"expm1", expm1, -2, 2, [](double x) { return std::expm1(x); }},
      {"sqrt", sqrt, 0.2, 3, [](double x) { return std::sqrt(x); }},
      {"rsqrt", rsqrt, 0.2, 3, rsqrt_ref},
      {"abs", abs, 0.1, 2, [](double x) { return std::fabs(x); }},
      {"abs_neg", abs, -2, -0.1, [](double x) { return std::fabs(x); }},
      {"square", square, -2, 2, square_ref},
      {"sigmoid", sigmoid, -4, 4, sigmoid_ref},
      {"tanh", tanh, -2, 2, [](double x) { return std::tanh(x); }},
      {"relu_pos", relu, 0.1, 2, relu_ref},
      {"relu_neg", relu, -2, -0.1, relu_ref},
      {"leaky_relu_pos", leaky02, 0.1, 2, leaky_ref},
      {"leaky_relu_neg", leaky02, -2, -0.1, leaky_ref},
      {"softplus", softplus, -5, 5, softplus_ref},
      {"lgamma", lgamma, 0.3, 5, [](double x) { return std::lgamma(x); }},
      {"digamma", digamma, 0.3, 5, digamma_ref},
      {"digamma_negative", digamma, -0.9, -0.1, nullptr},
      {"erf", erf, -2, 2, [](double x) { return std::erf(x); }},
      {"reciprocal", reciprocal, 0.5, 2, recip_ref},
      {"sin", sin, -3, 3, [](double x) { return std::sin(x); }},
      {"cos", cos, -3, 3, [](double x) { return std::cos(x); }},
  };
  for (const auto& c : cases) {
    std::string op = c.name;
    CAPTURE(op);
    Tensor x = rand64(Shape{3, 4}, 1, c.lo, c.hi);
    if (c.ref) {
      auto xv = x.to_vector<double>();
      auto yv = c.f(x).to_vector<double>();
      for (size_t i = 0; i < xv.size(); ++i)
        CHECK(yv[i] == doctest::Approx(c.ref(xv[i])).epsilon(1e-9));
      // f32 forward agrees with f64.
      Tensor y32 = c.f(to(x, DType::f32));
      CHECK(max_abs_diff(y32, c.f(x)) < 1e-4 * (1 + max(abs(c.f(x))).item()));
    }
    gradcheck([&](const TensorList& in) { return c.f(in[0]); }, {x}, c.name);
    // Non-contiguous input: a transposed view.
    gradcheck([&](const TensorList& in) { return c.f(transpose(in[0], 0, 1)); }, {x},
              std::string(c.name) + " (transposed)");
  }
}

TEST_CASE("softplus and sigmoid are stable at extreme inputs") {
  Tensor x = Tensor::from_vector<float>({-1000, -50, 0, 50, 1000}, Shape{5});
  auto sp = softplus(x).to_vector<float>();
  CHECK(sp[0] == 0.0f);
  CHECK(sp[2] == doctest::Approx(std::log(2.0)));
  CHECK(sp[4] == 1000.0f);
  auto sg = sigmoid(x).to_vector<float>();
  CHECK(sg[0] == 0.0f);
  CHECK(sg[4] == 1.0f);
  for (float v : sg) CHECK_FALSE(std::isnan(v));
}

TEST_CASE("binary ops with broadcasting: forward and gradient checks") {
  struct Case {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
    double lo, hi;
  };
  const Case cases[] = {
      {"add", add, -2, 2}, {"sub", sub, -2, 2}, {"mul", mul, -2, 2}, {"div", div, 0.5, 2},
      {"pow", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(pow), 0.5, 2},
      {"maximum", maximum, -2, 2}, {"minimum", minimum, -2, 2}, {"fmod", fmod, 0.5, 2},
  };
  const std::pair<Shape, Shape> shapes[] = {
      {Shape{3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{4}}, {Shape{3, 1}, Shape{1, 4}},
      {Shape{2, 3, 4}, Shape{3, 1}}, {Shape{}, Shape{2, 3}}, {Shape{1}, Shape{5}},
  };
  for (const auto& c : cases) {
    for (const auto& [sa, sb] : shapes) {
      std::string op = c.name, shape_a = sa.str(), shape_b = sb.str();
      CAPTURE(op);
      CAPTURE(shape_a);
      CAPTURE(shape_b);
      Tensor a = rand64(sa, 2, c.lo, c.hi), b = rand64(sb, 3, c.lo, c.hi);
      Tensor y = c.f(a, b);
      CHECK(y.shape() == broadcast_shapes(sa, sb, "test"));
      gradcheck([&](const TensorList& in) { return c.f(in[0], in[1]); }, {a, b}, c.name);
    }
  }
  // Values.
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, Shape{3, 1});
  Tensor b = Tensor::from_vector<float>({10, 20}, Shape{2});
  CHECK((a + b).to_vector<float>() == std::vector<float>{11, 21, 12, 22, 13, 23});
  CHECK((b / 2.0).to_vector<float>() == std::vector<float>{5, 10});
  CHECK((1.0 - b).to_vector<float>() == std::vector<float>{-9, -19});
  CHECK(fmod(Tensor::from_vector<double>({7.5, -7.5, 15000, 14999}, Shape{4}),
             Tensor::from_vector<double>({2, 2, 5000, 5000}, Shape{4}))
            .to_vector<double>() == std::vector<double>{1.5, -1.5, 0, 4999});
  CHECK_THROWS_WITH_AS(add(Tensor::ones(Shape{3}), Tensor::ones(Shape{4})),
                       doctest::Contains("add: shapes [3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(add(Tensor::ones(Shape{3}), Tensor::ones(Shape{3}, DType::f64)),
                       doctest::Contains("dtypes differ"), Error);
}

TEST_CASE("integer arithmetic, comparisons and where") {
  Tensor i = Tensor::from_vector<int64_t>({1, 5, 3}, Shape{3});
  Tensor j = Tensor::from_vector<int64_t>({2, 2, 3}, Shape{3});
  CHECK((i + j).to_vector<int64_t>() == std::vector<int64_t>{3, 7, 6});
  CHECK(maximum(i, j).to_vector<int64_t>() == std::vector<int64_t>{2, 5, 3});
  CHECK(gt(i, j).to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 0});
  CHECK(eq(i, j).to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 1});
  CHECK(le(i, j).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1});
  Tensor x = rand64(Shape{3, 4}, 5), y = rand64(Shape{4}, 6);
  Tensor cond = gt(rand64(Shape{3, 1}, 7), Tensor::scalar(0.0, DType::f64));
  gradcheck([&](const TensorList& in) { return where(cond, in[0], in[1]); }, {x, y}, "where");
  CHECK(logical_not(cond).to_vector<uint8_t>()[0] == !cond.to_vector<uint8_t>()[0]);
}

TEST_CASE("reductions over any axes, keepdim, and their gradients") {
  Tensor x = rand64(Shape{2, 3, 4}, 8, -2, 2);
  const std::vector<Axes> axis_sets = {{}, {0}, {1}, {2}, {0, 2}, {-1, 0}, {1, 2}};
  for (const Axes& ax : axis_sets) {
    for (bool keep : {false, true}) {
      CAPTURE(ax.size());
      CAPTURE(keep);
      gradcheck([&](const TensorList& in) { return sum(in[0], ax, keep); }, {x}, "sum");
      gradcheck([&](const TensorList& in) { return mean(in[0], ax, keep); }, {x}, "mean");
      gradcheck([&](const TensorList& in) { return max(in[0], ax, keep); }, {x}, "max");
      gradcheck([&](const TensorList& in) { return min(in[0], ax, keep); }, {x}, "min");
      gradcheck([&](const TensorList& in) { return logsumexp(in[0], ax, keep); }, {x}, "logsumexp");
      gradcheck([&](const TensorList& in) { return var(in[0], ax, 1, keep); }, {x}, "var");
    }
  }
  // Non-contiguous input to reductions.
  gradcheck([&](const TensorList& in) { return sum(permute(in[0], {2, 0, 1}), {0, 2}); }, {x},
            "sum(permuted)");
  // Values against direct loops.
  auto v = x.to_vector<double>();
  auto s1 = sum(x, {1}).to_vector<double>();
  for (int a = 0; a < 2; ++a)
    for (int c = 0; c < 4; ++c) {
      double acc = 0;
      for (int b = 0; b < 3; ++b) acc += v[a * 12 + b * 4 + c];
      CHECK(s1[a * 4 + c] == doctest::Approx(acc));
    }
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1, 4});
  CHECK(sum(x).shape() == Shape{});
  // f32 sums keep precision over many elements (accumulated in f64).
  Tensor big = Tensor::full(Shape{1 << 22}, 0.1, DType::f32);
  CHECK(sum(big).item() == doctest::Approx(0.1f * (1 << 22)).epsilon(1e-6));
  // logsumexp is stable and handles -inf rows.
  Tensor l = Tensor::from_vector<double>({1000, 1000, -INFINITY, -INFINITY}, Shape{2, 2});
  auto lse = logsumexp(l, {1}).to_vector<double>();
  CHECK(lse[0] == doctest::Approx(1000 + std::log(2.0)));
  CHECK(std::isinf(lse[1]));
  CHECK(lse[1] < 0);
  // max gradient splits between ties.
  Tensor t = Tensor::from_vector<double>({1, 3, 3}, Shape{3});
  t.set_requires_grad();
  max(t).backward();
  CHECK(t.grad().to_vector<double>() == std::vector<double>{0, 0.5, 0.5});
  // argmax / argmin.
  Tensor am = Tensor::from_vector<float>({1, 9, 3, 7, 2, 8}, Shape{2, 3});
  CHECK(argmax(am, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmin(am, 0).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});
  CHECK(argmax(am, 1, true).shape() == Shape{2, 1});
}

TEST_CASE("reductions: integer extremes, NaN, ties and empty axes follow one rule") {
  // Integers: max of all-negative values and min of positive ones (the identities are the
  // type's extremes, not 0).
  for (DType d : {DType::i32, DType::i64}) {
    Tensor neg = to(Tensor::from_vector<double>({-5, -3, -7, -9, -4, -6}, Shape{2, 3}), d);
    CHECK(max(neg, {1}).to_vector<int64_t>() == std::vector<int64_t>{-3, -4});
    CHECK(min(to(Tensor::from_vector<double>({5, 3, 7}, Shape{3}), d)).item() == 3.0);
  }
  Tensor bytes = to(Tensor::from_vector<double>({200, 255, 7}, Shape{3}), DType::u8);
  CHECK(max(bytes).item() == 255.0);
  CHECK(min(bytes).item() == 7.0);
  // A NaN anywhere in a row makes its max and min NaN; other rows are unaffected.
  for (DType d : {DType::f32, DType::f64}) {
    for (int at : {0, 2, 4}) {
      std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
      v[static_cast<size_t>(at)] = NAN;
      Tensor x = to(Tensor::from_vector(v, Shape{2, 5}), d);
      for (const Tensor& r : {max(x, {1}), min(x, {1})}) {
        const std::vector<double> rv = r.to_vector<double>();
        CHECK(std::isnan(rv[0]));
        CHECK(!std::isnan(rv[1]));
      }
    }
    // argmax / argmin: the first NaN wins; among equal values, the first index.
    Tensor a = to(Tensor::from_vector<double>({1, NAN, 5, NAN, 5, 0}, Shape{6}), d);
    CHECK(argmax(a, 0).item() == 1.0);
    CHECK(argmin(a, 0).item() == 1.0);
    Tensor ties = to(Tensor::from_vector<double>({1, 5, 0, 5, 0, 2}, Shape{6}), d);
    CHECK(argmax(ties, 0).item() == 1.0);
    CHECK(argmin(ties, 0).item() == 2.0);
  }
  // Empty axes: sum 0, mean NaN (0 / 0).
  Tensor empty = Tensor::zeros(Shape{3, 0}, DType::f64);
  CHECK(sum(empty, {1}).to_vector<double>() == std::vector<double>{0, 0, 0});
  for (double m : mean(empty, {1}).to_vector<double>()) CHECK(std::isnan(m));
}

TEST_CASE("reductions into a contiguous block of outputs equal a loop in the same order, bit for bit") {
  // A convolution's bias gradient on a channel-blocked layout sums the rank-5 view
  // (N, C/B, H, W, B) over N, H and W: the CPU adds each run of rows into one block of B
  // accumulators (B = 16 and 8 as constants, other widths at run time). Checked exactly against
  // a loop that adds in memory order into double accumulators, for sum, mean, max and min, in
  // f32 and f64, with a NaN in one output's inputs.
  for (int64_t B : {16, 8, 5}) {
    for (DType d : {DType::f32, DType::f64}) {
      CAPTURE(B);
      const int64_t N = 3, CB = 2, HW = 35;
      Tensor x = to(rand64(Shape{N, CB, 5, 7, B}, 11, -2, 2), d);
      std::vector<double> v = x.to_vector<double>();
      v[static_cast<size_t>(((1 * CB + 1) * HW + 4) * B + B - 1)] = NAN;  // output (1, B - 1)
      x = to(Tensor::from_vector(v, x.shape()), d);
      v = x.to_vector<double>();  // the values as stored (f32-rounded)
      std::vector<double> s(CB * B, 0.0), hi(CB * B, -INFINITY), lo(CB * B, INFINITY);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t cb = 0; cb < CB; ++cb)
          for (int64_t i = 0; i < HW; ++i)
            for (int64_t c = 0; c < B; ++c) {
              const double e = v[static_cast<size_t>(((n * CB + cb) * HW + i) * B + c)];
              const size_t o = static_cast<size_t>(cb * B + c);
              s[o] += e;
              hi[o] = std::max(hi[o], e);  // (the output holding the NaN is not compared)
              lo[o] = std::min(lo[o], e);
            }
      const Axes ax{0, 2, 3};
      const auto got_s = sum(x, ax).to_vector<double>(), got_m = mean(x, ax).to_vector<double>();
      const auto got_hi = max(x, ax).to_vector<double>(), got_lo = min(x, ax).to_vector<double>();
      REQUIRE(got_s.size() == s.size());
      const double count = static_cast<double>(N * HW);
      for (size_t o = 0; o < s.size(); ++o) {
        CAPTURE(o);
        const bool nan = o == static_cast<size_t>(CB * B - 1);
        CHECK(std::isnan(got_s[o]) == nan);
        CHECK(std::isnan(got_hi[o]) == nan);
        CHECK(std::isnan(got_lo[o]) == nan);
        if (nan) continue;
        // The f32 outputs are the double accumulators rounded once.
        auto as_stored = [&](double a) { return d == DType::f32 ? double(float(a)) : a; };
        CHECK(got_s[o] == as_stored(s[o]));
        CHECK(got_m[o] == as_stored(s[o] / count));
        CHECK(got_hi[o] == hi[o]);
        CHECK(got_lo[o] == lo[o]);
      }
    }
  }
  // The same path with the reduced axis outermost: column sums of a matrix (width 33).
  Tensor m = rand64(Shape{6, 33}, 12, -1, 1);
  const std::vector<double> mv = m.to_vector<double>();
  const std::vector<double> cs = sum(m, {0}).to_vector<double>();
  for (int64_t c = 0; c < 33; ++c) {
    double a = 0;
    for (int64_t r = 0; r < 6; ++r) a += mv[static_cast<size_t>(r * 33 + c)];
    CHECK(cs[static_cast<size_t>(c)] == a);
  }
}

TEST_CASE("shape ops: gradients of views and copies") {
  Tensor x = rand64(Shape{2, 3, 4}, 9);
  gradcheck([](const TensorList& in) { return reshape(in[0], Shape{4, -1}); }, {x}, "reshape");
  gradcheck([](const TensorList& in) { return flatten(in[0], 1); }, {x}, "flatten");
  gradcheck([](const TensorList& in) { return permute(in[0], {2, 0, 1}); }, {x}, "permute");
  gradcheck([](const TensorList& in) { return transpose(in[0], 0, 2); }, {x}, "transpose");
  gradcheck([](const TensorList& in) { return expand(slice(in[0], 1, 0, 1), Shape{2, 5, 4}); }, {x},
            "expand");
  gradcheck([](const TensorList& in) { return slice(in[0], 2, 1, 4, 2); }, {x}, "slice");
  gradcheck([](const TensorList& in) { return squeeze(slice(in[0], 1, 1, 2), 1); }, {x}, "squeeze");
  gradcheck([](const TensorList& in) { return unsqueeze(in[0], -1); }, {x}, "unsqueeze");
  gradcheck([](const TensorList& in) { return reshape(transpose(in[0], 0, 1), Shape{-1}); }, {x},
            "reshape(transposed) copies");
  gradcheck([](const TensorList& in) { return contiguous(permute(in[0], {1, 2, 0})); }, {x},
            "contiguous");
  Tensor y = rand64(Shape{2, 5, 4}, 10);
  gradcheck([](const TensorList& in) { return concat({in[0], in[1]}, 1); }, {x, y}, "concat");
  gradcheck([](const TensorList& in) { return stack({in[0], in[0] * 2.0}, 0); }, {x}, "stack");
  gradcheck([](const TensorList& in) { return pad(in[0], {1, 2, 0, 1}, 0.5); }, {x}, "pad");
  gradcheck([](const TensorList& in) { return to(to(in[0], DType::f32), DType::f64) * in[0]; },
            {x}, "to(f32)", {1e-3, 1e-3, 1e-3});
  Tensor p = pad(Tensor::ones(Shape{1, 2}), {1, 1}, 7.0);
  CHECK(p.to_vector<float>() == std::vector<float>{7, 1, 1, 7});
  CHECK_THROWS_WITH_AS(reshape(x, Shape{5, 5}), doctest::Contains("reshape: f64[2, 3, 4] has 24"),
                       Error);
  CHECK_THROWS_WITH_AS(concat({x, rand64(Shape{2, 3, 5}, 1)}, 1),
                       doctest::Contains("only axis 1 may differ"), Error);
}
