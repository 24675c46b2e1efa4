// CUDA multi-tensor optimiser updates: the per-element code of ops/optim_functors.h with the
// CPU's template flags (ops/cpu/optim_cpu.cpp). Slots are grouped by device and dtype and passed
// up to kSlotsPerLaunch at a time in a kernel-argument struct (by value: no host buffer to keep
// alive, no copy); blockIdx.y picks the slot, and the blocks of x stride over its elements.
//
// nvcc contracts a·b + c into FMAs by default (the CPU build does not), so the updated values may
// differ from the CPU's in the last bits; compiling this file with -fmad=false would make them
// identical.
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/optim_functors.h"

namespace unravel {

using cuda::blocks_for;
using cuda::kThreads;

namespace {

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

template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow>
__global__ void adam_kernel(SlotPack<T> pk, fn::AdamConsts<T> c, OptimStep h) {
  const int k = blockIdx.y;
  if (h.lr_device) {  // per-step scalars from the device lr and this slot's step count
    __shared__ fn::AdamConsts<T> shared;
    if (threadIdx.x == 0) {
      OptimStep d = h;
      fn::derive_step(d, *h.lr_device, *pk.steps[k] + 1);
      shared = fn::AdamConsts<T>(d);
    }
    __syncthreads();
    c = shared;
  }
  const int64_t n = pk.n[k];
  T* p = pk.p[k];
  const T* g = pk.g[k];
  T* m = pk.s0[k];
  T* v = pk.s1[k];
  T* vmax = pk.s2[k];
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x)
    fn::adam_element<T, kL2, kDecay, kAms, kLerpLow>(p[j], g[j], m[j], v[j],
                                                     kAms ? vmax + j : nullptr, c);
}

template <class T>
__global__ void sgd_kernel(SlotPack<T> pk, fn::SgdConsts<T> c, bool first, bool nesterov,
                           bool decay, OptimStep h) {
  const int k = blockIdx.y;
  if (h.lr_device) {
    __shared__ fn::SgdConsts<T> shared;
    __shared__ bool shared_first;
    if (threadIdx.x == 0) {
      OptimStep d = h;
      fn::derive_step(d, *h.lr_device, *pk.steps[k] + 1);
      shared = fn::SgdConsts<T>(d);
      shared_first = d.first;
    }
    __syncthreads();
    c = shared;
    first = shared_first;
  }
  const int64_t n = pk.n[k];
  T* p = pk.p[k];
  const T* g = pk.g[k];
  T* buf = pk.s0[k];
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x)
    fn::sgd_element<T>(p[j], g[j], buf ? buf + j : nullptr, first, nesterov, decay, c);
}

/// steps[k] += 1 for the launched slots (after the update kernel read them).
template <class T> __global__ void advance_steps_kernel(SlotPack<T> pk, int count) {
  const int k = threadIdx.x;
  if (k < count) *pk.steps[k] += 1;
}

void check_slot(const OptimStep& h, const OptimSlot& s, size_t i) {
  UNRAVEL_CHECK(!h.lr_device || s.steps, "optimizer_step: slot {} has no step count (needed with "
                "a device learning rate)", i);
  auto dense = [&](const TensorView& v, bool needed) {
    if (!v.data) return !needed;
    return v.dtype == s.p.dtype && v.shape == s.p.shape && v.contiguous() &&
           v.device == s.p.device;
  };
  const bool adam = h.rule == OptimRule::adam;
  UNRAVEL_CHECK(is_floating(s.p.dtype) && s.p.dtype != DType::bf16 && dense(s.p, true) &&
                    dense(s.g, true) && dense(s.s0, adam) && dense(s.s1, adam) &&
                    dense(s.s2, adam && h.amsgrad),
                "optimizer_step: slot {} is not a set of dense {} tensors of shape {} on one "
                "device",
                i, dtype_name(s.p.dtype), s.p.shape.str());
}

/// Launches one update of `slots` (indices into all: non-empty, one dtype T, one device).
template <class T>
void launch_group(const OptimStep& h, const std::vector<OptimSlot>& all,
                  const std::vector<size_t>& slots) {
  cudaStream_t s = cuda::stream_of(all[slots[0]].p);
  const bool adam = h.rule == OptimRule::adam;
  for (size_t first = 0; first < slots.size(); first += kSlotsPerLaunch) {
    SlotPack<T> pk{};
    int count = 0;
    int64_t max_n = 0;
    for (size_t k = first; k < slots.size() && count < kSlotsPerLaunch; ++k, ++count) {
      const OptimSlot& o = all[slots[k]];
      const int64_t n = o.p.numel();
      pk.p[count] = o.p.ptr<T>();
      pk.g[count] = o.g.ptr<T>();
      pk.s0[count] = o.s0.ptr<T>();
      pk.s1[count] = o.s1.ptr<T>();
      pk.s2[count] = o.s2.ptr<T>();
      pk.n[count] = n;
      pk.steps[count] = o.steps;
      max_n = n > max_n ? n : max_n;
    }
    if (count == 0) continue;
    unsigned bx = blocks_for(max_n);
    if (bx > kMaxBlocksPerSlot) bx = kMaxBlocksPerSlot;
    const dim3 grid(bx, static_cast<unsigned>(count));
    if (adam) {
      const fn::AdamConsts<T> c(h);
      const bool l2 = !h.decoupled && h.weight_decay != 0;
      const bool dw = h.decoupled && h.weight_decay != 0;
      const bool low = h.beta1 > 0.5;  // lerp weight 1 - beta1 < 0.5
      auto run = [&](auto l2c, auto dwc, auto amsc, auto lowc) {
        adam_kernel<T, decltype(l2c)::value, decltype(dwc)::value, decltype(amsc)::value,
                    decltype(lowc)::value><<<grid, kThreads, 0, s>>>(pk, c, h);
      };
      using F = std::false_type;
      using Tr = std::true_type;
      auto with_low = [&](auto a, auto b, auto d) { low ? run(a, b, d, Tr{}) : run(a, b, d, F{}); };
      auto with_ams = [&](auto a, auto b) {
        h.amsgrad ? with_low(a, b, Tr{}) : with_low(a, b, F{});
      };
      auto with_dw = [&](auto a) { dw ? with_ams(a, Tr{}) : with_ams(a, F{}); };
      l2 ? with_dw(Tr{}) : with_dw(F{});
    } else {
      const fn::SgdConsts<T> c(h);
      sgd_kernel<T><<<grid, kThreads, 0, s>>>(pk, c, h.first, h.nesterov, h.weight_decay != 0, h);
    }
    UNRAVEL_CUDA_LAUNCH();
    if (h.lr_device) {
      advance_steps_kernel<T><<<1, kSlotsPerLaunch, 0, s>>>(pk, count);
      UNRAVEL_CUDA_LAUNCH();
    }
  }
}

}  // namespace

void CudaBackend::optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) {
  UNRAVEL_CUDA_TIMED("optimizer_step", slots.empty() ? 0 : slots[0].p.device.index);
  UNRAVEL_CHECK(h.rule == OptimRule::adam || h.rule == OptimRule::sgd,
                "optimizer_step: unknown rule");
  for (size_t i = 0; i < slots.size(); ++i) check_slot(h, slots[i], i);
  // Group by (device, dtype), in order of first appearance.
  std::vector<std::pair<std::pair<int, DType>, std::vector<size_t>>> groups;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].p.numel() == 0) continue;
    const std::pair<int, DType> key{slots[i].p.device.index, slots[i].p.dtype};
    size_t gi = 0;
    while (gi < groups.size() && groups[gi].first != key) ++gi;
    if (gi == groups.size()) groups.push_back({key, {}});
    groups[gi].second.push_back(i);
  }
  for (const auto& [key, idx] : groups) {
    dispatch_dtype(key.second, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) launch_group<T>(h, slots, idx);
    });
  }
}

}  // namespace unravel
