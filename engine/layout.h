// Memory layout of a tensor's storage: `strided` (the ordinary meaning: element i of the
// logical shape lives at offset + Σ index·stride) or `opaque`: a format that one backend
// defines and only that backend's layout-aware kernels read, such as oneDNN's blocked
// convolution layouts on the CPU (nChw8c: channels in blocks of 8, padded with zeros) or a
// cuDNN / vendor format on a GPU. An opaque tensor keeps its logical shape (N, C, H, W); its
// strides are meaningless (kept empty) and its storage may be larger than numel·size_of(dtype)
// (Backend::layout_nbytes). The format id is the backend's own, so a Layout also names the
// backend kind that assigned it, and a format of one backend is refused on another device.
//
// Rules for contributors
//  * Who produces a non-strided tensor: only ops/layout.h's to_layout (the conversion op) and
//    layout-aware ops that are asked to: the convolutions with Conv2dOptions::out_layout, which
//    nn::Sequential sets between two consecutive convolution layers (conv_chain_layout), and
//    their backward, which returns dx in x's layout. Nothing else returns one, so a program that
//    never asks for a layout never sees one (a Sequential's chain ends strided).
//  * Who reads one: only layout-aware code, through Tensor::layout_view(): the backend's
//    convert_layout, the convolutions' activation-side operands (x, y, dy, dx; never weights),
//    the fused activation's mask and the transposed convolution's bias (elementwise on the flat
//    storage or on the rank-5 view Backend::layout_channel_block describes), and the engine's
//    own conversions. Every other op reads tensors through Tensor::view() or Tensor::strides(),
//    and those REFUSE a non-strided tensor with an error naming it and the fix
//    (to_strided(x)). That is the single check: there is no per-op list to keep in sync, a
//    new op is safe without doing anything, and nothing can read blocked bytes as if they were
//    NCHW. Refusing rather than converting silently is deliberate: a conversion is a full
//    reorder, and the speed work that carries blocked tensors between conv layers wants a
//    tensor that leaks into a generic op to be a loud error, not a hidden copy per step.
//    (view() cannot convert anyway: a TensorView holds no reference, so a temporary strided
//    copy made inside it would be freed before the kernel ran.) is_contiguous() is false and
//    data<T>() refuses, for the same reason.
//  * Where conversions happen: at the edges, explicitly: to_layout / to_strided (ops/layout.h,
//    differentiable: the gradient converts back to the input's layout), and inside the engine
//    wherever values leave the device or cross devices: item(), to_vector(), the io writers
//    (npy, safetensors, hence checkpoints), to(x, device), and the tape (gradients summed on
//    fan-in and leaves' .grad are made strided). Gradients flowing into a non-strided tensor
//    may be strided or in its layout; layout-aware backward code converts what it needs.
//  * Layouts that strides can express (NHWC / channels-last, transposes) are NOT opaque: give
//    them strides and every generic op reads them natively.
//
// What a backend implements to use its own layouts (the CPU does it in ops/cpu/layout_cpu.cpp,
// the sim device delegates to it; a CUDA backend would map ids to cuDNN tensor formats):
//  1. find_layout(name) -> id (> 0) for each format it offers, layout_name(id) for messages
//     and desc(), layout_nbytes(id, shape, dtype) for the storage to allocate (padding included);
//  2. convert_layout(src, dst) (Kernel::layout_convert; supports() reports it): every
//     strided <-> format and format <-> format conversion of its formats, bit-exact (values are
//     moved, never recomputed; padding written as zeros);
//  3. in the layout-aware kernels it chooses (the three conv2d kernels on the CPU), accept
//     views whose layout is one of its formats, and otherwise keep refusing non-strided views;
//  4. optionally conv_chain_format (the format conv chains carry; 0, the default: none) and
//     layout_channel_block (for channel-blocked formats).
// A backend without layouts implements none of this: the default bodies throw
// "layout_convert has no <backend> implementation", so no opaque tensor can exist there.
#pragma once
#include <cstdint>

#include "engine/device.h"

namespace unravel {

enum class LayoutKind : uint8_t {
  strided = 0,  ///< shape + strides (today's meaning)
  opaque = 1,   ///< a backend-defined format; strides are meaningless
};

struct Layout {
  LayoutKind kind = LayoutKind::strided;
  DeviceKind backend = DeviceKind::cpu;  ///< kind of the backend that assigned `format`
  uint32_t format = 0;                   ///< the backend's id (> 0); 0 for strided

  constexpr bool is_strided() const { return kind == LayoutKind::strided; }
  constexpr bool operator==(const Layout&) const = default;
  /// Format `id` of the backend of kind `b` (ids come from Backend::find_layout).
  static constexpr Layout opaque(DeviceKind b, uint32_t id) {
    return Layout{LayoutKind::opaque, b, id};
  }
};

/// The ordinary strided layout (every Layout{} equals it).
inline constexpr Layout kStrided{};

}  // namespace unravel
