// What every backend's reductions agree on, so their results can be compared bit for bit: the
// accumulator type per element type (double for f32, so long f32 sums keep their precision;
// int64 for the integer types) and each operation's identity (the value of an empty reduction,
// the start of every partial one). Used by ops/cpu/reduce_cpu.cpp and ops/cuda/reduce_body.h.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/check.h"
#include "engine/hd.h"
#include "engine/op_kinds.h"

namespace unravel {

template <class T> struct AccType { using type = T; };
template <> struct AccType<float> { using type = double; };
template <> struct AccType<int32_t> { using type = int64_t; };
template <> struct AccType<uint8_t> { using type = int64_t; };

/// acc then v: NaN-propagating for max / min; integer sums and products wrap around (two's
/// complement, as NumPy's and PyTorch's) instead of overflowing, which C++ leaves undefined.
template <ReduceOp Op, class Acc> UNRAVEL_HD Acc reduce_combine(Acc acc, Acc v) {
  if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean || Op == ReduceOp::prod) {
    if constexpr (std::is_integral_v<Acc>) {
      using U = std::make_unsigned_t<Acc>;
      const U a = static_cast<U>(acc), b = static_cast<U>(v);
      return static_cast<Acc>(Op == ReduceOp::prod ? static_cast<U>(a * b) : static_cast<U>(a + b));
    } else {
      return Op == ReduceOp::prod ? acc * v : acc + v;
    }
  } else {
    bool nan = false;
    if constexpr (std::is_floating_point_v<Acc>) nan = v != v;
    if constexpr (Op == ReduceOp::max) return (v > acc || nan) ? v : acc;
    else return (v < acc || nan) ? v : acc;
  }
}

template <class Acc> Acc reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: case ReduceOp::mean: return Acc(0);
    case ReduceOp::prod: return Acc(1);
    case ReduceOp::max:
      return std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::lowest();
    case ReduceOp::min:
      return std::numeric_limits<Acc>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::max();
    default: return Acc(0);
  }
}

/// Calls f(std::integral_constant<ReduceOp, op>{}) for the five value reductions (sum, mean,
/// max, min, prod), so a backend instantiates its kernel per operation in one place; throws for
/// any other op.
template <class F> void dispatch_reduce(ReduceOp op, F&& f) {
  switch (op) {
    case ReduceOp::sum: f(std::integral_constant<ReduceOp, ReduceOp::sum>{}); return;
    case ReduceOp::mean: f(std::integral_constant<ReduceOp, ReduceOp::mean>{}); return;
    case ReduceOp::max: f(std::integral_constant<ReduceOp, ReduceOp::max>{}); return;
    case ReduceOp::min: f(std::integral_constant<ReduceOp, ReduceOp::min>{}); return;
    case ReduceOp::prod: f(std::integral_constant<ReduceOp, ReduceOp::prod>{}); return;
    default: UNRAVEL_CHECK(false, "reduce: unknown op {}", static_cast<int>(op));
  }
}

}  // namespace unravel
