// CUDA multi-tensor optimiser updates: the per-element code of ops/optim_functors.h with the
// CPU's template flags (ops/cpu/optim_cpu.cpp). The per-thread bodies and the launch plan (slot
// groups and packs, blockIdx.y = slot) are in ops/cuda/optim_body.h; the kernels here are thin
// wrappers.
//
// nvcc contracts a·b + c into FMAs by default, and the host compiler (x86-64-v3 has FMA) makes
// its own choices in the CPU loops, so the updated values may differ from the CPU's in the last
// bits.
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/optim_body.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::SlotPack;

namespace {

// Thin wrappers: the bodies are in ops/cuda/optim_body.h.
template <class T, bool kL2, bool kDecay, bool kAms, bool kLerpLow>
__global__ void adam_kernel(SlotPack<T> pk, fn::AdamConsts<T> c, OptimStep h) {
  DeviceCtx ctx;
  cuda::adam_body<T, kL2, kDecay, kAms, kLerpLow>(ctx, pk, c, h);
}

template <class T>
__global__ void sgd_kernel(SlotPack<T> pk, fn::SgdConsts<T> c, bool first, bool nesterov,
                           bool decay, OptimStep h) {
  DeviceCtx ctx;
  cuda::sgd_body<T>(ctx, pk, c, first, nesterov, decay, h);
}

template <class T> __global__ void advance_steps_kernel(SlotPack<T> pk, int count) {
  DeviceCtx ctx;
  cuda::advance_steps_body<T>(ctx, pk, count);
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
  for (const cuda::OptimLaunch<T>& l : cuda::optim_launches<T>(h, all, slots)) {
    if (h.rule == OptimRule::adam) {
      const fn::AdamConsts<T> c(h);
      cuda::visit_adam_flags(h, [&](auto l2, auto dw, auto ams, auto low) {
        adam_kernel<T, decltype(l2)::value, decltype(dw)::value, decltype(ams)::value,
                    decltype(low)::value><<<UNRAVEL_LAUNCH_DIMS(l.dims, s)>>>(l.pk, c, h);
      });
    } else {
      const fn::SgdConsts<T> c(h);
      sgd_kernel<T><<<UNRAVEL_LAUNCH_DIMS(l.dims, s)>>>(l.pk, c, h.first, h.nesterov,
                                                         h.weight_decay != 0, h);
    }
    UNRAVEL_CUDA_LAUNCH();
    if (h.lr_device) {
      advance_steps_kernel<T><<<UNRAVEL_LAUNCH_DIMS(l.steps_dims, s)>>>(l.pk, l.count);
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
  const auto groups = cuda::optim_groups(slots);
  for (const auto& [key, idx] : groups) {
    dispatch_dtype(key.second, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) launch_group<T>(h, slots, idx);
    });
  }
}

}  // namespace unravel
