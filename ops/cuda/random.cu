// Philox fills and permutations on the device, equal to the CPU's (ops/cpu/random_cpu.cpp). The
// per-thread bodies are in ops/cuda/random_body.h (the kernels here are thin wrappers); the
// permutations sort the bodies' keys with CUB's radix sorts, which are stable, so equal keys
// keep index order, as the CPU's stable_sort.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <climits>
#include <cstdint>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/random_body.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::elementwise_dims;
using cuda::kLongRow;
using cuda::Strided;

namespace {

template <class T>
__global__ void random_kernel(RandomOp op, uint64_t seed, uint64_t offset, const int64_t* base,
                              double a, double b, T* y, Strided ys, int64_t n, bool dense) {
  DeviceCtx c;
  cuda::random_body<T>(c, op, seed, offset, base, a, b, y, ys, n, dense);
}

__global__ void perm_keys_kernel(uint64_t seed, uint64_t offset, const int64_t* base, int64_t n,
                                 int64_t total, uint64_t* keys, int64_t* vals) {
  DeviceCtx c;
  cuda::perm_keys_body(c, seed, offset, base, n, total, keys, vals);
}

__global__ void row_offsets_kernel(int* offsets, int64_t rows, int64_t n) {
  DeviceCtx c;
  cuda::row_offsets_body(c, offsets, rows, n);
}

}  // namespace

void CudaBackend::random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("random", y.device.index);
  UNRAVEL_CHECK(op == RandomOp::uniform || op == RandomOp::normal || op == RandomOp::bernoulli,
                "random: unknown op");
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const Strided ys = cuda::strided_of(y, "random");
  const bool dense = y.contiguous();
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    random_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        op, st.seed, st.offset, st.base, a, b, y.ptr<T>(), ys, n, dense);
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::random_permutation(PhiloxState st, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("random_permutation", y.device.index);
  UNRAVEL_CHECK(y.dtype == DType::i64 && y.rank() == 2 && y.contiguous(),
                "random_permutation: want a contiguous i64 (R, n) output, got {}{}",
                dtype_name(y.dtype), y.shape.str());
  const int64_t rows = y.shape[0], n = y.shape[1], total = rows * n;
  if (total == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  cuda::Scratch keys(static_cast<size_t>(total) * sizeof(uint64_t));
  cuda::Scratch keys_out(static_cast<size_t>(total) * sizeof(uint64_t));
  cuda::Scratch vals(static_cast<size_t>(total) * sizeof(int64_t));
  perm_keys_kernel<<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(total), s)>>>(
      st.seed, st.offset, st.base, n, total, keys.as<uint64_t>(), vals.as<int64_t>());
  UNRAVEL_CUDA_LAUNCH();
  int64_t* out = y.ptr<int64_t>();
  size_t bytes = 0;
  if (rows == 1 || n >= kLongRow) {
    // One stable device-wide sort per row, sharing one temporary buffer.
    UNRAVEL_CUDA(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys.as<uint64_t>(),
                                                 keys_out.as<uint64_t>(), vals.as<int64_t>(),
                                                 out, n, 0, 64, s));
    cuda::Scratch temp(bytes);
    for (int64_t r = 0; r < rows; ++r) {
      size_t tb = bytes;
      UNRAVEL_CUDA(cub::DeviceRadixSort::SortPairs(
          temp.get(), tb, keys.as<uint64_t>() + r * n, keys_out.as<uint64_t>() + r * n,
          vals.as<int64_t>() + r * n, out + r * n, n, 0, 64, s));
    }
    return;
  }
  UNRAVEL_CHECK(total <= INT_MAX,
                "random_permutation: {} rows of {} exceed the segmented sort's {} elements", rows,
                n, INT_MAX);
  cuda::Scratch offsets(static_cast<size_t>(rows + 1) * sizeof(int));
  row_offsets_kernel<<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(rows + 1), s)>>>(offsets.as<int>(),
                                                                              rows, n);
  UNRAVEL_CUDA_LAUNCH();
  UNRAVEL_CUDA(cub::DeviceSegmentedRadixSort::SortPairs(
      nullptr, bytes, keys.as<uint64_t>(), keys_out.as<uint64_t>(), vals.as<int64_t>(), out,
      static_cast<int>(total), static_cast<int>(rows), offsets.as<int>(), offsets.as<int>() + 1,
      0, 64, s));
  cuda::Scratch temp(bytes);
  UNRAVEL_CUDA(cub::DeviceSegmentedRadixSort::SortPairs(
      temp.get(), bytes, keys.as<uint64_t>(), keys_out.as<uint64_t>(), vals.as<int64_t>(), out,
      static_cast<int>(total), static_cast<int>(rows), offsets.as<int>(), offsets.as<int>() + 1,
      0, 64, s));
}

}  // namespace unravel
