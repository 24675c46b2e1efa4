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
void check_config(const char* layer, int64_t in, int64_t out, const Kernel2d& k) {
  UNRAVEL_CHECK(in > 0 && out > 0 && k[0] > 0 && k[1] > 0,
                "{}: channels and kernel must be positive, got in={} out={} kernel=({}, {})", layer,
                in, out, k[0], k[1]);
}
}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Kernel2d kernel, Generator& gen,
               const Conv2dOptions& opt, bool bias)
    : in_(in_channels), out_(out_channels), kernel_(kernel), opt_(opt) {
  check_config("Conv2d", in_, out_, kernel_);
  weight_ = register_parameter("weight", Tensor::empty(Shape{out_, in_, kernel_[0], kernel_[1]}));
  init::default_weight_(weight_, gen);
  if (bias) {
    bias_ = register_parameter("bias", Tensor::empty(Shape{out_}));
    init::default_bias_(bias_, init::fan_in_and_fan_out(weight_.shape()).first, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  return conv2d(x, weight_, bias_, opt_);
}

Tensor Conv2d::forward_relu(const Tensor& x, double negative_slope) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  return conv2d_relu(x, weight_, bias_, opt_, negative_slope);
}

Tensor Conv2d::forward_to(const Tensor& x, std::optional<double> relu_slope, Layout out) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  Conv2dOptions o = opt_;
  o.out_layout = out;
  return relu_slope ? conv2d_relu(x, weight_, bias_, o, *relu_slope) : conv2d(x, weight_, bias_, o);
}

std::string Conv2d::describe() const {
  return fmt::format("Conv2d({}, {}, kernel=({}, {}), {}{})", in_, out_, kernel_[0], kernel_[1],
                     options_str(opt_, false), bias_.defined() ? "" : ", no bias");
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, Kernel2d kernel,
                                 Generator& gen, const Conv2dOptions& opt, bool bias)
    : in_(in_channels), out_(out_channels), kernel_(kernel), opt_(opt) {
  check_config("ConvTranspose2d", in_, out_, kernel_);
  weight_ = register_parameter("weight", Tensor::empty(Shape{in_, out_, kernel_[0], kernel_[1]}));
  init::default_weight_(weight_, gen);
  if (bias) {
    bias_ = register_parameter("bias", Tensor::empty(Shape{out_}));
    init::default_bias_(bias_, init::fan_in_and_fan_out(weight_.shape()).first, gen);
  }
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  return conv_transpose2d(x, weight_, bias_, opt_);
}

Tensor ConvTranspose2d::forward_relu(const Tensor& x, double negative_slope) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  return conv_transpose2d_relu(x, weight_, bias_, opt_, negative_slope);
}

Tensor ConvTranspose2d::forward_to(const Tensor& x, std::optional<double> relu_slope,
                                   Layout out) {
  UNRAVEL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_,
                "{}: input must be (N, {}, H, W), got {}", describe(), in_, x.desc());
  Conv2dOptions o = opt_;
  o.out_layout = out;
  return relu_slope ? conv_transpose2d_relu(x, weight_, bias_, o, *relu_slope)
                    : conv_transpose2d(x, weight_, bias_, o);
}

std::string ConvTranspose2d::describe() const {
  return fmt::format("ConvTranspose2d({}, {}, kernel=({}, {}), {}{})", in_, out_, kernel_[0],
                     kernel_[1], options_str(opt_, true), bias_.defined() ? "" : ", no bias");
}

}  // namespace unravel::nn
