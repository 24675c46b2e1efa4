// CPU multi-tensor optimiser updates: one fused loop per parameter over raw memory (no
// temporaries), the element math from ops/optim_functors.h.
#include <type_traits>

#include "engine/check.h"
#include "ops/cpu/kernels.h"
#include "ops/optim_functors.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

namespace {

template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow>
void adam_loop(const OptimSlot& s, const fn::AdamConsts<T>& c) {
  T* p = s.p.ptr<T>();
  const T* g = s.g.ptr<T>();
  T* m = s.s0.ptr<T>();
  T* v = s.s1.ptr<T>();
  T* vmax = s.s2.ptr<T>();
  const int64_t n = s.p.numel();
#pragma omp simd
  for (int64_t j = 0; j < n; ++j)
    fn::adam_element<T, kL2, kDecay, kAms, kLerpLow>(p[j], g[j], m[j], v[j],
                                                     kAms ? vmax + j : nullptr, c);
}

/// h with its per-step scalars taken from the device learning rate and the slot's step count
/// (which advances), where the caller keeps them on the device.
OptimStep step_of(const OptimStep& h, const OptimSlot& s) {
  if (!h.lr_device) return h;
  OptimStep d = h;
  fn::derive_step(d, *h.lr_device, *s.steps + 1);
  *s.steps += 1;
  return d;
}

template <class T> void adam_update(const OptimStep& hin, const OptimSlot& s) {
  const OptimStep h = step_of(hin, s);
  const fn::AdamConsts<T> c(h);
  const bool l2 = !h.decoupled && h.weight_decay != 0, dw = h.decoupled && h.weight_decay != 0;
  const bool low = h.beta1 > 0.5;  // lerp weight 1 - beta1 < 0.5
  // 16 instantiations: pick the one matching the runtime flags.
  auto run = [&](auto l2c, auto dwc, auto amsc, auto lowc) {
    adam_loop<T, decltype(l2c)::value, decltype(dwc)::value, decltype(amsc)::value,
              decltype(lowc)::value>(s, c);
  };
  using F = std::false_type;
  using Tr = std::true_type;
  auto with_low = [&](auto a, auto b, auto d) { low ? run(a, b, d, Tr{}) : run(a, b, d, F{}); };
  auto with_ams = [&](auto a, auto b) { h.amsgrad ? with_low(a, b, Tr{}) : with_low(a, b, F{}); };
  auto with_dw = [&](auto a) { dw ? with_ams(a, Tr{}) : with_ams(a, F{}); };
  l2 ? with_dw(Tr{}) : with_dw(F{});
}

template <class T> void sgd_update(const OptimStep& hin, const OptimSlot& s) {
  const OptimStep h = step_of(hin, s);
  const fn::SgdConsts<T> c(h);
  T* p = s.p.ptr<T>();
  const T* g = s.g.ptr<T>();
  T* buf = s.s0.ptr<T>();
  const bool decay = h.weight_decay != 0;
  for (int64_t j = 0, n = s.p.numel(); j < n; ++j)
    fn::sgd_element<T>(p[j], g[j], buf ? buf + j : nullptr, h.first, h.nesterov, decay, c);
}

void check_slot(const OptimStep& h, const OptimSlot& s, size_t i) {
  auto dense = [&](const TensorView& v, bool needed) {
    if (!v.data) return !needed;
    return v.dtype == s.p.dtype && v.shape == s.p.shape && v.contiguous();
  };
  const bool adam = h.rule == OptimRule::adam;
  UNRAVEL_CHECK(!h.lr_device || s.steps, "optimizer_step: slot {} has no step count (needed with "
                "a device learning rate)", i);
  UNRAVEL_CHECK(is_floating(s.p.dtype) && dense(s.p, true) && dense(s.g, true) &&
                    dense(s.s0, adam) && dense(s.s1, adam) && dense(s.s2, adam && h.amsgrad),
                "optimizer_step: slot {} is not a set of dense {} tensors of shape {}", i,
                dtype_name(s.p.dtype), s.p.shape.str());
}

}  // namespace

void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) {
  for (size_t i = 0; i < slots.size(); ++i) {
    const OptimSlot& s = slots[i];
    check_slot(h, s, i);
    dispatch_dtype(s.p.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        if (h.rule == OptimRule::adam) adam_update<T>(h, s);
        else sgd_update<T>(h, s);
      }
    });
  }
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
