// What every backend's reductions agree on, so their results can be compared bit for bit: the
// accumulator type per element type (double for f32, so long f32 sums keep their precision;
// int64 for the integer types) and each operation's identity (the value of an empty reduction,
// the start of every partial one). Used by ops/cpu/reduce_cpu.cpp and ops/cuda/reduce_body.h.
#pragma once
#include <cstdint>
#include <limits>

#include "engine/op_kinds.h"

namespace unravel {

template <class T> struct AccType { using type = T; };
template <> struct AccType<float> { using type = double; };
template <> struct AccType<int32_t> { using type = int64_t; };
template <> struct AccType<uint8_t> { using type = int64_t; };

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

}  // namespace unravel
