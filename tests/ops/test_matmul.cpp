// matmul, linear and the gemm kernel: values against a naive f64 triple loop (f64 and f32),
// every operand-shape combination (1-D, 2-D, batched, broadcast batch, transposed / strided /
// expanded views), f64 finite-difference gradient checks of all of them, and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

// NumPy matmul by definition, in f64 on row-major copies of a and b.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  Shape pa = a.dim() == 1 ? Shape{1, a.shape()[0]} : a.shape();
  Shape pb = b.dim() == 1 ? Shape{b.shape()[0], 1} : b.shape();
  const int ra = pa.size(), rb = pb.size();
  const int64_t m = pa[ra - 2], k = pa[ra - 1], n = pb[rb - 1];
  REQUIRE(pb[rb - 2] == k);
  Shape ba(pa.begin(), pa.end() - 2), bb(pb.begin(), pb.end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "naive_matmul");
  const int nb = batch.size();
  std::vector<double> out(numel(batch) * m * n, 0.0);
  for (int64_t flat = 0; flat < numel(batch); ++flat) {
    // Batch coordinates, mapped into a's and b's (right-aligned, extent 1 broadcasts).
    int64_t rem = flat, oa = 0, ob = 0, sa = 1, sb = 1;
    for (int d = nb - 1; d >= 0; --d) {
      int64_t i = rem % batch[d];
      rem /= batch[d];
      int da = d - (nb - ba.size()), db = d - (nb - bb.size());
      if (da >= 0) {
        oa += (ba[da] == 1 ? 0 : i) * sa;
        sa *= ba[da];
      }
      if (db >= 0) {
        ob += (bb[db] == 1 ? 0 : i) * sb;
        sb *= bb[db];
      }
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += av[oa * m * k + i * k + p] * bv[ob * k * n + p * n + j];
        out[(flat * m + i) * n + j] = s;
      }
  }
  Shape shape = batch;
  if (a.dim() > 1) shape.push_back(m);
  if (b.dim() > 1) shape.push_back(n);
  return Tensor::from_vector<double>(out, shape);
}

// x @ w^T + b by definition (x 2-D or more).
Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = naive_matmul(x, transpose(w, 0, 1));
  return b.defined() ? y + to(b, DType::f64) : y;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// An operand builder: from a fresh contiguous f64 tensor to the view under test.
struct Operand {
  const char* what;
  Shape base;                                 // shape of the contiguous source
  std::function<Tensor(const Tensor&)> view;  // identity or a non-contiguous view
};

Tensor ident(const Tensor& t) { return t; }
Tensor tr(const Tensor& t) { return transpose(t, -1, -2); }

struct Case {
  Operand a, b;
};

std::vector<Case> cases() {
  return {
      {{"vec", {4}, ident}, {"vec", {4}, ident}},
      {{"vec", {3}, ident}, {"mat", {3, 5}, ident}},
      {{"mat", {3, 4}, ident}, {"vec", {4}, ident}},
      {{"mat", {3, 4}, ident}, {"mat", {4, 5}, ident}},
      {{"batch", {2, 3, 4}, ident}, {"batch", {2, 4, 5}, ident}},
      {{"batch", {2, 3, 4}, ident}, {"mat (shared)", {4, 5}, ident}},
      {{"batch4", {2, 2, 3, 4}, ident}, {"mat (shared)", {4, 2}, ident}},
      {{"mat", {3, 4}, ident}, {"batch", {2, 4, 5}, ident}},
      {{"vec", {4}, ident}, {"batch", {2, 4, 5}, ident}},
      {{"batch", {2, 3, 4}, ident}, {"vec", {4}, ident}},
      {{"bcast", {2, 1, 3, 4}, ident}, {"bcast", {5, 4, 2}, ident}},
      {{"bcast", {1, 3, 4}, ident}, {"bcast", {3, 1, 4, 2}, ident}},
      // Non-contiguous operands.
      {{"A^T view", {4, 3}, tr}, {"mat", {4, 5}, ident}},
      {{"mat", {3, 4}, ident}, {"B^T view", {5, 4}, tr}},
      {{"A^T view", {4, 3}, tr}, {"B^T view", {5, 4}, tr}},
      {{"batched A^T", {2, 4, 3}, tr}, {"batched B^T", {2, 5, 4}, tr}},
      {{"batched A^T", {2, 4, 3}, tr}, {"mat (shared)", {4, 5}, ident}},
      {{"permuted batch", {3, 2, 4},
        [](const Tensor& t) { return permute(t, {1, 0, 2}); }},
       {"mat (shared)", {4, 5}, ident}},
      {{"strided cols (copy)", {3, 8}, [](const Tensor& t) { return slice(t, 1, 0, 8, 2); }},
       {"mat", {4, 2}, ident}},
      {{"strided vec", {8}, [](const Tensor& t) { return slice(t, 0, 1, 8, 2); }},
       {"mat", {4, 3}, ident}},
      {{"expanded batch", {1, 3, 4}, [](const Tensor& t) { return expand(t, Shape{2, 3, 4}); }},
       {"batch", {2, 4, 2}, ident}},
      {{"batch", {2, 3, 4}, ident},
       {"expanded batch B^T", {1, 5, 4},
        [](const Tensor& t) { return tr(expand(t, Shape{2, 5, 4})); }}},
  };
}

}  // namespace

TEST_CASE("matmul: values against a naive loop in f64 and f32, every shape combination") {
  uint64_t seed = 10;
  for (const Case& c : cases()) {
    std::string what = std::string(c.a.what) + " " + c.a.base.str() + " @ " + c.b.what + " " +
                       c.b.base.str();
    CAPTURE(what);
    Tensor a = c.a.view(rand64(c.a.base, ++seed)), b = c.b.view(rand64(c.b.base, ++seed));
    Tensor ref = naive_matmul(a, b);
    Tensor y = matmul(a, b);
    REQUIRE(y.shape() == ref.shape());
    CHECK(y.dtype() == DType::f64);
    CHECK(max_abs_diff(y, ref) < 1e-12);
    Tensor y32 = matmul(c.a.view(to(rand64(c.a.base, seed - 1), DType::f32)),
                        c.b.view(to(rand64(c.b.base, seed), DType::f32)));
    CHECK(y32.dtype() == DType::f32);
    CHECK(max_abs_diff(y32, ref) < 1e-5);
  }
}

TEST_CASE("matmul: f64 gradient checks for every shape combination") {
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    std::string what = std::string(c.a.what) + " " + c.a.base.str() + " @ " + c.b.what + " " +
                       c.b.base.str();
    CAPTURE(what);
    Tensor a = rand64(c.a.base, ++seed), b = rand64(c.b.base, ++seed);
    gradcheck([&](const TensorList& in) { return matmul(c.a.view(in[0]), c.b.view(in[1])); },
              {a, b}, "matmul " + what);
  }
}

TEST_CASE("matmul: gradient when only one operand requires grad") {
  Tensor a = rand64(Shape{2, 3, 4}, 1).set_requires_grad(true);
  Tensor b = rand64(Shape{4, 5}, 2);
  Tensor g = rand64(Shape{2, 3, 5}, 3);
  matmul(a, b).backward(g);
  REQUIRE(a.grad().defined());
  CHECK(max_abs_diff(a.grad(), naive_matmul(g, transpose(b, 0, 1))) < 1e-12);
  Tensor a2 = rand64(Shape{2, 3, 4}, 4);
  Tensor b2 = rand64(Shape{4, 5}, 5).set_requires_grad(true);
  matmul(a2, b2).backward(g);
  REQUIRE(b2.grad().defined());
  Tensor ref = sum(naive_matmul(transpose(a2, -1, -2), g), {0});
  CHECK(max_abs_diff(b2.grad(), ref) < 1e-12);
}

TEST_CASE("linear: values with and without bias, 1-D to 3-D x, f32 and f64") {
  const Shape xs[] = {Shape{6}, Shape{4, 6}, Shape{2, 3, 6}};
  for (const Shape& s : xs) {
    std::string shape = s.str();
    CAPTURE(shape);
    Tensor x = rand64(s, 1), w = rand64(Shape{5, 6}, 2), b = rand64(Shape{5}, 3);
    Shape ys(s.begin(), s.end() - 1);
    ys.push_back(5);
    Tensor x2 = x.dim() == 1 ? reshape(x, Shape{1, 6}) : x;
    Tensor ref_b = reshape(naive_linear(x2, w, b), ys);
    Tensor ref = reshape(naive_linear(x2, w, Tensor()), ys);
    Tensor y = linear(x, w, b), y0 = linear(x, w);
    REQUIRE(y.shape() == ys);
    REQUIRE(y0.shape() == ys);
    CHECK(max_abs_diff(y, ref_b) < 1e-12);
    CHECK(max_abs_diff(y0, ref) < 1e-12);
    Tensor y32 = linear(to(x, DType::f32), to(w, DType::f32), to(b, DType::f32));
    CHECK(y32.dtype() == DType::f32);
    CHECK(max_abs_diff(y32, ref_b) < 1e-5);
  }
  // Non-contiguous x (transposed 3-D view) and a transposed weight view.
  Tensor xt = transpose(rand64(Shape{2, 6, 3}, 4), 1, 2);  // (2, 3, 6)
  Tensor wt = transpose(rand64(Shape{6, 5}, 5), 0, 1);     // (5, 6)
  Tensor b = rand64(Shape{5}, 6);
  CHECK(max_abs_diff(linear(xt, wt, b), naive_linear(contiguous(xt), contiguous(wt), b)) < 1e-12);
}

TEST_CASE("linear: f64 gradient checks with and without bias, 2-D and 3-D x") {
  Tensor w = rand64(Shape{5, 6}, 2), b = rand64(Shape{5}, 3);
  const Shape xs[] = {Shape{6}, Shape{4, 6}, Shape{2, 3, 6}};
  for (const Shape& s : xs) {
    Tensor x = rand64(s, 1);
    gradcheck([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b},
              "linear+bias x" + s.str());
    gradcheck([](const TensorList& in) { return linear(in[0], in[1]); }, {x, w},
              "linear x" + s.str());
  }
  Tensor xt = rand64(Shape{2, 6, 3}, 4);
  gradcheck([](const TensorList& in) { return linear(transpose(in[0], 1, 2), in[1], in[2]); },
            {xt, w, b}, "linear transposed x");
  // Only the bias requires grad: db = sum over rows of dy.
  Tensor bb = rand64(Shape{5}, 7).set_requires_grad(true);
  Tensor g = rand64(Shape{2, 3, 5}, 8);
  linear(rand64(Shape{2, 3, 6}, 9), w, bb).backward(g);
  CHECK(max_abs_diff(bb.grad(), sum(g, {0, 1})) < 1e-12);
}

TEST_CASE("gemm kernel: trans flags, alpha/beta, column-major C and broadcast batch") {
  Backend& be = backend(kCPU);
  Tensor a = rand64(Shape{2, 4, 3}, 1);  // used as op(A) = A^T: (3, 4)
  Tensor b = rand64(Shape{1, 5, 4}, 2);  // used as op(B) = B^T: (4, 5), shared over the batch
  Tensor c0 = rand64(Shape{2, 3, 5}, 3);
  Tensor ref = naive_matmul(transpose(a, 1, 2), transpose(b, 1, 2)) * 0.5 + c0 * 2.0;
  Tensor c = clone(c0);
  be.gemm(true, true, 0.5, a.view(), b.view(), 2.0, c.view());
  CHECK(max_abs_diff(c, ref) < 1e-12);
  // C stored column-major: write into a transposed view of a (2, 5, 3) buffer.
  Tensor cbuf = contiguous(transpose(c0, 1, 2));
  Tensor cview = transpose(cbuf, 1, 2);  // (2, 3, 5), unit stride along dim 1
  be.gemm(true, true, 0.5, a.view(), b.view(), 2.0, cview.view());
  CHECK(max_abs_diff(cview, ref) < 1e-12);
  // f32 with beta = 0 ignores C's contents (even NaN).
  Tensor c32 = Tensor::full(Shape{2, 3, 5}, NAN, DType::f32);
  be.gemm(true, true, 1.0, to(a, DType::f32).view(), to(b, DType::f32).view(), 0.0, c32.view());
  CHECK(max_abs_diff(c32, naive_matmul(transpose(a, 1, 2), transpose(b, 1, 2))) < 1e-5);
  // k = 0: C = beta * C.
  Tensor ce = clone(c0);
  be.gemm(false, false, 1.0, Tensor::zeros(Shape{2, 3, 0}, DType::f64).view(),
          Tensor::zeros(Shape{2, 0, 5}, DType::f64).view(), 3.0, ce.view());
  CHECK(max_abs_diff(ce, c0 * 3.0) < 1e-12);
}

TEST_CASE("gemm kernel: f32 products on both sides of the small-product rule, every layout") {
  // Products of at most 65 536 multiply-adds run on OpenBLAS, larger ones on oneDNN
  // (ops/cpu/gemm_cpu.cpp): both libraries' calls (trans flags from views, leading dimensions,
  // column-major C, alpha / beta, a broadcast batch) must give the f64 product to f32 accuracy.
  Backend& be = backend(kCPU);
  for (int64_t n : {32, 33})  // 64·32·32 = 65 536 (OpenBLAS) and 64·32·33 (oneDNN)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (bool c_colmajor : {false, true}) {
          CAPTURE(n);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(c_colmajor);
          const int64_t m = 64, k = 32;
          Tensor a = rand64(ta ? Shape{2, k, m} : Shape{2, m, k}, 11);
          Tensor b = rand64(tb ? Shape{1, n, k} : Shape{1, k, n}, 12);
          Tensor c0 = rand64(Shape{2, m, n}, 13);
          Tensor opa = ta ? transpose(a, 1, 2) : a, opb = tb ? transpose(b, 1, 2) : b;
          Tensor ref = naive_matmul(opa, opb) * 0.5 + c0 * 2.0;
          Tensor c = c_colmajor ? transpose(contiguous(transpose(to(c0, DType::f32), 1, 2)), 1, 2)
                                : clone(to(c0, DType::f32));
          be.gemm(ta, tb, 0.5, to(a, DType::f32).view(), to(b, DType::f32).view(), 2.0, c.view());
          CHECK(max_abs_diff(c, ref) < 1e-4);
        }
}

TEST_CASE("gemm kernel: small f32 products (OpenBLAS) of every odd shape, layout and beta") {
  Backend& be = backend(kCPU);
  int checked = 0;
  for (int64_t m : {1, 2, 3, 7, 16, 17})
    for (int64_t n : {1, 2, 5, 16, 33})
      for (int64_t k : {1, 2, 3, 10, 64})
        for (int variant = 0; variant < 8; ++variant) {
          const bool ta = variant & 1, tb = variant & 2, beta1 = variant & 4;
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          CAPTURE(variant);
          const uint64_t seed = static_cast<uint64_t>(m * 1000 + n * 10 + k + variant * 7);
          // Operands as views with padded leading dimensions (a slice of a wider buffer).
          Tensor abuf = rand64(ta ? Shape{2, k, m + 3} : Shape{2, m, k + 3}, seed);
          Tensor bbuf = rand64(tb ? Shape{1, n, k + 2} : Shape{1, k, n + 2}, seed + 1);
          Tensor a = slice(abuf, 2, 0, ta ? m : k), b = slice(bbuf, 2, 0, tb ? k : n);
          Tensor c0 = rand64(Shape{2, m, n}, seed + 2);
          Tensor opa = ta ? transpose(a, 1, 2) : a, opb = tb ? transpose(b, 1, 2) : b;
          Tensor ref = naive_matmul(contiguous(opa), contiguous(opb)) * 1.5 +
                       (beta1 ? c0 : c0 * 0.0);
          Tensor c = clone(to(c0, DType::f32));
          Tensor a32 = slice(to(abuf, DType::f32), 2, 0, ta ? m : k);
          Tensor b32 = slice(to(bbuf, DType::f32), 2, 0, tb ? k : n);
          be.gemm(ta, tb, 1.5, a32.view(), b32.view(), beta1 ? 1.0 : 0.0, c.view());
          CHECK(max_abs_diff(c, ref) < 1e-4 * (1.0 + static_cast<double>(k)));
          ++checked;
        }
  CHECK(checked == 6 * 5 * 5 * 8);
}

TEST_CASE("matmul, linear and gemm: error messages name the op and the shapes") {
  auto f = [](const Shape& s) { return Tensor::ones(s); };
  CHECK(error_of([&] { matmul(f({2, 3}), f({4, 5})); }) ==
        "matmul: [2, 3] @ [4, 5]: inner dimensions 3 and 4 differ");
  CHECK(error_of([&] { matmul(f({3}), f({4})); }) ==
        "matmul: [3] @ [4]: inner dimensions 3 and 4 differ");
  CHECK(error_of([&] { matmul(f({2, 3, 4}), f({3, 4, 5})); }) ==
        "matmul: [2, 3, 4] @ [3, 4, 5]: batch dimensions [2] and [3] do not broadcast");
  CHECK(error_of([&] { matmul(f({2, 3}), Tensor::ones(Shape{3, 2}, DType::f64)); })
            .find("matmul: dtypes differ") != std::string::npos);
  CHECK(error_of([&] { matmul(Tensor::ones(Shape{2, 2}, DType::i64),
                              Tensor::ones(Shape{2, 2}, DType::i64)); })
            .find("matmul: needs f32 or f64") != std::string::npos);
  CHECK(error_of([&] { matmul(Tensor::scalar(1.0), f({2})); }) ==
        "matmul: [] @ [2]: both operands need at least 1 dimension");
  CHECK(error_of([&] { linear(f({4, 6}), f({5, 7})); }) ==
        "linear: x [4, 6] and w [5, 7]: in-features 6 and 7 differ");
  CHECK(error_of([&] { linear(f({4, 6}), f({5, 6}), f({4})); }) ==
        "linear: bias [4] does not match w [5, 6] (expected [5])");
  CHECK(error_of([&] { linear(f({4, 6}), f({6})); }).find("linear: w must be 2-D") !=
        std::string::npos);
  Backend& be = backend(kCPU);
  Tensor c = Tensor::empty(Shape{1, 2, 5});
  CHECK(error_of([&] { be.gemm(false, false, 1, f({1, 2, 3}).view(), f({1, 4, 5}).view(), 0,
                               c.view()); }) ==
        "gemm: op(A) [1, 2, 3] and op(B) [1, 4, 5]: inner dimensions 3 and 4 differ");
  Tensor strided = slice(f({1, 2, 8}), 2, 0, 8, 2);  // no unit stride in either matrix dim
  CHECK(error_of([&] { be.gemm(false, false, 1, strided.view(), f({1, 4, 5}).view(), 0,
                               c.view()); })
            .find("gemm: A [1, 2, 4] with strides") != std::string::npos);
}

TEST_CASE("bf16 precision: products of bf16-rounded operands accumulated in f32") {
  if (!backend(kCPU).supports(Kernel::gemm_bf16)) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX (oneDNN), so bf16 GEMMs are refused");
    PrecisionGuard bf(Precision::bf16);
    CHECK_THROWS_WITH_AS(matmul(Tensor::ones(Shape{1024, 1024}), Tensor::ones(Shape{1024, 1})),
                         doctest::Contains("needs a CPU with AVX512-BF16 or AMX"), Error);
    return;
  }
  Generator g(4);
  auto ref = [](const Tensor& a, const Tensor& b) {  // f64 product of the bf16-rounded values
    return matmul(to(to(a, DType::bf16), DType::f64), to(to(b, DType::bf16), DType::f64));
  };
  // Products of at least 2^20 multiply-adds per matrix run in bf16 (smaller ones stay f32:
  // checked below); a broadcast batch and a batched product among them.
  const std::pair<Shape, Shape> shapes[] = {{{128, 300}, {300, 40}}, {{3, 64, 256}, {256, 64}},
                                            {{2, 96, 128}, {2, 128, 96}}};
  for (const auto& [sa, sb] : shapes) {
    CAPTURE(sa.str());
    Tensor a = normal(sa, g), b = normal(sb, g);
    Tensor c32 = matmul(a, b), cbf;
    {
      PrecisionGuard bf(Precision::bf16);
      cbf = matmul(a, b);
    }
    CHECK(cbf.dtype() == DType::f32);
    // Against the exact product of the rounded inputs: only f32 accumulation error remains.
    const double scale = max(abs(ref(a, b))).item() + 1e-30;
    CHECK(max_abs_diff(cbf, ref(a, b)) < 1e-5 * scale * std::sqrt(double(sa[sa.size() - 1])));
    // Against f32: the bf16 rounding of the inputs shows (but stays within a few 2^-8).
    const double d = max_abs_diff(cbf, c32) / scale;
    CHECK(d > 0);
    CHECK(d < 0.05);
  }
  // Below the size rule the product stays f32, bit for bit.
  {
    Tensor a = normal(Shape{3, 17, 33}, g), b = normal(Shape{33, 9}, g);
    Tensor c32 = matmul(a, b);
    PrecisionGuard bf(Precision::bf16);
    CHECK(max_abs_diff(matmul(a, b), c32) == 0.0);
  }
  // Transposed and strided operands, bias, alpha/beta through linear (x @ wᵀ + b).
  Tensor x = normal(Shape{256, 96}, g), w = normal(Shape{64, 96}, g), bias = normal(Shape{64}, g);
  Tensor lin;
  {
    PrecisionGuard bf(Precision::bf16);
    lin = linear(transpose(transpose(x, 0, 1).detach(), 0, 1), w, bias);
  }
  Tensor lref = add(matmul(to(to(x, DType::bf16), DType::f64),
                           transpose(to(to(w, DType::bf16), DType::f64), 0, 1)),
                    to(bias, DType::f64));
  CHECK(max_abs_diff(lin, lref) < 1e-5 * (max(abs(lref)).item() + 1.0) * std::sqrt(96.0));
  // f64 products never change precision (gradient checks stay exact).
  Tensor a64 = rand64(Shape{4, 5}, 1), b64 = rand64(Shape{5, 3}, 2);
  Tensor e64 = matmul(a64, b64);
  PrecisionGuard bf(Precision::bf16);
  CHECK(max_abs_diff(matmul(a64, b64), e64) == 0.0);
}
