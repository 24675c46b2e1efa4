// Philox fills and permutations on the device, equal to the CPU's (ops/cpu/random_cpu.cpp):
// element i of y (row-major linear index, whatever y's strides) uses counter state.offset + i
// of engine/philox.h, the very code the CPU runs. The final affine step is written with
// explicitly rounded intrinsics so that nvcc cannot fuse it into an FMA (the CPU rounds the
// product and the sum separately): uniform and bernoulli values are bit-identical to the CPU's.
// normal goes through the device's log and cos, which may differ from glibc's in the last bit
// of a double (rarely visible after rounding to f32).
//
// Permutations: row r sorts 0..n-1 by the 64-bit keys philox::bits64(seed, offset + r·n + i);
// CUB's radix sorts are stable, so equal keys keep index order, as the CPU's stable_sort.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <climits>
#include <cstdint>

#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/philox.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

using cuda::blocks_for;
using cuda::kThreads;
using cuda::Strided;

namespace {

template <class T>
__global__ void random_kernel(RandomOp op, uint64_t seed, uint64_t offset, const int64_t* base,
                              double a, double b, T* y, Strided ys, int64_t n, bool dense) {
  if (base) offset += static_cast<uint64_t>(*base);  // recorded work: read at each replay
  const double span = __dadd_rn(b, -a);  // b - a, as the CPU
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t counter = offset + static_cast<uint64_t>(i);
    double v;
    switch (op) {
      case RandomOp::uniform:
        v = philox::affine(a, span, philox::uniform(seed, counter));
        break;
      case RandomOp::normal:
        v = philox::affine(a, b, philox::normal(seed, counter));
        break;
      default:  // bernoulli (the host refuses other ops)
        v = philox::uniform(seed, counter) < a ? 1.0 : 0.0;
        break;
    }
    y[dense ? i : ys.offset(i)] = static_cast<T>(v);
  }
}

/// keys[t] = bits64(seed, offset + t) for t = r·n + i, vals[t] = i.
__global__ void perm_keys_kernel(uint64_t seed, uint64_t offset, const int64_t* base, int64_t n,
                                 int64_t total, uint64_t* keys, int64_t* vals) {
  if (base) offset += static_cast<uint64_t>(*base);
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    keys[t] = philox::bits64(seed, offset + static_cast<uint64_t>(t));
    vals[t] = t % n;
  }
}

/// offsets[r] = r·n for r in 0..rows (segment bounds of the segmented sort).
__global__ void row_offsets_kernel(int* offsets, int64_t rows, int64_t n) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r <= rows;
       r += int64_t(gridDim.x) * blockDim.x)
    offsets[r] = static_cast<int>(r * n);
}

/// Rows at least this long are sorted one device-wide sort each; shorter ones together, one
/// segmented sort (a thread block per row).
constexpr int64_t kLongRow = int64_t{1} << 16;

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
    random_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(op, st.seed, st.offset, st.base, a, b, y.ptr<T>(),
                                                        ys, n, dense);
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
  perm_keys_kernel<<<blocks_for(total), kThreads, 0, s>>>(st.seed, st.offset, st.base, n, total,
                                                          keys.as<uint64_t>(), vals.as<int64_t>());
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
  row_offsets_kernel<<<blocks_for(rows + 1), kThreads, 0, s>>>(offsets.as<int>(), rows, n);
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
