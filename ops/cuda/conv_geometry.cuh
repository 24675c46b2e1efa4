// What the parts of the CUDA convolutions share (conv.cu: the entry points; conv_cudnn.cu: cuDNN;
// conv_direct.cu: our own direct kernels, the fallback): the passes, the geometry of one
// convolution and the checks of its tensors (host code, in conv_checks.h), and the entries of
// the cuDNN and direct paths.
#pragma once

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/conv_checks.h"
#include "ops/cuda/conv_direct_body.h"  // Geom
#include "ops/cuda/cuda_common.cuh"

namespace unravel::cuda_conv {

/// Runs `pass` on cuDNN (conv_cudnn.cu): in0, in1 = the pass's two inputs, out = its output, in
/// the pass's own roles (fwd: x, w → y; bwd_data: dy, w → dx; bwd_filter: x, dy → dw); `bf16`:
/// the inputs hold bf16-rounded values (TF32 tensor-core math allowed). False when the
/// convolution is to run in the direct kernels instead (nothing has been written then).
bool run_cudnn(CudaBackend& be, Pass pass, const Geom& g, const TensorView& in0,
               const TensorView& in1, const TensorView& out, bool bf16);

/// Whether cuDNN may take this convolution at all (else the direct kernels do).
bool cudnn_fits(const Geom& g, const TensorView& x, const TensorView& w, const TensorView& y);

/// The convolution of `pass` in our direct kernels (any strides and groups, double accumulation
/// in a fixed order): x, w, y in the forward sense, as check_conv took them.
void direct_conv(Pass pass, const TensorView& x, const TensorView& w, const TensorView& y,
                 const Geom& g);

}  // namespace unravel::cuda_conv
