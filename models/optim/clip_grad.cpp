// Gradient clipping (see clip_grad.h). The total p-norm is (Σ_params Σ_i |g_i|^p)^(1/p) (max |g_i|
// for p = ∞), accumulated in f64 with ops on the gradients' device; the scale is applied with a
// `where` on that device, so nothing is read back.
#include "models/optim/clip_grad.h"

#include <cmath>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel::optim {

Tensor clip_grad_norm_(const TensorList& params, double max_norm, double norm_type) {
  UNRAVEL_CHECK(max_norm >= 0 && (norm_type > 0 || std::isinf(norm_type)),
                "clip_grad_norm_: needs max_norm >= 0 and norm_type > 0, got {} and {}", max_norm,
                norm_type);
  NoGradGuard guard;
  const bool inf = std::isinf(norm_type);
  TensorList grads;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    UNRAVEL_CHECK(grads.empty() || g.device() == grads[0].device(),
                  "clip_grad_norm_: gradients on {} and {}; all must share a device",
                  grads[0].device().str(), g.device().str());
    grads.push_back(g);
  }
  if (grads.empty())
    return Tensor::scalar(0.0, DType::f64, params.empty() ? kCPU : params[0].device());
  Tensor acc;
  for (const auto& g : grads) {
    Tensor a = abs(to(g, DType::f64));
    Tensor s = inf ? max(a) : sum(norm_type == 2.0 ? square(a) : norm_type == 1.0 ? a : pow(a, norm_type));
    acc = !acc.defined() ? s : inf ? maximum(acc, s) : acc + s;
  }
  Tensor total = inf ? acc : (norm_type == 2.0 ? sqrt(acc) : pow(acc, 1.0 / norm_type));
  Tensor coef = max_norm / (total + 1e-6);
  const double infinity = std::numeric_limits<double>::infinity();
  Tensor finite = lt(abs(total), scalar_like(infinity, total));  // false for NaN and ±inf
  Tensor scale = where(finite, minimum(coef, scalar_like(1.0, coef)), scalar_like(1.0, coef));
  for (const auto& g : grads) copy_(g, g * to(scale, g.dtype()));
  return total;
}

void clip_grad_value_(const TensorList& params, double clip) {
  UNRAVEL_CHECK(clip >= 0, "clip_grad_value_: clip must be >= 0, got {}", clip);
  NoGradGuard guard;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    copy_(g, clamp(g, -clip, clip));
  }
}

}  // namespace unravel::optim
