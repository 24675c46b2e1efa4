// The device-parity table's vocabulary (tests/engine/test_device_parity.cpp runs the table;
// its cases are written by op family in device_parity_cases_*.cpp): an input's shape, dtype,
// value range and layout, a case (op name, function of the inputs, tolerance class), and the
// helpers the families write their rows with.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace unravel::parity {

// --- the table's vocabulary ------------------------------------------------------------------

/// How the op sees an input: dense, or a non-contiguous view of a bigger dense tensor.
enum class Lay : uint8_t {
  dense,
  transposed,  // transpose(base, -2, -1) of a base with the last two extents swapped
  strided,     // slice(base, -1, 1, 2n + 1, 2) of a base whose last extent is 2n + 1
};

struct In {
  Shape shape;                 ///< the shape the op sees
  double lo = -2, hi = 2;      ///< values uniform in [lo, hi) (integers there when `integral`)
  std::optional<DType> dtype;  ///< default: the case's dtype
  Lay lay = Lay::dense;
  bool grad = true;            ///< floating inputs: compare the gradient w.r.t. this one
  bool integral = false;

  In t() const { In c = *this; c.lay = Lay::transposed; return c; }
  In s() const { In c = *this; c.lay = Lay::strided; return c; }
  In nograd() const { In c = *this; c.grad = false; return c; }
  In as(DType d) const { In c = *this; c.dtype = d; return c; }
  In ints() const { In c = *this; c.integral = true; return c; }
};

/// A floating (the case's dtype) input.
inline In X(Shape s, double lo = -2, double hi = 2) {
  In i;
  i.shape = std::move(s);
  i.lo = lo;
  i.hi = hi;
  return i;
}
/// i64 indices in [0, n).
inline In Idx(Shape s, int64_t n) {
  In i = X(std::move(s), 0, static_cast<double>(n));
  i.dtype = DType::i64;
  i.integral = true;
  i.grad = false;
  return i;
}
/// u8 condition (0 or 1).
inline In Cond(Shape s) {
  In i = X(std::move(s), 0, 2);
  i.dtype = DType::u8;
  i.integral = true;
  i.grad = false;
  return i;
}

/// Tolerance classes (relative to the larger of |cpu value| and the tensor's max |cpu value|).
enum class Tol : uint8_t {
  plain,           // f32 1e-5, f64 1e-12
  transcendental,  // f32 1e-4 (the CPU's f32 exp/log1p/softplus/sigmoid are vectorised
                   // approximations; a GPU's libm differs by ulps), f64 1e-12
  library,         // gemm / convolution / kernel sums: another summation order; f32 1e-4
  rng,             // random fills: bit for bit on every device
  rng_normal,      // normal fills: bit for bit on sim; an ulp elsewhere (device log/cos)
};

using Fn = std::function<TensorList(const TensorList&, Device)>;

struct Case {
  std::string name;
  DType dtype;
  std::vector<In> ins;
  Fn f;
  Tol tol = Tol::plain;
};

inline std::string dt_str(DType d) { return std::string(dtype_name(d)); }

inline double rtol_for(Tol tol, DType dt, Device dev) {
  if (!is_floating(dt)) return 0.0;  // integer and u8 results: exact
  const bool f32 = dt == DType::f32;
  switch (tol) {
    case Tol::plain: return f32 ? 1e-5 : 1e-12;
    case Tol::transcendental: return f32 ? 1e-4 : 1e-12;
    case Tol::library: return f32 ? 1e-4 : 1e-12;
    case Tol::rng: return 0.0;
    case Tol::rng_normal: return dev.is_sim() ? 0.0 : (f32 ? 1.2e-7 : 1e-15);
  }
  return 0.0;
}

// --- writing rows ----------------------------------------------------------------------------

#define UN(expr) [](const Tensor& x) { return expr; }

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

inline constexpr DType kF32 = DType::f32, kF64 = DType::f64;
inline constexpr DType floats[] = {kF32, kF64};

/// row(name, dtype, inputs, f[, tol]) appends the case "name dtype".
struct Rows {
  std::vector<Case>& t;
  void operator()(std::string name, DType dt, std::vector<In> ins, Fn f,
                  Tol tol = Tol::plain) const {
    t.push_back(Case{std::move(name) + " " + dt_str(dt), dt, std::move(ins), std::move(f), tol});
  }
};

/// Wraps a single-output function of the inputs.
template <class G>
Fn one(G g) {
  return [g](const TensorList& in, Device) { return TensorList{g(in)}; };
}

/// The families of the table, each appending its cases.
void add_elementwise_cases(std::vector<Case>& t);  // unary, binary, where
void add_reduction_matmul_conv_cases(std::vector<Case>& t);  // reductions, matmul, conv, nn
void add_index_copy_random_cases(std::vector<Case>& t);  // indexing, copies, random, composites

}  // namespace unravel::parity
