// Every elementwise formula, written once and compiled for the CPU loops and (when built) the
// CUDA kernels. visit_unary / visit_binary map the op enums of engine/op_kinds.h to functors, so
// the backends cannot drift apart. `kInt` says whether the functor also applies to integers.
// In a CPU ISA-variant build (ops/cpu/isa.h) everything here lies in the inline namespace
// unravel::fn::isa_<variant>, so each variant's instantiations have their own symbols; the names
// fn::Exp, fn::visit_unary... are unchanged for every user.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/hd.h"
#include "engine/op_kinds.h"
#include "ops/cpu/isa.h"

namespace unravel::fn {
UNRAVEL_CPU_ISA_BEGIN

// Math helpers not in <cmath> -------------------------------------------------------------------

/// Numerically stable log(1 + exp(x)).
template <class T> UNRAVEL_HD T softplus(T x) {
  using std::exp; using std::log1p;
  return x > T(20) ? x : (x < T(-20) ? exp(x) : log1p(exp(x)));
}
template <class T> UNRAVEL_HD T sigmoid(T x) {
  using std::exp;
  // Stable for large |x|: never exponentiates a large positive number.
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}
/// log|Γ(x)|. On the host through glibc's reentrant lgamma_r / lgammaf_r (the same results):
/// std::lgamma also stores the sign in the global `signgam`, a data race when the CPU loops'
/// threads (or the CUDA emulation's) evaluate it at once, which ThreadSanitizer reports.
template <class T> UNRAVEL_HD T lgamma_of(T x) {
#if defined(__CUDA_ARCH__)
  return std::lgamma(x);
#else
  int sign = 0;
  if constexpr (std::is_same_v<T, float>) return ::lgammaf_r(x, &sign);
  else return static_cast<T>(::lgamma_r(static_cast<double>(x), &sign));
#endif
}
/// Trigamma ψ'(x): reflection, recurrence to x >= 6, asymptotic series.
template <class T> UNRAVEL_HD T trigamma(T xin) {
  double x = static_cast<double>(xin);
  if (x <= 0.0 && x == std::floor(x)) return static_cast<T>(std::numeric_limits<double>::quiet_NaN());
  double sign = 1.0, result = 0.0;
  if (x < 0.5) {
    // ψ'(1 - x) + ψ'(x) = π² / sin²(π x)
    const double pi = 3.14159265358979323846;
    double s = std::sin(pi * x);
    result = pi * pi / (s * s);
    sign = -1.0;
    x = 1.0 - x;
  }
  double acc = 0.0;
  while (x < 6.0) {
    acc += 1.0 / (x * x);
    x += 1.0;
  }
  double f = 1.0 / (x * x);
  acc += 1.0 / x + f / 2.0 +
         f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))));
  return static_cast<T>(result + sign * acc);
}
/// Digamma ψ(x): reflection for x < 0.5 (poles at non-positive integers give NaN), recurrence up
/// to x >= 6, then the asymptotic series. Accurate to ~1e-15 in double.
template <class T> UNRAVEL_HD T digamma(T xin) {
  double x = static_cast<double>(xin);
  double result = 0.0;
  if (x <= 0.0 && x == std::floor(x)) return static_cast<T>(std::numeric_limits<double>::quiet_NaN());
  if (x < 0.5) {
    // ψ(1 - x) - ψ(x) = π cot(π x)
    const double pi = 3.14159265358979323846;
    result -= pi / std::tan(pi * x);
    x = 1.0 - x;
  }
  while (x < 6.0) {
    result -= 1.0 / x;
    x += 1.0;
  }
  double f = 1.0 / (x * x);
  double series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
  return static_cast<T>(result + std::log(x) - 0.5 / x - series);
}

// Unary functors -----------------------------------------------------------------------------------
#define UNRAVEL_UNARY(NAME, INTS, EXPR)                              \
  struct NAME {                                                      \
    static constexpr bool kInt = INTS;                               \
    template <class T> UNRAVEL_HD T operator()(T x, double alpha) const { \
      (void)alpha;                                                   \
      return EXPR;                                                   \
    }                                                                \
  };
UNRAVEL_UNARY(Neg, true, static_cast<T>(-x))
UNRAVEL_UNARY(Exp, false, std::exp(x))
UNRAVEL_UNARY(Log, false, std::log(x))
UNRAVEL_UNARY(Log1p, false, std::log1p(x))
UNRAVEL_UNARY(Expm1, false, std::expm1(x))
UNRAVEL_UNARY(Sqrt, false, std::sqrt(x))
UNRAVEL_UNARY(Rsqrt, false, T(1) / std::sqrt(x))
UNRAVEL_UNARY(Abs, true, static_cast<T>(x < T(0) ? -x : x))
UNRAVEL_UNARY(Square, true, static_cast<T>(x * x))
UNRAVEL_UNARY(Sigmoid, false, sigmoid(x))
UNRAVEL_UNARY(Tanh, false, std::tanh(x))
UNRAVEL_UNARY(Relu, true, static_cast<T>(x > T(0) ? x : T(0)))
UNRAVEL_UNARY(LeakyRelu, false, x > T(0) ? x : static_cast<T>(x * alpha))
UNRAVEL_UNARY(Softplus, false, softplus(x))
UNRAVEL_UNARY(Lgamma, false, lgamma_of(x))
UNRAVEL_UNARY(Digamma, false, digamma(x))
UNRAVEL_UNARY(Erf, false, std::erf(x))
UNRAVEL_UNARY(Sign, true, static_cast<T>((x > T(0)) - (x < T(0))))
UNRAVEL_UNARY(Reciprocal, false, T(1) / x)
UNRAVEL_UNARY(Sin, false, std::sin(x))
UNRAVEL_UNARY(Cos, false, std::cos(x))
UNRAVEL_UNARY(Floor, false, std::floor(x))
UNRAVEL_UNARY(LogicalNot, true, static_cast<T>(x == T(0)))
UNRAVEL_UNARY(Trigamma, false, trigamma(x))
UNRAVEL_UNARY(Scale, true, static_cast<T>(x * static_cast<T>(alpha)))
UNRAVEL_UNARY(AddScalar, true, static_cast<T>(x + static_cast<T>(alpha)))
UNRAVEL_UNARY(RsubScalar, true, static_cast<T>(static_cast<T>(alpha) - x))
UNRAVEL_UNARY(RdivScalar, false, static_cast<T>(alpha) / x)
UNRAVEL_UNARY(PowScalar, false, static_cast<T>(std::pow(x, static_cast<T>(alpha))))
#undef UNRAVEL_UNARY

/// Calls f(Functor{}) for `op`.
template <class F> UNRAVEL_HD void visit_unary(UnaryOp op, F&& f) {
  static_assert(kNumUnaryOps == 29, "update visit_unary when adding a UnaryOp");
  switch (op) {
    case UnaryOp::neg: f(Neg{}); break;
    case UnaryOp::exp: f(Exp{}); break;
    case UnaryOp::log: f(Log{}); break;
    case UnaryOp::log1p: f(Log1p{}); break;
    case UnaryOp::expm1: f(Expm1{}); break;
    case UnaryOp::sqrt: f(Sqrt{}); break;
    case UnaryOp::rsqrt: f(Rsqrt{}); break;
    case UnaryOp::abs: f(Abs{}); break;
    case UnaryOp::square: f(Square{}); break;
    case UnaryOp::sigmoid: f(Sigmoid{}); break;
    case UnaryOp::tanh: f(Tanh{}); break;
    case UnaryOp::relu: f(Relu{}); break;
    case UnaryOp::leaky_relu: f(LeakyRelu{}); break;
    case UnaryOp::softplus: f(Softplus{}); break;
    case UnaryOp::lgamma: f(Lgamma{}); break;
    case UnaryOp::digamma: f(Digamma{}); break;
    case UnaryOp::erf: f(Erf{}); break;
    case UnaryOp::sign: f(Sign{}); break;
    case UnaryOp::reciprocal: f(Reciprocal{}); break;
    case UnaryOp::sin: f(Sin{}); break;
    case UnaryOp::cos: f(Cos{}); break;
    case UnaryOp::floor: f(Floor{}); break;
    case UnaryOp::logical_not: f(LogicalNot{}); break;
    case UnaryOp::trigamma: f(Trigamma{}); break;
    case UnaryOp::scale: f(Scale{}); break;
    case UnaryOp::add_scalar: f(AddScalar{}); break;
    case UnaryOp::rsub_scalar: f(RsubScalar{}); break;
    case UnaryOp::rdiv_scalar: f(RdivScalar{}); break;
    case UnaryOp::pow_scalar: f(PowScalar{}); break;
    case UnaryOp::count: break;
  }
}

/// Names of the unary ops, for errors and benchmarks.
inline const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs",
                                "square", "sigmoid", "tanh", "relu", "leaky_relu", "softplus",
                                "lgamma", "digamma", "erf", "sign", "reciprocal", "sin", "cos",
                                "floor", "logical_not", "trigamma", "scale", "add_scalar",
                                "rsub_scalar", "rdiv_scalar", "pow_scalar"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumUnaryOps);
  return names[static_cast<int>(op)];
}

// Binary functors ---------------------------------------------------------------------------------
// kCompare: writes u8. kInt: also defined for integer inputs.
#define UNRAVEL_BINARY(NAME, INTS, CMP, EXPR)                                 \
  struct NAME {                                                               \
    static constexpr bool kInt = INTS;                                        \
    static constexpr bool kCompare = CMP;                                     \
    template <class T> UNRAVEL_HD auto operator()(T a, T b, double alpha) const { \
      (void)alpha;                                                            \
      return EXPR;                                                            \
    }                                                                         \
  };
UNRAVEL_BINARY(Add, true, false, static_cast<T>(a + b))
UNRAVEL_BINARY(Sub, true, false, static_cast<T>(a - b))
UNRAVEL_BINARY(Mul, true, false, static_cast<T>(a * b))
UNRAVEL_BINARY(Div, true, false, static_cast<T>(a / b))
UNRAVEL_BINARY(Pow, false, false, static_cast<T>(std::pow(a, b)))
// NaN-propagating like torch.maximum/minimum.
UNRAVEL_BINARY(Maximum, true, false, static_cast<T>((a != a || a > b) ? a : b))
UNRAVEL_BINARY(Minimum, true, false, static_cast<T>((a != a || a < b) ? a : b))
UNRAVEL_BINARY(Fmod, false, false, static_cast<T>(std::fmod(a, b)))
UNRAVEL_BINARY(Eq, true, true, static_cast<uint8_t>(a == b))
UNRAVEL_BINARY(Ne, true, true, static_cast<uint8_t>(a != b))
UNRAVEL_BINARY(Lt, true, true, static_cast<uint8_t>(a < b))
UNRAVEL_BINARY(Le, true, true, static_cast<uint8_t>(a <= b))
UNRAVEL_BINARY(Gt, true, true, static_cast<uint8_t>(a > b))
UNRAVEL_BINARY(Ge, true, true, static_cast<uint8_t>(a >= b))
UNRAVEL_BINARY(ReluGrad, false, false, b > T(0) ? a : T(0))
UNRAVEL_BINARY(LeakyReluGrad, false, false, b > T(0) ? a : static_cast<T>(a * alpha))
UNRAVEL_BINARY(SigmoidGrad, false, false, a * b * (T(1) - b))
UNRAVEL_BINARY(TanhGrad, false, false, a * (T(1) - b * b))
UNRAVEL_BINARY(SoftplusGrad, false, false, a * sigmoid(b))
// alpha == 0 gives exactly ReLU's 0 (not -0 or NaN from v * 0) on the negative side.
UNRAVEL_BINARY(AddRelu, false, false,
               (a + b) > T(0) ? static_cast<T>(a + b)
                              : (alpha == 0.0 ? T(0) : static_cast<T>((a + b) * alpha)))
#undef UNRAVEL_BINARY

template <class F> UNRAVEL_HD void visit_binary(BinaryOp op, F&& f) {
  static_assert(kNumBinaryOps == 20, "update visit_binary when adding a BinaryOp");
  switch (op) {
    case BinaryOp::add: f(Add{}); break;
    case BinaryOp::sub: f(Sub{}); break;
    case BinaryOp::mul: f(Mul{}); break;
    case BinaryOp::div: f(Div{}); break;
    case BinaryOp::pow: f(Pow{}); break;
    case BinaryOp::maximum: f(Maximum{}); break;
    case BinaryOp::minimum: f(Minimum{}); break;
    case BinaryOp::fmod: f(Fmod{}); break;
    case BinaryOp::eq: f(Eq{}); break;
    case BinaryOp::ne: f(Ne{}); break;
    case BinaryOp::lt: f(Lt{}); break;
    case BinaryOp::le: f(Le{}); break;
    case BinaryOp::gt: f(Gt{}); break;
    case BinaryOp::ge: f(Ge{}); break;
    case BinaryOp::relu_grad: f(ReluGrad{}); break;
    case BinaryOp::leaky_relu_grad: f(LeakyReluGrad{}); break;
    case BinaryOp::sigmoid_grad: f(SigmoidGrad{}); break;
    case BinaryOp::tanh_grad: f(TanhGrad{}); break;
    case BinaryOp::softplus_grad: f(SoftplusGrad{}); break;
    case BinaryOp::add_relu: f(AddRelu{}); break;
    case BinaryOp::count: break;
  }
}

inline const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "fmod", "eq", "ne", "lt", "le", "gt", "ge", "relu_grad",
                                "leaky_relu_grad", "sigmoid_grad", "tanh_grad", "softplus_grad",
                                "add_relu"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumBinaryOps);
  return names[static_cast<int>(op)];
}

inline bool is_comparison(BinaryOp op) {
  return op >= BinaryOp::eq && op <= BinaryOp::ge;
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::fn
