// nn modules: parameter/buffer naming, train/eval, in-place dtype moves, layer forward shapes and
// values, initialiser statistics, and f64 finite-difference checks of tiny Sequentials with
// respect to both the input and every parameter.
#include <doctest/doctest.h>

#include <cmath>

#include "models/nn/nn.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

// Central differences of sum(model(x) · w) against backward for every parameter element.
void check_param_grads(nn::Module& model, const Tensor& x, const std::string& what) {
  Tensor w;
  {
    NoGradGuard ng;
    w = rand64(model.forward(x).shape(), 99, 0.5, 1.5);
  }
  model.zero_grad();
  sum(model.forward(x) * w).backward();
  const double eps = 1e-6;
  for (auto& [name, p] : model.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), what << ": no gradient for " << name);
    auto g = p.grad().to_vector<double>();
    double* d = p.data<double>();
    for (int64_t j = 0; j < p.numel(); ++j) {
      NoGradGuard ng;
      double orig = d[j];
      d[j] = orig + eps;
      double fp = sum(model.forward(x) * w).item();
      d[j] = orig - eps;
      double fm = sum(model.forward(x) * w).item();
      d[j] = orig;
      double num = (fp - fm) / (2 * eps);
      INFO(what << " " << name << "[" << j << "]");
      CHECK(g[j] == doctest::Approx(num).epsilon(1e-5).scale(1.0));
    }
  }
}

struct Net : nn::Module {
  std::shared_ptr<nn::Sequential> enc;
  std::shared_ptr<nn::Linear> head;
  explicit Net(Generator& g) {
    enc = register_module("enc", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(1, 4, 3, g, Conv2dOptions{.padding = {1, 1}}),
        std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Flatten>()}));
    head = register_module("head", std::make_shared<nn::Linear>(4 * 5 * 5, 3, g));
  }
  Tensor forward(const Tensor& x) override { return head->forward(enc->forward(x)); }
  std::string type_name() const override { return "Net"; }
};

std::vector<std::string> names(const nn::NamedTensors& nt) {
  std::vector<std::string> out;
  for (const auto& [n, _] : nt) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("Module: dotted names, buffers, registration errors, train/eval, zero_grad") {
  Generator g(1);
  Net net(g);
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"enc.0.weight", "enc.0.bias", "enc.1.weight", "enc.1.bias",
                                 "head.weight", "head.bias"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{
                                          "enc.1.running_mean", "enc.1.running_var",
                                          "enc.1.num_batches_tracked"});
  CHECK(net.parameters().size() == 6);
  CHECK(net.num_parameters() == 4 * 9 + 4 + 4 + 4 + 3 * 100 + 3);
  for (const auto& p : net.parameters()) CHECK(p.requires_grad());
  CHECK(net.named_parameters()[4].second.is_same(net.head->weight()));
  for (const auto& [_, b] : net.named_buffers()) CHECK_FALSE(b.requires_grad());

  CHECK_THROWS_WITH_AS(net.register_parameter("head", Tensor::zeros(Shape{1})),
                       doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(net.register_buffer("a.b", Tensor::zeros(Shape{1})),
                       doctest::Contains("invalid name"), Error);
  CHECK_THROWS_AS(net.register_parameter("ints", Tensor::zeros(Shape{2}, DType::i64)), Error);
  CHECK_THROWS_WITH_AS(nn::ReLU().forward(Tensor()), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(nn::Module().forward(Tensor::zeros(Shape{1})),
                       doctest::Contains("not implemented"), Error);

  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.enc->is_training());
  CHECK_FALSE((*net.enc)[1]->is_training());
  net.train();
  CHECK((*net.enc)[1]->is_training());

  Tensor x = uniform(Shape{2, 1, 5, 5}, g);
  sum(net(x)).backward();
  for (const auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (const auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
  CHECK(net.str().find("(head): Linear(in=100, out=3, bias)") != std::string::npos);
  CHECK(net.str().find("BatchNorm2d(4") != std::string::npos);
}

TEST_CASE("Module::to(dtype) converts in place, keeping layer handles valid") {
  Generator g(2);
  nn::Linear lin(3, 2, g);
  Tensor w_before = lin.weight();
  auto v32 = lin.weight().to_vector<double>();
  lin.to(DType::f64);
  CHECK(lin.weight().dtype() == DType::f64);
  CHECK(w_before.dtype() == DType::f64);  // same TensorImpl
  CHECK(lin.weight().requires_grad());
  CHECK(lin.weight().to_vector<double>() == v32);
  CHECK(lin.named_parameters()[0].second.dtype() == DType::f64);
  Tensor y = lin(rand64(Shape{4, 3}, 1));
  CHECK(y.dtype() == DType::f64);
  lin.to(kCPU);  // no-op on the same device
  CHECK(lin.device() == kCPU);
  CHECK_THROWS_AS(lin.to(DType::i32), Error);

  nn::BatchNorm2d bn(3);
  bn.to(DType::f64);
  CHECK(bn.running_mean().dtype() == DType::f64);
  CHECK(bn.num_batches_tracked().dtype() == DType::i64);  // integer buffers stay
}

TEST_CASE("Linear / Conv2d / ConvTranspose2d / BatchNorm / shape layers: forward shapes, values") {
  Generator g(3);
  nn::Linear lin(3, 4, g);
  CHECK(lin(Tensor::zeros(Shape{5, 3})).shape() == Shape{5, 4});
  CHECK(lin(Tensor::zeros(Shape{2, 6, 3})).shape() == Shape{2, 6, 4});
  CHECK_THROWS_WITH_AS(lin(Tensor::zeros(Shape{5, 2})), doctest::Contains("Linear(in=3, out=4)"),
                       Error);
  // y = x Wᵀ + b against a scalar loop.
  Tensor x = uniform(Shape{2, 3}, g, -1, 1);
  auto xv = x.to_vector<float>(), wv = lin.weight().to_vector<float>(),
       bv = lin.bias().to_vector<float>(), yv = lin(x).to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int o = 0; o < 4; ++o) {
      double ref = bv[o];
      for (int k = 0; k < 3; ++k) ref += double(xv[i * 3 + k]) * wv[o * 3 + k];
      CHECK(yv[i * 4 + o] == doctest::Approx(ref).epsilon(1e-5));
    }
  nn::Linear nobias(3, 2, g, false);
  CHECK(nobias.named_parameters().size() == 1);
  CHECK_FALSE(nobias.bias().defined());

  nn::Conv2d conv(3, 8, 4, g, Conv2dOptions{.stride = {2, 2}, .padding = {1, 1}});
  CHECK(conv.weight().shape() == Shape{8, 3, 4, 4});
  Tensor img = uniform(Shape{2, 3, 16, 16}, g);
  Tensor h = conv(img);
  CHECK(h.shape() == Shape{2, 8, 8, 8});
  CHECK_THROWS_WITH_AS(conv(Tensor::zeros(Shape{2, 4, 16, 16})), doctest::Contains("Conv2d(3, 8"),
                       Error);
  nn::ConvTranspose2d deconv(8, 3, 4, g, Conv2dOptions{.stride = {2, 2}, .padding = {1, 1}});
  CHECK(deconv.weight().shape() == Shape{8, 3, 4, 4});
  CHECK(deconv(h).shape() == Shape{2, 3, 16, 16});
  nn::ConvTranspose2d up(4, 2, nn::Kernel2d{3, 2}, g);
  CHECK(up(Tensor::zeros(Shape{1, 4, 5, 5})).shape() == Shape{1, 2, 7, 6});

  nn::BatchNorm2d bn(8);
  CHECK(bn(h).shape() == h.shape());
  CHECK(bn.num_batches_tracked().item() == 1);
  nn::BatchNorm1d bn1(5);
  CHECK(bn1(uniform(Shape{6, 5}, g)).shape() == Shape{6, 5});
  CHECK(bn1(uniform(Shape{6, 5, 7}, g)).shape() == Shape{6, 5, 7});
  CHECK_THROWS_AS(bn1(uniform(Shape{6, 4}, g)), Error);
  CHECK_THROWS_AS(bn(uniform(Shape{6, 8}, g)), Error);

  CHECK(nn::Flatten()(h).shape() == Shape{2, 512});
  CHECK(nn::Unflatten(1, {8, -1})(Tensor::zeros(Shape{2, 64})).shape() == Shape{2, 8, 8});
  CHECK(nn::Reshape({8, 8, 8})(nn::Flatten()(h)).shape() == Shape{2, 8, 8, 8});
  Tensor a = Tensor::from_vector<float>({-2, 0.5}, Shape{2});
  CHECK(nn::LeakyReLU(0.2)(a).to_vector<float>() == std::vector<float>{-0.4f, 0.5f});
  CHECK(nn::ReLU()(a).to_vector<float>() == std::vector<float>{0.f, 0.5f});
  CHECK(nn::Sigmoid()(a).to_vector<float>()[1] == doctest::Approx(1 / (1 + std::exp(-0.5))));
  CHECK(nn::Tanh()(a).to_vector<float>()[0] == doctest::Approx(std::tanh(-2.0)));
  CHECK(nn::Softplus()(a).to_vector<float>()[0] == doctest::Approx(std::log1p(std::exp(-2.0))));
}

TEST_CASE("BatchNorm2d: batch statistics in training, running statistics in eval") {
  Generator g(4);
  nn::BatchNorm2d bn(2);
  bn.to(DType::f64);
  Tensor x = rand64(Shape{4, 2, 3, 3}, 5, -1, 3);
  Tensor y = bn(x);
  // Training output is normalised per channel.
  auto ym = mean(y, {0, 2, 3}).to_vector<double>();
  for (double m : ym) CHECK(std::fabs(m) < 1e-12);
  // Running stats moved 10% towards the batch stats (unbiased variance).
  auto bm = mean(x, {0, 2, 3}).to_vector<double>(), bv = var(x, {0, 2, 3}, 1).to_vector<double>();
  auto rm = bn.running_mean().to_vector<double>(), rv = bn.running_var().to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    CHECK(rm[c] == doctest::Approx(0.1 * bm[c]).epsilon(1e-12));
    CHECK(rv[c] == doctest::Approx(0.9 + 0.1 * bv[c]).epsilon(1e-12));
  }
  bn.eval();
  Tensor ye = bn(x);
  CHECK(bn.num_batches_tracked().item() == 1);  // eval does not count
  CHECK(bn.running_mean().to_vector<double>() == rm);
  auto xv = x.to_vector<double>(), yv = ye.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) {
    int c = (i / 9) % 2;
    CHECK(yv[i] == doctest::Approx((xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5)).epsilon(1e-12));
  }
  // Without running statistics, eval still uses batch statistics.
  nn::BatchNorm2d nostats(2, {.track_running_stats = false});
  nostats.to(DType::f64);
  nostats.eval();
  CHECK(nostats.named_buffers().empty());
  CHECK(max_abs_diff(nostats(x), y) < 1e-12);
}

TEST_CASE("init: PyTorch default bounds, kaiming / xavier statistics, determinism") {
  Generator g(6);
  nn::Linear lin(100, 200, g);
  double bound = 1 / std::sqrt(100.0);
  double wmax = max(abs(lin.weight())).item(), bmax = max(abs(lin.bias())).item();
  CHECK(wmax <= bound);
  CHECK(wmax > 0.99 * bound);
  CHECK(bmax <= bound);
  CHECK(bmax > 0.9 * bound);
  Generator g2(6);
  nn::Linear again(100, 200, g2);
  CHECK(max_abs_diff(again.weight(), lin.weight()) == 0);
  Generator g3(7);
  nn::Linear other(100, 200, g3);
  CHECK(max_abs_diff(other.weight(), lin.weight()) > 0);

  // ConvTranspose2d fan_in is size(1) · kh · kw = out · k · k.
  nn::ConvTranspose2d dc(16, 4, 3, g);
  double dcb = 1 / std::sqrt(4.0 * 9.0);
  CHECK(max(abs(dc.weight())).item() <= dcb);
  CHECK(max(abs(dc.weight())).item() > 0.9 * dcb);
  CHECK(max(abs(dc.bias())).item() <= dcb);

  auto [fi, fo] = nn::init::fan_in_and_fan_out(Shape{8, 3, 4, 4});
  CHECK(fi == 48);
  CHECK(fo == 128);
  CHECK_THROWS_AS(nn::init::fan_in_and_fan_out(Shape{5}), Error);
  CHECK(nn::init::calculate_gain(nn::init::Nonlinearity::leaky_relu, std::sqrt(5.0)) ==
        doctest::Approx(std::sqrt(1.0 / 3.0)));

  Tensor w = Tensor::empty(Shape{400, 250}, DType::f64);
  nn::init::kaiming_normal_(w, g, 0.0, nn::init::FanMode::fan_in, nn::init::Nonlinearity::relu);
  double sd = std::sqrt(var(w).item());
  CHECK(sd == doctest::Approx(std::sqrt(2.0 / 250)).epsilon(0.02));
  CHECK(std::fabs(mean(w).item()) < 0.003);
  nn::init::kaiming_uniform_(w, g, 0.0, nn::init::FanMode::fan_out, nn::init::Nonlinearity::relu);
  CHECK(max(abs(w)).item() <= std::sqrt(6.0 / 400));
  CHECK(max(abs(w)).item() > 0.99 * std::sqrt(6.0 / 400));
  nn::init::xavier_uniform_(w, g);
  double xb = std::sqrt(6.0 / 650);
  CHECK(max(abs(w)).item() <= xb);
  CHECK(max(abs(w)).item() > 0.99 * xb);
  nn::init::xavier_normal_(w, g, 2.0);
  CHECK(std::sqrt(var(w).item()) == doctest::Approx(2.0 * std::sqrt(2.0 / 650)).epsilon(0.02));
  nn::init::normal_(w, 1.0, 0.5, g);
  CHECK(mean(w).item() == doctest::Approx(1.0).epsilon(0.01));
  nn::init::zeros_(w);
  CHECK(max(abs(w)).item() == 0);
  nn::init::ones_(lin.weight());  // works on a parameter that requires grad
  CHECK(min(lin.weight()).item() == 1);
  CHECK(lin.weight().is_leaf());
}

TEST_CASE("gradcheck: tiny Sequentials in f64, with respect to input and parameters") {
  Generator g(8);
  nn::Sequential mlp{std::make_shared<nn::Linear>(3, 4, g), std::make_shared<nn::Tanh>(),
                     std::make_shared<nn::Linear>(4, 2, g), std::make_shared<nn::Softplus>()};
  mlp.to(DType::f64);
  Tensor x = rand64(Shape{5, 3}, 11);
  gradcheck([&](const TensorList& in) { return mlp(in[0]); }, {x}, "mlp input");
  check_param_grads(mlp, x, "mlp");

  nn::Sequential cnn{std::make_shared<nn::Conv2d>(2, 3, 3, g, Conv2dOptions{.padding = {1, 1}}),
                     std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::LeakyReLU>(0.1),
                     std::make_shared<nn::ConvTranspose2d>(
                         3, 2, 2, g, Conv2dOptions{.stride = {2, 2}}),
                     std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Flatten>(),
                     std::make_shared<nn::Linear>(2 * 8 * 8, 2, g)};
  cnn.to(DType::f64);
  Tensor img = rand64(Shape{3, 2, 4, 4}, 12);
  gradcheck([&](const TensorList& in) { return cnn(in[0]); }, {img}, "cnn input");
  check_param_grads(cnn, img, "cnn");
}

TEST_CASE("SpatialBroadcast: latents tiled over the grid, then x and y coordinate planes") {
  Tensor z = Tensor::from_vector<float>({0.5f, -2.f, 3.f, 7.f}, Shape{2, 2});
  nn::SpatialBroadcast sb(3, 5);
  Tensor y = sb(z);
  REQUIRE(y.shape() == Shape{2, 4, 3, 5});
  auto v = y.to_vector<float>();
  auto at = [&](int n, int c, int i, int j) { return v[((n * 4 + c) * 3 + i) * 5 + j]; };
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) {
      CHECK(at(0, 0, i, j) == 0.5f);
      CHECK(at(1, 1, i, j) == 7.f);
      for (int n = 0; n < 2; ++n) {
        CHECK(at(n, 2, i, j) == doctest::Approx(-1.0 + 0.5 * j));  // x across the width
        CHECK(at(n, 3, i, j) == doctest::Approx(-1.0 + 1.0 * i));  // y down the height
      }
    }
  CHECK_THROWS_WITH_AS(sb(Tensor::zeros(Shape{2, 2, 1})), doctest::Contains("SpatialBroadcast(3, 5)"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::SpatialBroadcast(0, 4), doctest::Contains("grid 0x4"), Error);
  // Gradient through the broadcast and a convolution after it, in f64: each latent's gradient
  // is the sum over the grid of its plane's gradient.
  Generator g(3);
  nn::Sequential dec{std::make_shared<nn::SpatialBroadcast>(4, 3),
                     std::make_shared<nn::Conv2d>(5, 2, 3, g, Conv2dOptions{.padding = {1, 1}})};
  dec.to(DType::f64);
  gradcheck([&](const TensorList& in) { return dec(in[0]); }, {rand64(Shape{2, 3}, 21)},
            "broadcast decoder input");
  check_param_grads(dec, rand64(Shape{2, 3}, 22), "broadcast decoder");
}
