// The per-element update of each optimiser rule (formulas in models/optim/adam.h and sgd.h),
// written once with UNRAVEL_HD so the CPU loops (ops/cpu/optim_cpu.cpp) and a GPU kernel run
// the same arithmetic. Every option is a compile-time flag, so the CPU loop body has no branches
// and vectorises; the moment updates keep PyTorch's single-tensor operation order (lerp for m,
// mul + addcmul for v). In a CPU ISA-variant build the content lies in an inline per-variant
// namespace (ops/cpu/isa.h), like ops/functors.h.
#pragma once
#include <cmath>

#include "engine/backend.h"
#include "engine/hd.h"
#include "ops/cpu/isa.h"

namespace unravel::fn {
UNRAVEL_CPU_ISA_BEGIN

/// The per-step scalars of `h` from the learning rate and the (1-based) step number t, computed
/// as Adam::rule and SGD::rule compute them on the host (the same expressions).
UNRAVEL_HD void derive_step(OptimStep& h, double lr, double t) {
  using std::pow; using std::sqrt;
  h.lr = lr;
  h.step_size = lr / (1 - pow(h.beta1, t));
  h.bc2_sqrt = sqrt(1 - pow(h.beta2, t));
  h.first = t == 1;
}

/// Adam's per-call constants in the element type.
template <class T> struct AdamConsts {
  T b1w, b1w_c, b2, b2w, wd, decay, eps, bc2, step;
  AdamConsts() = default;
  UNRAVEL_HD explicit AdamConsts(const OptimStep& h)
      : b1w(T(1 - h.beta1)), b1w_c(T(1) - T(1 - h.beta1)), b2(T(h.beta2)), b2w(T(1 - h.beta2)),
        wd(T(h.weight_decay)), decay(T(1 - h.lr * h.weight_decay)), eps(T(h.eps)),
        bc2(T(h.bc2_sqrt)), step(T(h.step_size)) {}
};

/// One Adam / AdamW / AMSGrad element: kL2 = Adam's weight decay, kDecay = AdamW's, kAms =
/// AMSGrad, kLerpLow = (1 − β1) < 0.5 (torch.lerp's branch).
template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow>
UNRAVEL_HD void adam_element(T& p, T g, T& m, T& v, T* vmax, const AdamConsts<T>& c) {
  if constexpr (kL2) g += c.wd * p;
  if constexpr (kDecay) p *= c.decay;
  // torch.lerp(m, g, w): m + w·(g - m) for w < 0.5, else g - (g - m)·(1 - w).
  if constexpr (kLerpLow) m = m + c.b1w * (g - m);
  else m = g - (g - m) * c.b1w_c;
  v = v * c.b2 + c.b2w * g * g;
  T vv = v;
  if constexpr (kAms) vv = *vmax = *vmax > vv ? *vmax : vv;
  T denom = std::sqrt(vv) / c.bc2 + c.eps;
  p += -c.step * (m / denom);
}

/// SGD's per-call constants in the element type.
template <class T> struct SgdConsts {
  T lr, wd, mu, damp;
  SgdConsts() = default;
  UNRAVEL_HD explicit SgdConsts(const OptimStep& h)
      : lr(T(h.lr)), wd(T(h.weight_decay)), mu(T(h.momentum)), damp(T(1 - h.dampening)) {}
};

/// One SGD element (buf == nullptr: no momentum).
template <class T>
UNRAVEL_HD void sgd_element(T& p, T g, T* buf, bool first, bool nesterov, bool decay,
                            const SgdConsts<T>& c) {
  T d = g;
  if (decay) d += c.wd * p;
  if (buf) {
    *buf = first ? d : c.mu * *buf + c.damp * d;
    d = nesterov ? d + c.mu * *buf : *buf;
  }
  p -= c.lr * d;
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::fn
