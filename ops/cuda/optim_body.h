// The per-thread bodies of the CUDA multi-tensor optimiser updates (ops/cuda/optim.cu) and their
// launch plan, in plain C++: nvcc builds them into the kernels and the host compiler runs them
// through emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated.cpp.
//
// The per-element code is ops/optim_functors.h with the CPU's template flags
// (ops/cpu/optim_cpu.cpp). Slots are grouped by device and dtype (optim_groups) and passed up to
// kSlotsPerLaunch at a time in a kernel-argument struct (by value: no host buffer to keep alive,
// no copy); blockIdx.y picks the slot, and the blocks of x stride over its elements. With a
// device learning rate (OptimStep::lr_device) thread 0 of each block derives the step's scalars
// from it and the slot's step count into shared memory, and a one-block launch then advances
// the step counts.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/hd.h"
#include "ops/cuda/kernel_common.h"
#include "ops/optim_functors.h"

namespace unravel::cuda {

/// Slots per launch: keeps the argument struct near 2.3 KB (the classic 4 KB limit).
constexpr int kSlotsPerLaunch = 48;
/// Blocks per slot (grid-stride beyond).
constexpr unsigned kMaxBlocksPerSlot = 1024;

template <class T> struct SlotPack {
  T* p[kSlotsPerLaunch];
  const T* g[kSlotsPerLaunch];
  T* s0[kSlotsPerLaunch];
  T* s1[kSlotsPerLaunch];
  T* s2[kSlotsPerLaunch];
  int64_t n[kSlotsPerLaunch];
  double* steps[kSlotsPerLaunch];  // with a device lr: each slot's step count
};
static_assert(sizeof(SlotPack<double>) <= 3072 + 8 * kSlotsPerLaunch, "kernel argument too large");

/// What sgd_body keeps in shared memory with a device lr.
template <class T> struct SgdShared {
  fn::SgdConsts<T> c;
  bool first;
};

template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow, class Ctx>
UNRAVEL_HD void adam_body(Ctx& ctx, const SlotPack<T>& pk, fn::AdamConsts<T> c,
                          const OptimStep& h) {
  const int k = ctx.block_idx_y();
  if (h.lr_device) {  // per-step scalars from the device lr and this slot's step count
    fn::AdamConsts<T>* shared = ctx.template shared<fn::AdamConsts<T>>();
    if (ctx.thread_idx_x() == 0) {
      OptimStep d = h;
      fn::derive_step(d, *h.lr_device, *pk.steps[k] + 1);
      *shared = fn::AdamConsts<T>(d);
    }
    ctx.sync();
    c = *shared;
  }
  const int64_t n = pk.n[k];
  T* p = pk.p[k];
  const T* g = pk.g[k];
  T* m = pk.s0[k];
  T* v = pk.s1[k];
  T* vmax = pk.s2[k];
  for (int64_t j = grid_first(ctx); j < n; j += grid_step(ctx))
    fn::adam_element<T, kL2, kDecay, kAms, kLerpLow>(p[j], g[j], m[j], v[j],
                                                     kAms ? vmax + j : nullptr, c);
}

template <class T, class Ctx>
UNRAVEL_HD void sgd_body(Ctx& ctx, const SlotPack<T>& pk, fn::SgdConsts<T> c, bool first,
                         bool nesterov, bool decay, const OptimStep& h) {
  const int k = ctx.block_idx_y();
  if (h.lr_device) {
    SgdShared<T>* shared = ctx.template shared<SgdShared<T>>();
    if (ctx.thread_idx_x() == 0) {
      OptimStep d = h;
      fn::derive_step(d, *h.lr_device, *pk.steps[k] + 1);
      shared->c = fn::SgdConsts<T>(d);
      shared->first = d.first;
    }
    ctx.sync();
    c = shared->c;
    first = shared->first;
  }
  const int64_t n = pk.n[k];
  T* p = pk.p[k];
  const T* g = pk.g[k];
  T* buf = pk.s0[k];
  for (int64_t j = grid_first(ctx); j < n; j += grid_step(ctx))
    fn::sgd_element<T>(p[j], g[j], buf ? buf + j : nullptr, first, nesterov, decay, c);
}

/// steps[k] += 1 for the launched slots (after the update kernel read them); launched with
/// OptimLaunch::steps_dims.
template <class T, class Ctx>
UNRAVEL_HD void advance_steps_body(Ctx& ctx, const SlotPack<T>& pk, int count) {
  const int k = ctx.thread_idx_x();
  if (k < count) *pk.steps[k] += 1;
}

// --- host side -------------------------------------------------------------------------------

/// Slot indices grouped by (device, dtype), in order of first appearance; empty slots dropped.
inline std::vector<std::pair<std::pair<int, DType>, std::vector<size_t>>> optim_groups(
    const std::vector<OptimSlot>& slots) {
  std::vector<std::pair<std::pair<int, DType>, std::vector<size_t>>> groups;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].p.numel() == 0) continue;
    const std::pair<int, DType> key{slots[i].p.device.index, slots[i].p.dtype};
    size_t gi = 0;
    while (gi < groups.size() && groups[gi].first != key) ++gi;
    if (gi == groups.size()) groups.push_back({key, {}});
    groups[gi].second.push_back(i);
  }
  return groups;
}

/// One launch of an update: the pack, the update's dims (adam_body or sgd_body) and, with a
/// device lr, advance_steps_body's.
template <class T> struct OptimLaunch {
  SlotPack<T> pk{};
  int count = 0;
  LaunchDims dims;
  LaunchDims steps_dims{Dim3{1}, Dim3{static_cast<unsigned>(kSlotsPerLaunch)}, 0};
};

/// The launches of one update of `slots` (indices into all: one dtype T, one device).
template <class T>
std::vector<OptimLaunch<T>> optim_launches(const OptimStep& h, const std::vector<OptimSlot>& all,
                                           const std::vector<size_t>& slots) {
  std::vector<OptimLaunch<T>> out;
  const bool adam = h.rule == OptimRule::adam;
  const size_t shared =
      !h.lr_device ? 0 : (adam ? sizeof(fn::AdamConsts<T>) : sizeof(SgdShared<T>));
  for (size_t first = 0; first < slots.size(); first += kSlotsPerLaunch) {
    OptimLaunch<T> l;
    int64_t max_n = 0;
    for (size_t k = first; k < slots.size() && l.count < kSlotsPerLaunch; ++k, ++l.count) {
      const OptimSlot& o = all[slots[k]];
      const int64_t n = o.p.numel();
      l.pk.p[l.count] = o.p.ptr<T>();
      l.pk.g[l.count] = o.g.ptr<T>();
      l.pk.s0[l.count] = o.s0.ptr<T>();
      l.pk.s1[l.count] = o.s1.ptr<T>();
      l.pk.s2[l.count] = o.s2.ptr<T>();
      l.pk.n[l.count] = n;
      l.pk.steps[l.count] = o.steps;
      max_n = n > max_n ? n : max_n;
    }
    if (l.count == 0) continue;
    unsigned bx = blocks_for(max_n);
    if (bx > kMaxBlocksPerSlot) bx = kMaxBlocksPerSlot;
    l.dims = LaunchDims{Dim3{bx, static_cast<unsigned>(l.count)},
                        Dim3{static_cast<unsigned>(kThreads)}, shared};
    out.push_back(l);
  }
  return out;
}

/// Calls f(l2, dw, ams, low) with the std::bool_constant template flags of adam_body for h.
template <class F> void visit_adam_flags(const OptimStep& h, F&& f) {
  const bool l2 = !h.decoupled && h.weight_decay != 0;
  const bool dw = h.decoupled && h.weight_decay != 0;
  const bool low = h.beta1 > 0.5;  // lerp weight 1 - beta1 < 0.5
  using F0 = std::false_type;
  using T1 = std::true_type;
  auto with_low = [&](auto a, auto b, auto d) { low ? f(a, b, d, T1{}) : f(a, b, d, F0{}); };
  auto with_ams = [&](auto a, auto b) { h.amsgrad ? with_low(a, b, T1{}) : with_low(a, b, F0{}); };
  auto with_dw = [&](auto a) { dw ? with_ams(a, T1{}) : with_ams(a, F0{}); };
  l2 ? with_dw(T1{}) : with_dw(F0{});
}

}  // namespace unravel::cuda
