// 2-D convolution and transposed convolution with their backward Nodes (NCHW / OIHW).
//
// conv2d: y = x ⋆ w + b with y extent floor((H + 2p − d(k − 1) − 1) / s) + 1.
//   dx = conv backward-data(dy, w); dw (and db) = conv backward-weights(x, dy).
// conv_transpose2d is the adjoint of conv2d in its input: with w of shape (C_in, C_out, kh, kw)
// it is exactly conv backward-data where the "conv input" is the (N, C_out, H', W') output and
// the "conv output" is x. Hence
//   y  = backward-data(x, w)               (+ b broadcast over N, H', W')
//   dx = conv forward(dy, w)
//   dw = backward-weights(conv input = dy, conv output gradient = x)
//   db = Σ_{n,h,w} dy.
// output_padding adds rows/cols at the bottom/right of y; the backend derives the asymmetric
// padding from the shapes it is given, so every kernel call stays exact.
//
// Fused activation (conv2d_relu / conv_transpose2d_relu): y = a(v), v the conv output plus bias,
// a(v) = v > 0 ? v : s·v with s >= 0, so y > 0 exactly where v > 0 and the backward needs only
// the saved output: dv = dy · (y > 0 ? 1 : s), then the unfused backward with dv. conv2d hands
// the activation to the backend (a oneDNN post-op on the CPU); conv_transpose2d adds bias and
// applies it in one elementwise pass over y (BinaryOp::add_relu), in place.
//
// Layouts (engine/layout.h): both ops hand the backend x in its own layout and y in
// opt.out_layout (the backend reads / writes its formats). The backward keeps them: the incoming
// gradient is brought to the output's layout (a no-op when the next layer sent it that way),
// the activation mask runs elementwise on the two same-layout buffers (flat: padding is zero in
// y, so it stays zero in the result), the backend's backward kernels read the saved x and that
// gradient in their layouts, and dx comes back in x's layout. So a chain of convolutions that
// hands its activations over in a backend format (nn::Sequential asks for
// conv_chain_layout) reorders only at its ends, forward and backward. Channel-wise work on a
// channel-blocked format (the transpose's bias and activation, its bias gradient) runs on the
// rank-5 strided view of its storage (Backend::layout_channel_block); any other format goes
// through a strided copy. Values are those of the all-strided computation.
#include "ops/conv.h"

#include <cmath>

#include "ops/detail.h"
#include "ops/reduce.h"

namespace unravel {

namespace {

// The kernel parameters of the options; f32 convolutions take this thread's matrix precision
// (engine/precision.h), which the backward passes then keep (the node saves these params).
Conv2dParams to_params(const Conv2dOptions& o, DType dtype) {
  Conv2dParams p;
  p.precision = dtype == DType::f32 ? matmul_precision() : Precision::fp32;
  p.stride_h = o.stride[0];
  p.stride_w = o.stride[1];
  p.pad_h = o.padding[0];
  p.pad_w = o.padding[1];
  p.dilation_h = o.dilation[0];
  p.dilation_w = o.dilation[1];
  return p;
}

// Common argument checks of conv2d / conv_transpose2d. `w_in` is the weight dimension that
// must match x's channels (1 for conv2d, 0 for the transpose); returns the output channels.
int64_t check_args(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o,
                   const char* op, int w_in) {
  detail::check_defined(x, op, "input");
  detail::check_defined(w, op, "weight");
  detail::check_same(x, w, op);
  detail::check_floating(x, op);
  UNRAVEL_CHECK(x.dim() == 4, "{}: input must be (N, C, H, W), got {}", op, x.desc());
  UNRAVEL_CHECK(w.dim() == 4, "{}: weight must be 4-D, got {}", op, w.desc());
  UNRAVEL_CHECK(x.numel() > 0 && w.numel() > 0, "{}: empty input {} or weight {}", op, x.desc(),
                w.desc());
  UNRAVEL_CHECK(w.size(w_in) == x.size(1),
                "{}: input {} has {} channels but weight {} expects {} (groups = 1)", op,
                x.desc(), x.size(1), w.desc(), w.size(w_in));
  const int64_t out_c = w.size(1 - w_in);
  if (b.defined()) {
    detail::check_same(x, b, op);
    UNRAVEL_CHECK(b.dim() == 1 && b.size(0) == out_c, "{}: bias must be [{}], got {}", op, out_c,
                  b.desc());
  }
  for (int i = 0; i < 2; ++i) {
    UNRAVEL_CHECK(o.stride[i] >= 1 && o.dilation[i] >= 1 && o.padding[i] >= 0,
                  "{}: stride ({}, {}) and dilation ({}, {}) must be >= 1 and padding ({}, {}) "
                  ">= 0",
                  op, o.stride[0], o.stride[1], o.dilation[0], o.dilation[1], o.padding[0],
                  o.padding[1]);
  }
  return out_c;
}

void check_out_layout(const Conv2dOptions& opt, const Tensor& x, const char* op) {
  UNRAVEL_CHECK(opt.out_layout.is_strided() || opt.out_layout.backend == x.device().kind,
                "{}: out_layout is format {} of the {} backend, but the input {} is on {}", op,
                opt.out_layout.format, device_kind_name(opt.out_layout.backend), x.desc(),
                x.device().str());
}

// Per-axis output extent of conv2d; throws when the (dilated) kernel does not fit.
int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, const Tensor& x,
                 const Tensor& w) {
  const int64_t span = d * (k - 1) + 1;
  UNRAVEL_CHECK(in + 2 * p >= span,
                "conv2d: kernel of extent {} (dilated) does not fit the padded input {} + 2·{} "
                "(input {}, weight {})",
                span, in, p, x.desc(), w.desc());
  return (in + 2 * p - span) / s + 1;
}

TensorView no_tensor() { return TensorView{}; }

// The whole storage of t (in a backend format) as a flat contiguous strided view, for
// elementwise work on tensors that share one layout.
TensorView flat_view(const Tensor& t) {
  const TensorView v = t.layout_view();
  const int64_t n = static_cast<int64_t>(
      backend(t.device()).layout_nbytes(t.layout().format, t.shape(), t.dtype()) /
      size_of(t.dtype()));
  return TensorView{v.data, Shape{n}, Strides{1}, v.dtype, v.device, kStrided};
}

// t (N, C, H, W) as a strided view with the channels on axis 1 and, for a channel-blocked
// format whose block b divides C, as the rank-5 (N, C/b, H, W, b) view of its storage, whose
// channel c sits at (c / b, c % b). Returns false when t is in another format.
bool channel_view(const Tensor& t, TensorView& v, int64_t& block) {
  if (t.is_strided()) {
    v = t.view();
    block = 0;
    return true;
  }
  block = backend(t.device()).layout_channel_block(t.layout().format);
  const Shape& s = t.shape();
  if (block <= 0 || s[1] % block != 0) return false;
  const TensorView raw = t.layout_view();
  const int64_t cb = s[1] / block;
  v = TensorView{raw.data, Shape{s[0], cb, s[2], s[3], block},
                 Strides{cb * s[2] * s[3] * block, s[2] * s[3] * block, s[3] * block, block, 1},
                 raw.dtype, raw.device, kStrided};
  return true;
}

// b (C) broadcast against a channel_view of the given block (0: rank-4 NCHW).
TensorView channel_broadcast(const Tensor& b, const TensorView& like, int64_t block) {
  TensorView bv = b.view();
  const int64_t bs = b.strides()[0];
  bv.shape = like.shape;
  bv.strides = block == 0 ? Strides{0, bs, 0, 0} : Strides{0, block * bs, 0, 0, bs};
  return bv;
}

// Σ over N, H, W of g (N, C, H, W) in any layout: db (C), strided.
Tensor channel_sum(const Tensor& g) {
  TensorView gv;
  int64_t block = 0;
  if (!channel_view(g, gv, block)) return channel_sum(g.with_layout(kStrided));
  Tensor db = Tensor::empty(Shape{g.size(1)}, g.dtype(), g.device());
  TensorView dv = db.view();
  dv.shape = block == 0 ? Shape{1, g.size(1), 1, 1} : Shape{1, g.size(1) / block, 1, 1, block};
  dv.strides = contiguous_strides(dv.shape);
  backend(g.device()).reduce(ReduceOp::sum, gv, dv);
  return db;
}

// y = conv(x, w) + b in layout `out`; x may be in a format of its backend (layout_view).
Tensor conv_forward_kernel(const Tensor& x, const Tensor& w, const Tensor& b, const Shape& y_shape,
                           const Conv2dParams& p, Layout out = kStrided) {
  Backend& be = backend(x.device());
  const TensorView bv = b.defined() ? b.view() : no_tensor();
  if (p.relu && !be.supports(Kernel::conv2d_forward_relu)) {
    // The backend has no fused activation: convolve, then one in-place activation pass.
    Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());
    Conv2dParams plain = p;
    plain.relu = false;
    be.conv2d_forward(x.layout_view(), w.view(), bv, y.view(), plain);
    be.unary(p.relu_slope == 0.0 ? UnaryOp::relu : UnaryOp::leaky_relu, y.view(), y.view(),
             p.relu_slope);
    return y.with_layout(out);
  }
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device(), out);
  be.conv2d_forward(x.layout_view(), w.view(), bv, y.layout_view(), p);
  return y;
}

// dx (x_shape, in layout `out`) = conv backward-data(dy, w); dy may be in a backend format.
Tensor conv_data_kernel(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                        const Conv2dParams& p, Layout out = kStrided) {
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), out);
  backend(dy.device()).conv2d_backward_data(dy.layout_view(), w.view(), dx.layout_view(), p);
  return dx;
}

// dw of shape w_shape and, when with_bias, db (w_shape[0]) from conv input x and output grad dy
// (either may be in a backend format).
std::pair<Tensor, Tensor> conv_weights_kernel(const Tensor& x, const Tensor& dy,
                                              const Shape& w_shape, bool with_bias,
                                              const Conv2dParams& p) {
  Tensor dw = Tensor::empty(w_shape, x.dtype(), x.device());
  Tensor db = with_bias ? Tensor::empty(Shape{w_shape[0]}, x.dtype(), x.device()) : Tensor();
  backend(x.device()).conv2d_backward_weights(x.layout_view(), dy.layout_view(), dw.view(),
                                              with_bias ? db.view() : no_tensor(), p);
  return {dw, db};
}

// True when g, a gradient a backward received as `dy` or made from it, can be overwritten: its
// elements do not overlap, and no handle reaches them but g itself and, when g shares dy's
// TensorImpl, dy's slot in the list the tape handed over (the tape moves each gradient into
// that list, so a gradient delivered to two nodes, captured by grad() or copied by anomaly
// mode, or a view of another tensor, shows as a further owner). Counts only overstate, so a
// miscount can cost the saving, never the values.
bool overwritable_grad(const Tensor& g, const Tensor& dy) {
  const long handles = g.impl_ptr() == dy.impl_ptr() ? 2 : 1;
  return g.impl_ptr().use_count() == handles && g.storage().use_count() == 1 &&
         (!g.is_strided() || g.is_contiguous());
}

// The fused activation's share of a backward: dv = dy · a'(v), read from the saved output, in
// the output's layout (dy is converted to it when it arrives in another). Written into dy's own
// storage when nothing else holds it (overwritable_grad): the same values, without a fresh
// buffer's write-allocate traffic (this pass is memory-bound).
struct FusedActivation {
  bool on = false;
  double slope = 0.0;
  SavedTensor y;
  Tensor mask(const Tensor& dy, const char* op) const {
    if (!on) return dy;
    const Tensor ys = y.get(op);
    const Tensor g = dy.with_layout(ys.layout());
    const BinaryOp k = slope == 0.0 ? BinaryOp::relu_grad : BinaryOp::leaky_relu_grad;
    const bool in_place = overwritable_grad(g, dy);
    const Tensor out =
        in_place ? g : Tensor::empty(ys.shape(), ys.dtype(), ys.device(), ys.layout());
    // Strided: the tensors' own views (same shape); a format: the whole storage, flat.
    auto whole = [](const Tensor& t) { return t.is_strided() ? t.view() : flat_view(t); };
    backend(ys.device()).binary(k, whole(g), whole(ys), whole(out), slope);
    if (in_place) out.bump_version();
    return out;
  }
};

void check_slope(double slope, const char* op) {
  UNRAVEL_CHECK(slope >= 0.0 && std::isfinite(slope),
                "{}: negative_slope must be finite and >= 0 (the backward reads the sign of the "
                "output), got {}",
                op, slope);
}

// What both convolutions' backward nodes save (recorded by record_conv).
struct ConvNodeState : Node {
  SavedTensor x, w;
  Shape x_shape, w_shape;
  Layout x_layout;  // dx is returned in it
  Conv2dParams p;   // relu off: the backward passes run on the masked gradient
  FusedActivation act;
};

struct Conv2dBackward final : ConvNodeState {
  const char* name() const override { return act.on ? "conv2d_relu" : "conv2d"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor g = act.mask(grads[0], name());
    TensorList out(next.size());
    if (needs_input_grad(0)) out[0] = conv_data_kernel(g, w.get(name()), x_shape, p, x_layout);
    const bool nb = next.size() > 2 && needs_input_grad(2);
    if (needs_input_grad(1)) {
      auto [dw, db] = conv_weights_kernel(x.get(name()), g, w_shape, nb, p);
      out[1] = dw;
      if (nb) out[2] = db;
    } else if (nb) {
      out[2] = channel_sum(g);
    }
    return out;
  }
};

struct ConvTranspose2dBackward final : ConvNodeState {
  const char* name() const override {
    return act.on ? "conv_transpose2d_relu" : "conv_transpose2d";
  }
  TensorList backward(const TensorList& grads) override {
    const Tensor g = act.mask(grads[0], name());
    TensorList out(next.size());
    if (needs_input_grad(0))
      out[0] = conv_forward_kernel(g, w.get(name()), Tensor(), x_shape, p, x_layout);
    if (needs_input_grad(1)) out[1] = conv_weights_kernel(g, x.get(name()), w_shape, false, p).first;
    if (next.size() > 2 && needs_input_grad(2)) out[2] = channel_sum(g);
    return out;
  }
};

// Records node type `N` for y = conv(x, w, b) when any input needs a gradient.
template <class N>
void record_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                 const Conv2dParams& p, bool relu, double slope) {
  if (!Tape::needs_grad({&x, &w, &b})) return;
  TensorList inputs = b.defined() ? TensorList{x, w, b} : TensorList{x, w};
  auto* n = record<N>(inputs, {y});
  if (w.requires_grad()) n->x = SavedTensor(x);
  if (x.requires_grad()) n->w = SavedTensor(w);
  n->x_shape = x.shape();
  n->x_layout = x.layout();
  n->w_shape = w.shape();
  n->p = p;
  n->p.relu = false;
  n->act = FusedActivation{relu, slope, relu ? SavedTensor(y) : SavedTensor()};
}

// conv2d, with the activation fused when `relu`.
Tensor conv2d_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt,
                   bool relu, double slope) {
  const char* op = relu ? "conv2d_relu" : "conv2d";
  const int64_t out_c = check_args(x, w, b, opt, op, 1);
  if (relu) check_slope(slope, op);
  check_out_layout(opt, x, op);
  Conv2dParams p = to_params(opt, x.dtype());
  p.relu = relu;
  p.relu_slope = slope;
  const Shape y_shape{x.size(0), out_c,
                      conv_out(x.size(2), w.size(2), p.stride_h, p.pad_h, p.dilation_h, x, w),
                      conv_out(x.size(3), w.size(3), p.stride_w, p.pad_w, p.dilation_w, x, w)};
  Tensor y = conv_forward_kernel(x, w, b, y_shape, p, opt.out_layout);
  record_conv<Conv2dBackward>(x, w, b, y, p, relu, slope);
  return y;
}

// conv_transpose2d, with the activation fused when `relu`.
Tensor conv_transpose2d_impl(const Tensor& x, const Tensor& w, const Tensor& b,
                             const Conv2dOptions& opt, bool relu, double slope) {
  const char* op = relu ? "conv_transpose2d_relu" : "conv_transpose2d";
  const int64_t out_c = check_args(x, w, b, opt, op, 0);
  if (relu) check_slope(slope, op);
  check_out_layout(opt, x, op);
  const Conv2dParams p = to_params(opt, x.dtype());
  Shape y_shape{x.size(0), out_c, 0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t s = opt.stride[i], d = opt.dilation[i], op_pad = opt.output_padding[i];
    UNRAVEL_CHECK(op_pad >= 0 && op_pad < std::max(s, d),
                  "conv_transpose2d: output_padding ({}, {}) must be >= 0 and smaller than "
                  "stride ({}, {}) or dilation ({}, {})",
                  opt.output_padding[0], opt.output_padding[1], opt.stride[0], opt.stride[1],
                  opt.dilation[0], opt.dilation[1]);
    const int64_t extent = (x.size(2 + i) - 1) * s - 2 * opt.padding[i] +
                           d * (w.size(2 + i) - 1) + op_pad + 1;
    UNRAVEL_CHECK(extent >= 1,
                  "conv_transpose2d: output would be empty (extent {}) for input {}, weight {}, "
                  "padding ({}, {})",
                  extent, x.desc(), w.desc(), opt.padding[0], opt.padding[1]);
    y_shape[2 + i] = extent;
  }
  Tensor y = conv_data_kernel(x, w, y_shape, p, opt.out_layout);
  Backend& be = backend(y.device());
  if (b.defined()) {
    // Bias (and activation) in one pass over y's channel view; a format without one goes
    // through a strided copy.
    TensorView yv;
    int64_t block = 0;
    Tensor ys = y;
    if (!channel_view(ys, yv, block)) {
      ys = y.with_layout(kStrided);
      channel_view(ys, yv, block);
    }
    be.binary(relu ? BinaryOp::add_relu : BinaryOp::add, yv, channel_broadcast(b, yv, block), yv,
              slope);
    if (!ys.is_same(y)) y = ys.with_layout(opt.out_layout);
  } else if (relu) {
    const TensorView yv = y.is_strided() ? y.view() : flat_view(y);  // relu(0) = 0: padding stays
    be.unary(slope == 0.0 ? UnaryOp::relu : UnaryOp::leaky_relu, yv, yv, slope);
  }
  record_conv<ConvTranspose2dBackward>(x, w, b, y, p, relu, slope);
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt) {
  return conv2d_impl(x, w, b, opt, false, 0.0);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b,
                        const Conv2dOptions& opt) {
  return conv_transpose2d_impl(x, w, b, opt, false, 0.0);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt,
                   double negative_slope) {
  return conv2d_impl(x, w, b, opt, true, negative_slope);
}

Tensor conv_transpose2d_relu(const Tensor& x, const Tensor& w, const Tensor& b,
                             const Conv2dOptions& opt, double negative_slope) {
  return conv_transpose2d_impl(x, w, b, opt, true, negative_slope);
}

}  // namespace unravel
