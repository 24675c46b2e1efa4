// What the two halves of the CUDA convolutions share (conv.cu: cuDNN and the entry points;
// conv_direct.cu: our own direct kernels, the fallback): the passes, the geometry of one
// convolution and the checks of its tensors (host code, in conv_checks.h), and the direct path's
// entry.
#pragma once

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/conv_checks.h"
#include "ops/cuda/conv_direct_body.h"  // Geom
#include "ops/cuda/cuda_common.cuh"

namespace unravel::cuda_conv {

/// The convolution of `pass` in our direct kernels (any strides and groups, double accumulation
/// in a fixed order): x, w, y in the forward sense, as check_conv took them.
void direct_conv(Pass pass, const TensorView& x, const TensorView& w, const TensorView& y,
                 const Geom& g);

}  // namespace unravel::cuda_conv
