// CUDA kernel of the fused pairwise IMQ kernel sums (Backend::pairwise_imq, ops/kernel_sums.h):
// the bodies and their launch plan are in ops/cuda/imq_body.h; the kernels here are thin
// wrappers. Sums are not in the CPU's order, so results may differ from the CPU's in the last
// bits (f64) or within float rounding (f32); they depend only on the shapes.
#include "engine/check.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/imq_body.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::ImqOperand;
using cuda::ImqScales;

namespace {

template <class T>
__global__ void imq_rows_kernel(ImqOperand<T> x, ImqOperand<T> o, int64_t dim, bool full,
                                ImqScales cs, double* row_value, T* grad) {
  DeviceCtx c;
  cuda::imq_rows_body<T>(c, x, o, dim, full, cs, row_value, grad);
}

template <class T> __global__ void imq_total_kernel(const double* row_value, int64_t rows, T* y) {
  DeviceCtx c;
  cuda::imq_total_body<T>(c, row_value, rows, y);
}

template <class T> ImqOperand<T> operand(const TensorView& v) {
  return ImqOperand<T>{v.ptr<T>(), v.shape[0], v.strides[0], v.strides[1]};
}

}  // namespace

void CudaBackend::pairwise_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                               const std::vector<double>& c, const TensorView& y,
                               const TensorView& ga, const TensorView& gb) {
  UNRAVEL_CUDA_TIMED("pairwise_imq", y.device.index);
  UNRAVEL_CHECK(a.rank() == 2 && b.rank() == 2 && a.shape[1] == b.shape[1] && a.dtype == b.dtype &&
                    (a.dtype == DType::f32 || a.dtype == DType::f64),
                "pairwise_imq (cuda): want a (Ba, D) and b (Bb, D) of one dtype (f32 or f64), got "
                "{} {} and {} {}", a.shape.str(), dtype_name(a.dtype), b.shape.str(),
                dtype_name(b.dtype));
  UNRAVEL_CHECK(a.strided() && b.strided(), "pairwise_imq (cuda): takes strided tensors only");
  UNRAVEL_CHECK((ga.data == nullptr || ga.contiguous()) && (gb.data == nullptr || gb.contiguous()),
                "pairwise_imq (cuda): gradient outputs must be contiguous");
  for (const TensorView* v : {&b, &y, &ga, &gb})
    UNRAVEL_CHECK(v->data == nullptr || v->device == a.device, "pairwise_imq (cuda): operands on "
                  "{} and {}", a.device.str(), v->device.str());
  const ImqScales cs = cuda::imq_scales(c);
  const bool full = mode == ImqMode::full;
  const int64_t dim = a.shape[1];
  cudaStream_t s = cuda::stream_of(y);
  cuda::dispatch_float(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const ImqOperand<T> ao = operand<T>(a), bo = operand<T>(b);
    cuda::Scratch rows(static_cast<size_t>(ao.rows) * sizeof(double));
    imq_rows_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::imq_rows_dims(ao.rows), s)>>>(
        ao, bo, dim, full, cs, rows.as<double>(), ga.data ? ga.ptr<T>() : nullptr);
    UNRAVEL_CUDA_LAUNCH();
    if (gb.data) {
      imq_rows_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::imq_rows_dims(bo.rows), s)>>>(
          bo, ao, dim, full, cs, nullptr, gb.ptr<T>());
      UNRAVEL_CUDA_LAUNCH();
    }
    imq_total_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::imq_total_dims(), s)>>>(rows.as<double>(),
                                                                          ao.rows, y.ptr<T>());
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
