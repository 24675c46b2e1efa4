#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/anomaly.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::max_abs_diff;

TEST_CASE("backward sums fan-in and accumulates into leaves") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, Shape{3});
  x.set_requires_grad();
  Tensor y = sum(x * x + x * 3.0);  // dy/dx = 2x + 3
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  // A second backward accumulates.
  Tensor z = sum(x * 2.0);
  z.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{7, 9, 11});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  CHECK(tape().size() == 0);  // backward freed the tape
}

TEST_CASE("GradReady announces each watched leaf once, when its gradient is final") {
  // y = sum(w2 · tanh(w1 · x + b1)) + sum(b2 · b2): backward reaches b2 and w2 before w1 and b1;
  // u requires a gradient but the root does not depend on it.
  auto leaf = [](std::vector<double> v) {
    Tensor t = Tensor::from_vector<double>(v, Shape{static_cast<int64_t>(v.size())});
    t.set_requires_grad();
    return t;
  };
  Tensor x = Tensor::from_vector<double>({0.5, -1, 2}, Shape{3});
  Tensor w1 = leaf({1, 2, 3}), b1 = leaf({0.1, 0.2, 0.3}), w2 = leaf({-1, 1, 0.5}),
         b2 = leaf({4, 5}), u = leaf({7});
  Tensor unused = u * 2.0;  // on the tape, but not under the root
  Tensor v = leaf({3});    // consumed by no node: announced before the first node runs
  Tensor h = tanh(w1 * x + b1);
  Tensor y = sum(w2 * h) + sum(b2 * b2) + sum(w1 * 0.0);  // w1 consumed again, late in forward
  // The expected gradients, computed without the hook.
  const TensorList leaves = {w1, b1, w2, b2, u, v};
  TensorList expected = grad({y}, {w1, b1, w2, b2}, {}, true);
  std::vector<size_t> order;
  std::vector<std::vector<double>> seen(leaves.size());
  GradReady hook{leaves, [&](size_t k) {
                   order.push_back(k);
                   // Final when announced: later deliveries would make it differ from expected.
                   if (leaves[k].grad().defined()) seen[k] = leaves[k].grad().to_vector<double>();
                 }};
  tape().backward({y}, {}, false, &hook);
  REQUIRE(order.size() == leaves.size());
  CHECK(order[0] == 5);
  CHECK(std::count(order.begin(), order.end(), 4) == 1);  // u: announced, with no gradient
  CHECK_FALSE(u.grad().defined());
  // Each announced once, holding the whole gradient.
  for (size_t k = 0; k < 4; ++k) {
    CHECK(std::count(order.begin(), order.end(), k) == 1);
    CHECK(seen[k] == expected[k].to_vector<double>());
    CHECK(leaves[k].grad().to_vector<double>() == seen[k]);
  }
  // b2 (consumed by the newest nodes only) becomes final before w1 and b1 (the oldest consumers).
  auto pos = [&](size_t k) { return std::find(order.begin(), order.end(), k) - order.begin(); };
  CHECK(pos(3) < pos(0));
  CHECK(pos(3) < pos(1));
  CHECK(pos(2) < pos(0));
  (void)unused;
}

TEST_CASE("non-scalar backward needs a seed") {
  Tensor x = Tensor::from_vector<double>({1, 2}, Shape{2});
  x.set_requires_grad();
  Tensor y = x * x;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("not a scalar; pass a seed"), Error);
  y.backward(Tensor::from_vector<double>({1, 10}, Shape{2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 40});
}

TEST_CASE("functional grad does not touch .grad and reaches intermediates") {
  Tensor x = Tensor::from_vector<double>({1, 2}, Shape{2});
  x.set_requires_grad();
  Tensor h = exp(x);
  Tensor y = sum(h * h);
  TensorList g = grad({y}, {x, h});
  CHECK_FALSE(x.grad().defined());
  auto gx = g[0].to_vector<double>();
  auto gh = g[1].to_vector<double>();
  CHECK(gx[0] == doctest::Approx(2 * std::exp(2.0)));
  CHECK(gh[1] == doctest::Approx(2 * std::exp(2.0)));
}

TEST_CASE("no-grad guard records nothing") {
  Tensor x = Tensor::ones(Shape{2}, DType::f64);
  x.set_requires_grad();
  {
    NoGradGuard ng;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(tape().size() == 0);
  CHECK(grad_enabled());
}

TEST_CASE("in-place modification of a saved tensor is detected") {
  Tensor x = Tensor::from_vector<double>({1, 2}, Shape{2});
  x.set_requires_grad();
  Tensor e = exp(x);       // saves its output
  Tensor y = sum(e * 1.0);
  {
    NoGradGuard ng;
    add_(e, Tensor::ones(Shape{2}, DType::f64));
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified in-place"), Error);
  tape().clear();
}

TEST_CASE("in-place write to a leaf that requires grad is refused outside no-grad") {
  Tensor x = Tensor::ones(Shape{2}, DType::f64);
  x.set_requires_grad();
  CHECK_THROWS_WITH_AS(mul_(x, 2.0), doctest::Contains("NoGradGuard"), Error);
}

TEST_CASE("using a tensor from a freed graph is a clear error") {
  Tensor x = Tensor::ones(Shape{2}, DType::f64);
  x.set_requires_grad();
  Tensor h = x * 2.0;
  sum(h).backward();
  CHECK_THROWS_WITH_AS(sum(h * 3.0), doctest::Contains("already freed"), Error);
  Tensor ok = sum(h.detach() * 3.0);
  CHECK(ok.item() == 12.0);
}

TEST_CASE("retain_graph allows a second backward; without it the second fails") {
  Tensor x = Tensor::from_vector<double>({3}, Shape{1});
  x.set_requires_grad();
  Tensor y = sum(x * x);
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().item() == 12.0);
  CHECK_THROWS_AS(y.backward(), Error);
}

TEST_CASE("a 100000-node chain runs forward, backward and is destroyed without recursion") {
  Tensor x = Tensor::from_vector<double>({1.0}, Shape{1});
  x.set_requires_grad();
  Tensor h = x;
  for (int i = 0; i < 100000; ++i) h = h * 1.00001;
  CHECK(tape().size() == 100000);
  sum(h).backward();
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.00001, 100000)).epsilon(1e-9));
  // And a graph that is dropped without backward.
  for (int i = 0; i < 100000; ++i) h = x * 2.0 + h.detach();
  tape().clear();
  CHECK(tape().size() == 0);
}

TEST_CASE("backward of a tensor that needs no grad says why") {
  Tensor x = Tensor::ones(Shape{1}, DType::f64);
  CHECK_THROWS_WITH_AS(sum(x).backward(), doctest::Contains("does not require a gradient"), Error);
}

namespace {
// An op whose backward is deliberately wrong (2x too large), to prove gradcheck can fail.
struct WrongSquareBackward final : Node {
  SavedTensor x;
  const char* name() const override { return "wrong_square"; }
  TensorList backward(const TensorList& g) override { return {g[0] * x.get(name()) * 4.0}; }
};
Tensor wrong_square(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard ng;
    y = x * x;
  }
  if (Tape::needs_grad({&x})) record<WrongSquareBackward>({x}, {y})->x = SavedTensor(x);
  return y;
}
}  // namespace

TEST_CASE("gradcheck detects a wrong gradient" * doctest::should_fail()) {
  testing::gradcheck([](const TensorList& in) { return wrong_square(in[0]); },
                     {testing::rand64(Shape{3}, 1)}, "wrong_square");
}

TEST_CASE("a backward returning the wrong shape is reported with the op name") {
  struct BadShape final : Node {
    const char* name() const override { return "bad_shape"; }
    TensorList backward(const TensorList& g) override { return {sum(g[0])}; }
  };
  Tensor x = Tensor::ones(Shape{3}, DType::f64);
  x.set_requires_grad();
  Tensor y;
  {
    NoGradGuard ng;
    y = x * 1.0;
  }
  record<BadShape>({x}, {y});
  CHECK_THROWS_WITH_AS(sum(y).backward(),
                       doctest::Contains("[bad_shape backward] gradient for input 0 is f64[]"), Error);
  tape().clear();
}

TEST_CASE("anomaly mode names the first op whose forward output or gradient is not finite") {
  struct Mode {
    Mode() { set_anomaly_mode(true); }
    ~Mode() { set_anomaly_mode(false); tape().clear(); }
  } mode;
  Tensor x = Tensor::from_vector<double>({1, -2, 3}, Shape{3});
  x.set_requires_grad();
  {
    // log of a negative number: the forward of `log` is the first non-finite value.
    AnomalyScope enc("enc"), layer("3");
    CHECK_THROWS_WITH_AS(log(x * 2.0), doctest::Contains("anomaly: NaN in the forward output of log at enc.3"),
                         Error);
  }
  tape().clear();
  // sqrt at 0 is finite forward; its backward 1/(2 sqrt(0)) is the first Inf.
  Tensor z = Tensor::from_vector<double>({0, 4}, Shape{2});
  z.set_requires_grad();
  Tensor y;
  {
    AnomalyScope s("head");
    y = sum(sqrt(z));
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("anomaly: Inf in the gradient that the backward of sqrt (at head) gives its input 0"),
                       Error);
  tape().clear();
  // Off: nothing is checked (and the same op runs).
  set_anomaly_mode(false);
  Tensor w = log(x * 2.0);
  CHECK(std::isnan(w.to_vector<double>()[1]));
}
