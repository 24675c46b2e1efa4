// Memory-layout conversions at the edges (engine/layout.h has the rules): find a backend's
// format by name, convert a tensor into it and back. Differentiable: the gradient converts
// back to the input's layout, so a chain strided -> format -> strided is the identity for
// autograd too.
#pragma once
#include <string_view>

#include "engine/tensor.h"

namespace unravel {

/// The layout `name` ("nChw8c") of the backend serving `device`; throws naming the backend
/// (and saying when it has no layouts at all) when it has no such format.
Layout find_layout(Device device, std::string_view name);
/// x in layout `to`: x itself when it already has it, else a converted copy through the
/// backend's convert_layout (bit-exact). `to` must be strided or a format of x's backend.
Tensor to_layout(const Tensor& x, Layout to);
/// to_layout(x, kStrided): the logical values as an ordinary (contiguous) strided tensor; x
/// itself when it is already strided.
Tensor to_strided(const Tensor& x);

/// The layout in which a convolution should hand `dtype` activations of `channels` channels on
/// `device` to a following convolution (Backend::conv_chain_format): a backend format in which
/// the chain reorders only at its ends, or strided where the backend carries none (CUDA, f64,
/// channel counts that would be padded). nn::Sequential asks for it between consecutive
/// convolution layers; any conv accepts any layout, so it is a speed choice, never a semantic one.
Layout conv_chain_layout(Device device, int64_t channels, DType dtype);

}  // namespace unravel
