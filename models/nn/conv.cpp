// nn::Conv2d / nn::ConvTranspose2d: parameters with PyTorch's default init, input checks that
// name the layer, and the forward through ops/conv.h.
#include "models/nn/conv.h"

#include "engine/check.h"
#include "models/nn/init.h"

namespace unravel::nn {

namespace {
std::string options_str(const Conv2dOptions& o, bool transposed) {
  std::string s = fmt::format("stride=({}, {}), padding=({}, {})", o.stride[0], o.stride[1],
                              o.padding[0], o.padding[1]);
  if (o.dilation[0] != 1 || o.dilation[1] != 1)
    s += fmt::format(", dilation=({}, {})", o.dilation[0], o.dilation[1]);
  if (transposed && (o.output_padding[0] || o.output_padding[1]))
    s += fmt::format(", output_padding=({}, {})", o.output_padding[0], o.output_padding[1]);
  return s;
}
}  // namespace

ConvLayer2d::ConvLayer2d(bool transposed, int64_t in_channels, int64_t out_channels,
                         Kernel2d kernel, Generator& gen, const Conv2dOptions& opt, bool bias)
    : transposed_(transposed), in_(in_channels), out_(out_channels), kernel_(kernel), opt_(opt) {
  UNRAVEL_CHECK(in_ > 0 && out_ > 0 && kernel_[0] > 0 && kernel_[1] > 0,
                "{}: channels and kernel must be positive, got in={} out={} kernel=({}, {})",
                transposed_ ? "ConvTranspose2d" : "Conv2d", in_, out_, kernel_[0], kernel_[1]);
  const Shape w = transposed_ ? Shape{in_, out_, kernel_[0], kernel_[1]}
                              : Shape{out_, in_, kernel_[0], kernel_[1]};
  weight_ = register_parameter("weight", Tensor::empty(w));
  init::default_weight_(weight_, gen);
  if (bias) {
    bias_ = register_parameter("bias", Tensor::empty(Shape{out_}));
    init::default_bias_(bias_, init::fan_in_and_fan_out(weight_.shape()).first, gen);
  }
}

Tensor ConvLayer2d::run(const Tensor& x, std::optional<double> relu_slope,
                        const Conv2dOptions& o) const {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  if (transposed_)
    return relu_slope ? conv_transpose2d_relu(x, weight_, bias_, o, *relu_slope)
                      : conv_transpose2d(x, weight_, bias_, o);
  return relu_slope ? conv2d_relu(x, weight_, bias_, o, *relu_slope) : conv2d(x, weight_, bias_, o);
}

Tensor ConvLayer2d::forward(const Tensor& x) { return run(x, std::nullopt, opt_); }

Tensor ConvLayer2d::forward_relu(const Tensor& x, double negative_slope) {
  return run(x, negative_slope, opt_);
}

Tensor ConvLayer2d::forward_to(const Tensor& x, std::optional<double> relu_slope, Layout out) {
  Conv2dOptions o = opt_;
  o.out_layout = out;
  return run(x, relu_slope, o);
}

std::string ConvLayer2d::describe() const {
  return fmt::format("{}({}, {}, kernel=({}, {}), {}{})", type_name(), in_, out_, kernel_[0],
                     kernel_[1], options_str(opt_, transposed_), bias_.defined() ? "" : ", no bias");
}

}  // namespace unravel::nn
