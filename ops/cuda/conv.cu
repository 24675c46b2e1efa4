// CUDA convolutions (NCHW activations, OIHW weights, f32 and f64, any strides, groups): the
// backend's entry points. Each checks its tensors (conv_checks.h), runs on cuDNN where cuDNN
// takes the convolution (conv_cudnn.cu) and otherwise in our own direct kernels (conv_direct.cu:
// any strides, double accumulation, fixed order) — also where the output extent is not the one
// cuDNN derives from symmetric padding (conv_transpose2d with output_padding ≥ stride, possible
// when dilation > stride) or a tensor exceeds cuDNN's 32-bit element counts. Bias (forward) is a
// broadcast add, its gradient a sum over N, H, W: both our own deterministic kernels
// (CudaBackend::binary / reduce). Batch normalisation: batch_norm.cu.
//
// Precision::bf16 (mixed precision, engine/precision.h), as on the CPU: each pass reads its two
// inputs rounded to bf16 (round-to-nearest-even, the CPU's rounding: engine/bf16.h, through a
// converting copy there and back into dense f32 scratch) and accumulates and writes in f32. The
// rounded f32 values are exact in TF32, so the pass may then run on TF32 tensor cores
// (CUDNN_DEFAULT_MATH) without further rounding: every product is a product of bf16 values, summed
// in f32. The bias gradient sums the rounded dy, as the CPU's bf16 backward-weights does.

#include <optional>
#include <string>

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/conv_geometry.cuh"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

using cuda_conv::check_conv;
using cuda_conv::cudnn_fits;
using cuda_conv::direct_conv;
using cuda_conv::Geom;
using cuda_conv::Pass;
using cuda_conv::run_cudnn;

/// An input of a Precision::bf16 pass: dense f32 scratch holding v rounded to bf16 (a converting
/// copy into bf16 scratch and back: engine/bf16.h's round-to-nearest-even, as on the CPU); v
/// itself when `on` is false.
class Bf16Rounded {
 public:
  Bf16Rounded(CudaBackend& be, const TensorView& v, bool on) : view_(v) {
    if (!on || v.numel() == 0) return;
    cuda::stream_for(v.device.index);  // the scratch is allocated on the current device
    half_.emplace(static_cast<size_t>(v.numel()) * size_of(DType::bf16));
    full_.emplace(static_cast<size_t>(v.numel()) * size_of(DType::f32));
    TensorView h = v;
    h.data = half_->get();
    h.dtype = DType::bf16;
    h.strides = contiguous_strides(v.shape);
    be.copy(v, h);
    view_.data = full_->get();
    view_.strides = h.strides;
    be.copy(h, view_);
  }
  const TensorView& view() const { return view_; }

 private:
  TensorView view_;
  std::optional<cuda::Scratch> half_, full_;
};

/// Whether a pass with params `p` on `out`'s dtype runs in bf16 (checked: f32 only).
bool bf16_pass(const Conv2dParams& p, const TensorView& out, const char* fn) {
  if (p.precision != Precision::bf16) return false;
  UNRAVEL_CHECK(out.dtype == DType::f32, "{}: bf16 precision applies to f32 convolutions, got {}",
                fn, dtype_name(out.dtype));
  return true;
}

/// A [C] vector viewed as [1, C, 1, 1] broadcast to `like`'s 4-D shape (strides 0 elsewhere).
TensorView channel_broadcast(const TensorView& v, const TensorView& like) {
  TensorView r = v;
  r.shape = like.shape;
  r.strides = Strides{0, v.strides[0], 0, 0};
  return r;
}

}  // namespace

// --- convolutions
// ---------------------------------------------------------------------------------

void CudaBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                                 const TensorView& y, const Conv2dParams& p) {
  const char* fn = "conv2d_forward";
  UNRAVEL_CUDA_TIMED(fn, y.device.index);
  UNRAVEL_CHECK(!p.relu,
                "{}: the fused activation is not implemented on CUDA "
                "(supports(conv2d_forward_relu) is false; ops/conv.cpp applies it separately)",
                fn);
  bool symmetric = true;
  const Geom g = check_conv(x, w, y, p, fn, "input", "output", &symmetric);
  if (b.data != nullptr) {
    UNRAVEL_CHECK(b.rank() == 1 && b.shape[0] == g.o && b.dtype == y.dtype && b.strided() &&
                      b.device == y.device,
                  "{}: bias must be a strided {} [{}] on {}, got {} {}", fn, dtype_name(y.dtype),
                  g.o, y.device.str(), dtype_name(b.dtype), b.shape.str());
  }
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {
    fill(y, 0.0);  // an empty sum
  } else {
    const bool bf = bf16_pass(p, y, fn);
    const Bf16Rounded xr(*this, x, bf), wr(*this, w, bf);
    if (!symmetric || !cudnn_fits(g, x, w, y) ||
        !run_cudnn(*this, Pass::fwd, g, xr.view(), wr.view(), y, bf))
      direct_conv(Pass::fwd, xr.view(), wr.view(), y, g);
  }
  if (b.data != nullptr) binary(BinaryOp::add, y, channel_broadcast(b, y), y, 0.0);
}

void CudaBackend::conv2d_backward_data(const TensorView& dy, const TensorView& w,
                                       const TensorView& dx, const Conv2dParams& p) {
  const char* fn = "conv2d_backward_data";
  UNRAVEL_CUDA_TIMED(fn, dx.device.index);
  bool symmetric = true;
  const Geom g = check_conv(dx, w, dy, p, fn, "input gradient", "output gradient", &symmetric);
  if (dx.numel() == 0) return;
  if (dy.numel() == 0 || w.numel() == 0) return fill(dx, 0.0);
  const bool bf = bf16_pass(p, dx, fn);
  const Bf16Rounded dyr(*this, dy, bf), wr(*this, w, bf);
  if (!symmetric || !cudnn_fits(g, dx, w, dy) ||
      !run_cudnn(*this, Pass::bwd_data, g, dyr.view(), wr.view(), dx, bf))
    direct_conv(Pass::bwd_data, dx, wr.view(), dyr.view(), g);
}

void CudaBackend::conv2d_backward_weights(const TensorView& x, const TensorView& dy,
                                          const TensorView& dw, const TensorView& db,
                                          const Conv2dParams& p) {
  const char* fn = "conv2d_backward_weights";
  UNRAVEL_CUDA_TIMED(fn, dw.device.index);
  bool symmetric = true;
  const Geom g = check_conv(x, dw, dy, p, fn, "input", "output gradient", &symmetric);
  const bool bf = bf16_pass(p, dw, fn);
  const Bf16Rounded xr(*this, x, bf), dyr(*this, dy, bf);
  if (db.data != nullptr) {
    UNRAVEL_CHECK(db.rank() == 1 && db.shape[0] == g.o && db.dtype == dy.dtype && db.strided() &&
                      db.device == dy.device,
                  "{}: bias gradient must be a strided {} [{}] on {}, got {} {}", fn,
                  dtype_name(dy.dtype), g.o, dy.device.str(), dtype_name(db.dtype), db.shape.str());
    TensorView db4 = db;  // [O] as [1, O, 1, 1]: reduce sums dy over N, H, W into it
    db4.shape = Shape{1, g.o, 1, 1};
    db4.strides = Strides{g.o * db.strides[0], db.strides[0], 1, 1};
    reduce(ReduceOp::sum, dyr.view(), db4);
  }
  if (dw.numel() == 0) return;
  if (dy.numel() == 0 || x.numel() == 0) return fill(dw, 0.0);
  if (!symmetric || !cudnn_fits(g, x, dw, dy) ||
      !run_cudnn(*this, Pass::bwd_filter, g, xr.view(), dyr.view(), dw, bf))
    direct_conv(Pass::bwd_filter, xr.view(), dw, dyr.view(), g);
}

}  // namespace unravel
