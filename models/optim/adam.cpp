// Adam / AMSGrad / AdamW update (formulas in adam.h): one fused loop over raw memory for dense
// CPU tensors (no temporaries), public in-place ops elsewhere. The moment updates use the same
// operation order as PyTorch's single-tensor implementation (lerp for m, mul + addcmul for v).
#include "models/optim/adam.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/check.h"
#include "ops/binary.h"
#include "ops/unary.h"

namespace unravel::optim {

namespace {
struct AdamScalars {
  double lr, step_size, bc2_sqrt;
};

// The per-element update with every option a compile-time flag, so the loop body has no
// branches and vectorises (sqrt and division included).
template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow>
void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamOptions& o,
                 const AdamScalars& s) {
  const T b1w = T(1 - o.beta1), b1w_c = T(1) - b1w, b2 = T(o.beta2), b2w = T(1 - o.beta2);
  const T wd = T(o.weight_decay), decay = T(1 - s.lr * o.weight_decay), eps = T(o.eps);
  const T bc2 = T(s.bc2_sqrt), step = T(s.step_size);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    T gj = g[j];
    if constexpr (kL2) gj += wd * p[j];
    if constexpr (kDecay) p[j] *= decay;
    // torch.lerp(m, g, w): m + w·(g - m) for w < 0.5, else g - (g - m)·(1 - w).
    if constexpr (kLerpLow) m[j] = m[j] + b1w * (gj - m[j]);
    else m[j] = gj - (gj - m[j]) * b1w_c;
    v[j] = v[j] * b2 + b2w * gj * gj;
    T vv = v[j];
    if constexpr (kAms) vv = vmax[j] = vmax[j] > vv ? vmax[j] : vv;
    T denom = std::sqrt(vv) / bc2 + eps;
    p[j] += -step * (m[j] / denom);
  }
}

template <class T>
void adam_loop(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamOptions& o,
               bool decoupled, const AdamScalars& s) {
  const bool l2 = !decoupled && o.weight_decay != 0, dw = decoupled && o.weight_decay != 0;
  const bool ams = vmax != nullptr, low = o.beta1 > 0.5;  // lerp weight 1 - beta1 < 0.5
  // 16 instantiations: pick the one matching the runtime flags.
  auto run = [&](auto l2c, auto dwc, auto amsc, auto lowc) {
    adam_kernel<T, decltype(l2c)::value, decltype(dwc)::value, decltype(amsc)::value,
                decltype(lowc)::value>(p, g, m, v, vmax, n, o, s);
  };
  using F = std::false_type;
  using Tr = std::true_type;
  auto with_low = [&](auto a, auto b, auto c) { low ? run(a, b, c, Tr{}) : run(a, b, c, F{}); };
  auto with_ams = [&](auto a, auto b) { ams ? with_low(a, b, Tr{}) : with_low(a, b, F{}); };
  auto with_dw = [&](auto a) { dw ? with_ams(a, Tr{}) : with_ams(a, F{}); };
  l2 ? with_dw(Tr{}) : with_dw(F{});
}
}  // namespace

Adam::Adam(TensorList params, const AdamOptions& opt) : Adam(std::move(params), opt, false) {}

Adam::Adam(TensorList params, const AdamOptions& opt, bool decoupled)
    : Optimizer(std::move(params), opt.lr), opt_(opt), decoupled_(decoupled) {
  const char* name = decoupled ? "AdamW" : "Adam";
  UNRAVEL_CHECK(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1,
                "{}: betas must be in [0, 1), got ({}, {})", name, opt.beta1, opt.beta2);
  UNRAVEL_CHECK(opt.eps >= 0 && opt.weight_decay >= 0,
                "{}: eps and weight_decay must be >= 0, got {} and {}", name, opt.eps,
                opt.weight_decay);
  add_state("exp_avg");
  add_state("exp_avg_sq");
  if (opt.amsgrad) add_state("max_exp_avg_sq");
}

void Adam::update(size_t i, const Tensor& p, const Tensor& g, int64_t t) {
  const Tensor& m = state(i, "exp_avg");
  const Tensor& v = state(i, "exp_avg_sq");
  Tensor vmax = opt_.amsgrad ? state(i, "max_exp_avg_sq") : Tensor();
  AdamScalars s;
  s.lr = lr();
  s.step_size = lr() / (1 - std::pow(opt_.beta1, double(t)));
  s.bc2_sqrt = std::sqrt(1 - std::pow(opt_.beta2, double(t)));
  TensorList states{m, v};
  if (vmax.defined()) states.push_back(vmax);
  if (fused_ok(p, g, states)) {
    dispatch_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>)
        adam_loop<T>(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(),
                     vmax.defined() ? vmax.data<T>() : nullptr, p.numel(), opt_, decoupled_, s);
    });
    for (const auto& st : states) st.bump_version();
    return;
  }
  Tensor gg = g;
  if (opt_.weight_decay != 0) {
    if (decoupled_) mul_(p, 1 - s.lr * opt_.weight_decay);
    else gg = g + p * opt_.weight_decay;
  }
  add_(m, gg - m, 1 - opt_.beta1);
  mul_(v, opt_.beta2);
  add_(v, gg * gg, 1 - opt_.beta2);
  Tensor vv = v;
  if (vmax.defined()) {
    copy_(vmax, maximum(vmax, v));
    vv = vmax;
  }
  Tensor denom = sqrt(vv) / s.bc2_sqrt + opt_.eps;
  add_(p, m / denom, -s.step_size);
}

}  // namespace unravel::optim
