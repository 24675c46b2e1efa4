// Device-parity cases: unary, binary and where, float and integer (the table's vocabulary: device_parity.h).
#include <cmath>

#include "ops/distributions.h"
#include "ops/kernel_sums.h"
#include "ops/likelihoods.h"
#include "tests/engine/device_parity.h"

namespace unravel::parity {

void add_elementwise_cases(std::vector<Case>& t) {
  const Rows row{t};
  // ---- unary (every UnaryOp the public API exposes; trigamma runs in digamma's backward) ----
  struct U {
    const char* name;
    UnaryFn f;
    double lo, hi;
    Tol tol;
  };
  const U unary[] = {
      {"neg", UN(neg(x)), -2, 2, Tol::plain},
      {"operator-", UN(-x), -2, 2, Tol::plain},
      {"exp", UN(exp(x)), -3, 3, Tol::transcendental},
      {"log", UN(log(x)), 0.2, 3, Tol::transcendental},
      {"log1p", UN(log1p(x)), -0.5, 2, Tol::transcendental},
      {"expm1", UN(expm1(x)), -2, 2, Tol::transcendental},
      {"sqrt", UN(sqrt(x)), 0.2, 3, Tol::plain},
      {"rsqrt", UN(rsqrt(x)), 0.2, 3, Tol::plain},
      {"abs", UN(abs(x)), -2, 2, Tol::plain},
      {"square", UN(square(x)), -2, 2, Tol::plain},
      {"sigmoid", UN(sigmoid(x)), -6, 6, Tol::transcendental},
      {"tanh", UN(tanh(x)), -3, 3, Tol::transcendental},
      {"relu", UN(relu(x)), -2, 2, Tol::plain},
      {"leaky_relu", UN(leaky_relu(x, 0.2)), -2, 2, Tol::plain},
      {"softplus", UN(softplus(x)), -6, 6, Tol::transcendental},
      {"lgamma", UN(lgamma(x)), 0.3, 5, Tol::transcendental},
      {"digamma", UN(digamma(x)), 0.3, 5, Tol::transcendental},
      {"digamma_negative", UN(digamma(x)), -0.9, -0.1, Tol::transcendental},
      {"erf", UN(erf(x)), -2, 2, Tol::transcendental},
      {"sign", UN(sign(x)), -2, 2, Tol::plain},
      {"reciprocal", UN(reciprocal(x)), 0.5, 2, Tol::plain},
      {"sin", UN(sin(x)), -3, 3, Tol::transcendental},
      {"cos", UN(cos(x)), -3, 3, Tol::transcendental},
      {"floor", UN(floor(x)), -3, 3, Tol::plain},
      {"pow_scalar(2.5)", UN(pow(x, 2.5)), 0.2, 3, Tol::transcendental},
      {"pow_scalar(3)", UN(pow(x, 3.0)), -2, 2, Tol::transcendental},
      {"pow_scalar(-0.5)", UN(pow(x, -0.5)), 0.2, 3, Tol::transcendental},
      {"scale", UN(x * 1.7), -2, 2, Tol::plain},
      {"scale_left", UN(0.3 * x), -2, 2, Tol::plain},
      {"div_scalar", UN(x / 3.0), -2, 2, Tol::plain},
      {"add_scalar", UN(x + 0.5), -2, 2, Tol::plain},
      {"add_scalar_left", UN(0.5 + x), -2, 2, Tol::plain},
      {"sub_scalar", UN(x - 0.25), -2, 2, Tol::plain},
      {"rsub_scalar", UN(1.5 - x), -2, 2, Tol::plain},
      {"rdiv_scalar", UN(2.0 / x), 0.5, 2, Tol::plain},
      {"clamp", UN(clamp(x, -0.5, 0.7)), -2, 2, Tol::plain},
  };
  for (const U& u : unary) {
    const UnaryFn f = u.f;
    auto fn = [f](const TensorList& in, Device) { return TensorList{f(in[0])}; };
    for (DType dt : floats) {
      const std::string n = u.name;
      row(n + " [7,13]", dt, {X({7, 13}, u.lo, u.hi)}, fn, u.tol);
      row(n + " transposed [13,7]", dt, {X({13, 7}, u.lo, u.hi).t()}, fn, u.tol);
      row(n + " strided [5,6]", dt, {X({5, 6}, u.lo, u.hi).s()}, fn, u.tol);
      row(n + " [1]", dt, {X({1}, u.lo, u.hi)}, fn, u.tol);
      row(n + " 0-d", dt, {X({}, u.lo, u.hi)}, fn, u.tol);
      row(n + " empty [0,5]", dt, {X({0, 5}, u.lo, u.hi)}, fn, u.tol);
    }
  }
  // logical_not: on integer-valued floats (zeros included) and on integers.
  for (DType dt : {kF32, kF64, DType::i32, DType::i64, DType::u8}) {
    double lo = dt == DType::u8 ? 0 : -2;
    row("logical_not [7,13]", dt, {X({7, 13}, lo, 3).ints()}, one([](auto& in) { return logical_not(in[0]); }));
  }
  // Integer unary ops (forward only).
  const std::pair<const char*, UnaryFn> int_unary[] = {
      {"neg", UN(neg(x))},     {"abs", UN(abs(x))},         {"square", UN(square(x))},
      {"relu", UN(relu(x))},   {"sign", UN(sign(x))},       {"scale", UN(x * 3.0)},
      {"add_scalar", UN(x + 4.0)}, {"rsub_scalar", UN(2.0 - x)},
  };
  for (const auto& [name, f] : int_unary)
    for (DType dt : {DType::i32, DType::i64}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0])}; };
      row(std::string(name) + " [7,13]", dt, {X({7, 13}, -9, 9).ints()}, fn);
      row(std::string(name) + " transposed [13,7]", dt, {X({13, 7}, -9, 9).ints().t()}, fn);
    }

  // ---- binary ----------------------------------------------------------------------------------
  struct B {
    const char* name;
    BinaryFn f;
    double alo, ahi, blo, bhi;
    Tol tol;
  };
  const B binary[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, -2, 2, 0.5, 2, Tol::plain},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 2, -2, 2,
       Tol::transcendental},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, -2, 2, -2, 2,
       Tol::plain},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, -2, 2, -2, 2,
       Tol::plain},
      {"fmod", [](const Tensor& a, const Tensor& b) { return fmod(a, b); }, -3, 3, 0.5, 2,
       Tol::plain},
      {"operator+", [](const Tensor& a, const Tensor& b) { return a + b; }, -2, 2, -2, 2, Tol::plain},
      {"operator/", [](const Tensor& a, const Tensor& b) { return a / b; }, -2, 2, 0.5, 2, Tol::plain},
  };
  for (const B& b : binary) {
    const BinaryFn f = b.f;
    auto fn = [f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
    auto A = [&](Shape s) { return X(std::move(s), b.alo, b.ahi); };
    auto Bv = [&](Shape s) { return X(std::move(s), b.blo, b.bhi); };
    for (DType dt : floats) {
      const std::string n = b.name;
      row(n + " [7,13] [7,13]", dt, {A({7, 13}), Bv({7, 13})}, fn, b.tol);
      row(n + " broadcast [4,1,5] [3,5]", dt, {A({4, 1, 5}), Bv({3, 5})}, fn, b.tol);
      row(n + " broadcast [6,1] [1,5]", dt, {A({6, 1}), Bv({1, 5})}, fn, b.tol);
      row(n + " broadcast 0-d [7]", dt, {A({}), Bv({7})}, fn, b.tol);
      row(n + " broadcast [13] [1]", dt, {A({13}), Bv({1})}, fn, b.tol);
      row(n + " transposed/strided [13,7]", dt, {A({13, 7}).t(), Bv({13, 7}).s()}, fn, b.tol);
      row(n + " transposed [6,5] broadcast [5]", dt, {A({6, 5}).t(), Bv({5})}, fn, b.tol);
      row(n + " empty [0,3] [3]", dt, {A({0, 3}), Bv({3})}, fn, b.tol);
    }
  }
  // Integer arithmetic (forward only).
  const std::pair<const char*, BinaryFn> int_binary[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  for (const auto& [name, f] : int_binary)
    for (DType dt : {DType::i32, DType::i64}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
      row(std::string(name) + " [7,13] [7,13]", dt,
          {X({7, 13}, -9, 9).ints(), X({7, 13}, -9, 9).ints()}, fn);
      row(std::string(name) + " broadcast [4,1,5] [3,5] transposed", dt,
          {X({4, 1, 5}, -9, 9).ints(), X({3, 5}, -9, 9).ints().t()}, fn);
    }
  // Comparisons (u8 results), with ties: integer values in every dtype.
  const std::pair<const char*, BinaryFn> cmps[] = {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  for (const auto& [name, f] : cmps)
    for (DType dt : {kF32, kF64, DType::i32, DType::i64, DType::u8}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
      const double lo = dt == DType::u8 ? 0 : -2;
      row(std::string(name) + " [7,13] [7,13]", dt,
          {X({7, 13}, lo, 3).ints(), X({7, 13}, lo, 3).ints()}, fn);
      row(std::string(name) + " broadcast [4,1,5] [3,5]", dt,
          {X({4, 1, 5}, lo, 3).ints(), X({3, 5}, lo, 3).ints()}, fn);
      row(std::string(name) + " transposed [13,7] 0-d", dt,
          {X({13, 7}, lo, 3).ints().t(), X({}, lo, 3).ints()}, fn);
      row(std::string(name) + " empty [0,4] [4]", dt, {X({0, 4}, lo, 3).ints(), X({4}, lo, 3).ints()}, fn);
    }
  for (DType dt : floats) {
    row("gt(x, scalar) [7,13]", dt, {X({7, 13})}, one([](auto& in) { return gt(in[0], 0.25); }));
    row("lt(x, scalar) strided [5,6]", dt, {X({5, 6}).s()},
        one([](auto& in) { return lt(in[0], -0.25); }));
  }

  // ---- where ----------------------------------------------------------------------------------
  auto where3 = one([](auto& in) { return where(in[0], in[1], in[2]); });
  for (DType dt : floats) {
    row("where [7,13]", dt, {Cond({7, 13}), X({7, 13}), X({7, 13})}, where3);
    row("where broadcast [4,1,5] [3,5] 0-d", dt, {Cond({4, 1, 5}), X({3, 5}), X({})}, where3);
    row("where transposed/strided [13,7] [7]", dt, {Cond({13, 7}).t(), X({13, 7}).s(), X({7})},
        where3);
    row("where empty [0,5]", dt, {Cond({0, 5}), X({0, 5}), X({5})}, where3);
    row("where(gt(a, b), a, 2b) [6,1] [5]", dt, {X({6, 1}), X({5})},
        one([](auto& in) { return where(gt(in[0], in[1]), in[0], in[1] * 2.0); }));
  }
  for (DType dt : {DType::i32, DType::i64})
    row("where int [4,1,5] [3,5] [5]", dt, {Cond({4, 1, 5}), X({3, 5}, -9, 9).ints(), X({5}, -9, 9).ints()},
        where3);
}

}  // namespace unravel::parity
