// Gradient clipping. The total p-norm is (Σ_params Σ_i |g_i|^p)^(1/p) (max |g_i| for p = ∞),
// accumulated in double with a raw loop for dense CPU gradients and with ops elsewhere.
#include "models/optim/clip_grad.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/reduce.h"
#include "ops/unary.h"

namespace unravel::optim {

namespace {
bool dense_cpu(const Tensor& g) {
  return g.device().is_cpu() && g.is_contiguous() && is_floating(g.dtype());
}

// Σ|g|^p, or max |g| when p is infinite.
double grad_power_sum(const Tensor& g, double p) {
  bool inf = std::isinf(p);
  if (dense_cpu(g)) {
    return dispatch_dtype(g.dtype(), [&](auto tag) -> double {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        const T* d = g.data<T>();
        double acc = 0;
        for (int64_t i = 0, n = g.numel(); i < n; ++i) {
          double a = std::fabs(double(d[i]));
          if (inf) acc = std::isnan(a) ? a : std::max(acc, a);
          else acc += p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
        }
        return acc;
      }
      return 0.0;
    });
  }
  if (inf) return max(abs(g)).item();
  return sum(pow(abs(g), p)).item();
}
}  // namespace

double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type) {
  UNRAVEL_CHECK(max_norm >= 0 && (norm_type > 0 || std::isinf(norm_type)),
                "clip_grad_norm_: needs max_norm >= 0 and norm_type > 0, got {} and {}", max_norm,
                norm_type);
  NoGradGuard guard;
  bool inf = std::isinf(norm_type);
  double acc = 0;
  bool any = false;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    any = true;
    double s = grad_power_sum(g, norm_type);
    acc = inf ? (std::isnan(s) ? s : std::max(acc, s)) : acc + s;
  }
  if (!any) return 0.0;
  double total = inf ? acc : std::pow(acc, 1.0 / norm_type);
  double coef = max_norm / (total + 1e-6);
  if (!std::isfinite(total) || coef >= 1.0) return total;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    if (dense_cpu(g)) {
      dispatch_dtype(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
          T* d = g.data<T>();
          const T c = T(coef);
          for (int64_t i = 0, n = g.numel(); i < n; ++i) d[i] *= c;
        }
      });
      g.bump_version();
    } else {
      mul_(g, coef);
    }
  }
  return total;
}

void clip_grad_value_(const TensorList& params, double clip) {
  UNRAVEL_CHECK(clip >= 0, "clip_grad_value_: clip must be >= 0, got {}", clip);
  NoGradGuard guard;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    if (dense_cpu(g)) {
      dispatch_dtype(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
          T* d = g.data<T>();
          const T hi = T(clip), lo = T(-clip);
          for (int64_t i = 0, n = g.numel(); i < n; ++i) d[i] = std::min(std::max(d[i], lo), hi);
        }
      });
      g.bump_version();
    } else {
      copy_(g, clamp(g, -clip, clip));
    }
  }
}

}  // namespace unravel::optim
