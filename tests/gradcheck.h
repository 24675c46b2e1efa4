// Finite-difference gradient checks in float64 (central differences over every input element),
// in the spirit of PyTorch's gradcheck, plus small helpers shared by the tests.
#pragma once
#include <functional>
#include <string>

#include "ops/ops.h"

namespace unravel::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-6;
};

/// Checks the vector-Jacobian product of f at `inputs` (f64, CPU) against central differences
/// of <f(x), w> for a random w. Inputs are copied into fresh leaves; each FAILs (doctest) with
/// `what`, the input and the element index on mismatch. Returns true when all matched.
bool gradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
               const std::string& what, GradcheckOptions opt = {});

/// Random f64 tensor of `shape`, uniform in [lo, hi).
Tensor rand64(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
/// Max |a - b| over elements (both converted to f64); shapes must match.
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace unravel::testing
