// nn::Sequential's conv → ReLU / LeakyReLU fusion: the fused forward equals running the children
// one by one (values and every parameter's gradient, f32 and f64), parameter names are those of
// the modules as built, and only exact ReLU / LeakyReLU (slope >= 0) after an exact Conv2d /
// ConvTranspose2d are fused. The conv64 architecture's step gives the same loss and gradients.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/sim/sim_backend.h"
#include "models/nn/nn.h"
#include "models/vae.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::max_abs_diff;

namespace {

using MP = std::shared_ptr<nn::Module>;

Conv2dOptions s2p1() {
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  return o;
}

// The children of `seq` one at a time: no fusion.
Tensor forward_unfused(const nn::Sequential& seq, const Tensor& x) {
  Tensor h = x;
  for (const auto& [_, m] : seq.children()) h = m->forward(h);
  return h;
}

double max_abs(const Tensor& t) { return max(abs(to(t.detach(), DType::f64))).item(); }

// A leaky ReLU whose subclass changes the forward: must not be fused away.
class DoubledReLU final : public nn::ReLU {
 public:
  Tensor forward(const Tensor& x) override { return relu(x) * 2.0; }
};

}  // namespace

TEST_CASE("Sequential: conv -> ReLU / LeakyReLU runs fused with unchanged values, grads, names") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Generator g(5);
    nn::Sequential net{std::make_shared<nn::Conv2d>(3, 8, 4, g, s2p1()),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Conv2d>(8, 8, 3, g, Conv2dOptions{}, false),
                       std::make_shared<nn::LeakyReLU>(0.2),
                       std::make_shared<nn::ConvTranspose2d>(8, 4, 4, g, s2p1()),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::ConvTranspose2d>(4, 2, 4, g, s2p1())};
    net.to(dt);
    std::vector<std::string> names;
    for (const auto& [n, _] : net.named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "4.weight",
                                            "4.bias", "6.weight", "6.bias"});
    Generator dg(6);
    Tensor x = to(normal({2, 3, 12, 12}, dg), dt);
    Tensor y_fused = net.forward(x);
    Tensor dy = to(normal(y_fused.shape(), dg), dt);
    TensorList params = net.parameters();
    TensorList g_fused = grad({y_fused}, params, {dy});
    Tensor y_ref = forward_unfused(net, x);
    TensorList g_ref = grad({y_ref}, params, {dy});
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    CHECK(max_abs_diff(y_fused, y_ref) <= tol * (1.0 + max_abs(y_ref)));
    REQUIRE(g_fused.size() == g_ref.size());
    for (size_t i = 0; i < g_ref.size(); ++i) {
      CAPTURE(names[i]);
      CHECK(max_abs(g_ref[i]) > 0.0);
      CHECK(max_abs_diff(g_fused[i], g_ref[i]) <= 10 * tol * (1.0 + max_abs(g_ref[i])));
    }
  }
}

TEST_CASE("Sequential: fusion leaves other pairs alone") {
  Generator g(7);
  Generator dg(8);
  Tensor x = normal({1, 2, 6, 6}, dg);
  // A ReLU subclass with its own forward is run as written.
  nn::Sequential sub{std::make_shared<nn::Conv2d>(2, 3, 3, g), std::make_shared<DoubledReLU>()};
  Tensor v = conv2d(x, std::static_pointer_cast<nn::Conv2d>(sub[0])->weight(),
                    std::static_pointer_cast<nn::Conv2d>(sub[0])->bias());
  CHECK(max_abs_diff(sub.forward(x), relu(v) * 2.0) < 1e-6);
  // A negative LeakyReLU slope cannot be fused (the backward reads the output's sign).
  nn::Sequential neg{std::make_shared<nn::Conv2d>(2, 3, 3, g), std::make_shared<nn::LeakyReLU>(-0.5)};
  Tensor v2 = conv2d(x, std::static_pointer_cast<nn::Conv2d>(neg[0])->weight(),
                     std::static_pointer_cast<nn::Conv2d>(neg[0])->bias());
  CHECK(max_abs_diff(neg.forward(x), leaky_relu(v2, -0.5)) < 1e-6);
}

TEST_CASE("conv64: fused training step equals the unfused one") {
  Generator g(9);
  auto vae = models::make_vae("conv64", 4, g);
  Generator dg(10);
  Tensor x = uniform({2, 1, 64, 64}, dg);
  // The decoder and encoder trunks are Sequentials; run one through both paths.
  std::shared_ptr<nn::Sequential> trunk;
  for (const auto& [name, m] : vae->encoder().children())
    if (name == "trunk") trunk = std::dynamic_pointer_cast<nn::Sequential>(m);
  REQUIRE(trunk != nullptr);
  // One graph at a time: grad() clears the thread's tape.
  TensorList params = trunk->parameters();
  Tensor h_fused = trunk->forward(x);
  TensorList gf = grad({sum(h_fused)}, params);
  Tensor h_ref = forward_unfused(*trunk, x);
  TensorList gr = grad({sum(h_ref)}, params);
  CHECK(max_abs_diff(h_fused, h_ref) <= 1e-5 * (1.0 + max_abs(h_ref)));
  for (size_t i = 0; i < params.size(); ++i)
    CHECK(max_abs_diff(gf[i], gr[i]) <= 1e-4 * (1.0 + max_abs(gr[i])));
}

TEST_CASE("Sequential: consecutive convolutions hand activations over in the chain layout, "
          "with the strided chain's values and gradients bit for bit") {
  // The layers' outputs between convolutions are in the backend's conv_chain_layout (blocked on
  // the CPU for 16 and 32 channels on AVX2 and AVX-512 alike); the result and every gradient
  // must equal the same fused ops run with strided hand-overs exactly: the same primitives run,
  // only where the reorders happen differs.
  for (Device dev : {kCPU, sim_device(0)}) {
    CAPTURE(dev.str());
    REQUIRE(!conv_chain_layout(dev, 16, DType::f32).is_strided());
    CHECK(conv_chain_layout(dev, 16, DType::f64).is_strided());
    CHECK(conv_chain_layout(dev, 3, DType::f32).is_strided());
    Generator g(11);
    nn::Sequential net{std::make_shared<nn::Conv2d>(1, 16, 4, g, s2p1()),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Conv2d>(16, 32, 4, g, s2p1()),
                       std::make_shared<nn::LeakyReLU>(0.1),
                       std::make_shared<nn::Conv2d>(32, 32, 3, g, Conv2dOptions{}, false),
                       std::make_shared<nn::ConvTranspose2d>(32, 16, 4, g, s2p1()),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::ConvTranspose2d>(16, 16, 4, g, s2p1(), false),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::ConvTranspose2d>(16, 1, 4, g, s2p1())};
    net.to(dev);
    Generator dg(12);
    Tensor x = to(uniform({4, 1, 32, 32}, dg), dev);
    TensorList params = net.parameters();
    Tensor y = net.forward(x);
    CHECK(y.is_strided());
    Tensor dy = to(normal(y.shape(), dg), dev);
    TensorList gy = grad({y}, params, {dy});
    // The reference: the same fused ops, every output strided.
    auto p = [&](size_t i) { return params[i]; };
    const Conv2dOptions o = s2p1();
    Tensor h = conv2d_relu(x, p(0), p(1), o);
    h = conv2d_relu(h, p(2), p(3), o, 0.1);
    h = conv2d(h, p(4), Tensor(), Conv2dOptions{});
    h = conv_transpose2d_relu(h, p(5), p(6), o);
    h = conv_transpose2d_relu(h, p(7), Tensor(), o);
    Tensor r = conv_transpose2d(h, p(8), p(9), o);
    TensorList gr = grad({r}, params, {dy});
    CHECK(y.to_vector<float>() == r.to_vector<float>());
    REQUIRE(gy.size() == gr.size());
    for (size_t i = 0; i < gr.size(); ++i) {
      CAPTURE(i);
      CHECK(gy[i].is_strided());
      CHECK(max_abs(gr[i]) > 0.0);
      CHECK(gy[i].to_vector<float>() == gr[i].to_vector<float>());
    }
  }
}
