// Fused pairwise IMQ kernel sums and their backward Node (see ops/kernel_sums.h).
//
// The backend kernel (Backend::pairwise_imq; CPU in ops/cpu/kernel_sums_cpu.cpp) computes the
// sum and, when the op is recorded, ∂y/∂a and ∂y/∂b in the same pass: both need the same
// reciprocals 1/(c_s + ρ), so doing them together halves the divisions of a forward + backward.
// The Node keeps those two (B, D) tensors and backward only scales them by the incoming scalar
// gradient. When a and b are the same tensor the tape sums the two contributions.
#include "ops/kernel_sums.h"

#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "ops/binary.h"
#include "ops/detail.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

namespace {

struct PairwiseImqBackward final : Node {
  const char* op = "pairwise_imq_sum";
  Tensor ga, gb;  // ∂y/∂a, ∂y/∂b computed by the forward (undefined where not needed)
  const char* name() const override { return op; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    TensorList out(next.size());
    if (needs_input_grad(0) && ga.defined()) out[0] = ga * g;
    if (needs_input_grad(1) && gb.defined()) out[1] = gb * g;
    return out;
  }
};

// The same sum from primitive ops, for a backend without the fused kernel: (Ba, Bb, D)
// temporaries, gradients from the tape.
Tensor composite_imq(ImqMode mode, const Tensor& a, const Tensor& b, const std::vector<double>& c) {
  Tensor rho = square(unsqueeze(a, 1) - unsqueeze(b, 0));  // (Ba, Bb, D)
  if (mode == ImqMode::full) rho = sum(rho, {2});
  Tensor k;
  for (double cs : c) {
    Tensor term = cs / (rho + cs);
    k = k.defined() ? k + term : term;
  }
  return sum(k);
}

Tensor pairwise_imq(ImqMode mode, const Tensor& a, const Tensor& b,
                    std::span<const double> c_values, const char* op) {
  detail::check_defined(a, op, "a");
  detail::check_defined(b, op, "b");
  detail::check_same(a, b, op);
  detail::check_floating(a, op);
  UNRAVEL_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1),
                "{}: want a (Ba, D) and b (Bb, D) with the same D, got a {} and b {}", op,
                a.desc(), b.desc());
  UNRAVEL_CHECK(a.size(0) >= 1 && b.size(0) >= 1 && a.size(1) >= 1,
                "{}: a {} and b {} must have at least one row and one column", op, a.desc(),
                b.desc());
  UNRAVEL_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64,
                "{}: only f32 and f64 are supported, got a {}", op, a.desc());
  UNRAVEL_CHECK(!c_values.empty(), "{}: needs at least one kernel scale c", op);
  std::vector<double> c(c_values.begin(), c_values.end());
  for (double v : c)
    UNRAVEL_CHECK(std::isfinite(v) && v > 0.0, "{}: kernel scales must be finite and > 0, got {}",
                  op, v);

  if (!backend(a.device()).supports(Kernel::pairwise_imq)) return composite_imq(mode, a, b, c);
  Tensor y = Tensor::empty(Shape{}, a.dtype(), a.device());
  Tensor ga, gb;
  PairwiseImqBackward* n = nullptr;
  if (Tape::needs_grad({&a, &b})) {
    n = record<PairwiseImqBackward>({a, b}, {y});
    n->op = op;
    if (n->needs_input_grad(0)) ga = Tensor::empty(a.shape(), a.dtype(), a.device());
    if (n->needs_input_grad(1)) gb = Tensor::empty(b.shape(), b.dtype(), b.device());
  }
  backend(a.device()).pairwise_imq(mode, a.view(), b.view(), c, y.view(),
                                   ga.defined() ? ga.view() : TensorView{},
                                   gb.defined() ? gb.view() : TensorView{});
  if (n) {
    n->ga = ga;
    n->gb = gb;
  }
  return y;
}

}  // namespace

Tensor pairwise_imq_sum(const Tensor& a, const Tensor& b, std::span<const double> c_values) {
  return pairwise_imq(ImqMode::per_dim, a, b, c_values, "pairwise_imq_sum");
}

Tensor pairwise_imq_sum_full(const Tensor& a, const Tensor& b, std::span<const double> c_values) {
  return pairwise_imq(ImqMode::full, a, b, c_values, "pairwise_imq_sum_full");
}

}  // namespace unravel
