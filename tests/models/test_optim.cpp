// Optimisers against hand-computed updates (SGD momentum/Nesterov/weight decay, Adam with bias
// correction, AMSGrad, AdamW), the ops fallback against the fused loop, exact resume through
// state_dict, gradient clipping, learning-rate schedules, and the by-name registry.
#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>

#include "models/optim/optim.h"
#include "models/optim/registry.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using namespace unravel::optim;
using testing::max_abs_diff;

namespace {

Tensor param(const std::vector<double>& v) {
  Tensor p = Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())});
  p.set_requires_grad(true);
  return p;
}
void set_grad(Tensor p, const std::vector<double>& g) {
  p.set_grad(Tensor::from_vector(g, p.shape()));
}
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

// Reference Adam in the textbook form (m̂ / (sqrt(v̂) + ε)), independent of the implementation.
struct RefAdam {
  RefAdam(double lr_, double b1_, double b2_, double eps_, double wd_, bool amsgrad_,
          bool decoupled_)
      : lr(lr_), b1(b1_), b2(b2_), eps(eps_), wd(wd_), amsgrad(amsgrad_), decoupled(decoupled_) {}
  double lr, b1, b2, eps, wd;
  bool amsgrad, decoupled;
  std::vector<double> m, v, vmax;
  int t = 0;
  void step(std::vector<double>& p, const std::vector<double>& g) {
    if (m.empty()) m = v = vmax = std::vector<double>(p.size(), 0.0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      double gi = g[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else gi += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      vmax[i] = std::max(vmax[i], v[i]);
      double mhat = m[i] / (1 - std::pow(b1, t));
      double vhat = (amsgrad ? vmax[i] : v[i]) / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

void check_close(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-12) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(tol));
}

}  // namespace

TEST_CASE("SGD: plain, momentum (two steps), Nesterov and weight decay by hand") {
  Tensor p = param({1.0, -2.0});
  SGD plain({p}, {.lr = 0.1});
  set_grad(p, {0.5, 1.0});
  plain.step();
  check_close(vals(p), {0.95, -2.1});

  Tensor q = param({1.0, -2.0});
  SGD mom({q}, {.lr = 0.1, .momentum = 0.9});
  set_grad(q, {0.5, 1.0});
  mom.step();  // buf = g
  check_close(vals(q), {0.95, -2.1});
  set_grad(q, {0.5, 1.0});
  mom.step();  // buf = 0.9 g + g = 1.9 g
  check_close(vals(q), {0.855, -2.29});
  CHECK(mom.step_count() == 2);
  check_close(vals(mom.state_dict().tensors.at("0.momentum_buffer")), {0.95, 1.9});

  // Nesterov + weight decay + a changing gradient: d1 = g1 + wd p0, b1 = d1, p1 = p0 - lr (d1 +
  // mu b1); d2 = g2 + wd p1, b2 = mu b1 + d2, p2 = p1 - lr (d2 + mu b2).
  double lr = 0.05, mu = 0.8, wd = 0.1, p0 = 2.0, g1 = 0.3, g2 = -0.7;
  Tensor r = param({p0});
  SGD nes({r}, {.lr = lr, .momentum = mu, .weight_decay = wd, .nesterov = true});
  set_grad(r, {g1});
  nes.step();
  double d1 = g1 + wd * p0, b1 = d1, p1 = p0 - lr * (d1 + mu * b1);
  check_close(vals(r), {p1});
  set_grad(r, {g2});
  nes.step();
  double d2 = g2 + wd * p1, b2 = mu * b1 + d2, p2 = p1 - lr * (d2 + mu * b2);
  check_close(vals(r), {p2});

  // Dampening applies from the second step on.
  Tensor s = param({0.0});
  SGD damp({s}, {.lr = 1.0, .momentum = 0.5, .dampening = 0.5});
  set_grad(s, {1.0});
  damp.step();
  set_grad(s, {1.0});
  damp.step();
  check_close(vals(s), {-1.0 - (0.5 * 1.0 + 0.5 * 1.0)});

  CHECK_THROWS_AS(SGD({param({1})}, {.lr = 0.1, .nesterov = true}), Error);
  CHECK_THROWS_AS(SGD({Tensor::zeros(Shape{2})}, {}), Error);  // not requiring grad
}

TEST_CASE("Adam: one and two steps with bias correction, AMSGrad, AdamW") {
  // One step: m̂ = g, v̂ = g², so p1 = p0 - lr g / (|g| + eps).
  Tensor p = param({1.0, -1.0});
  Adam adam({p}, {.lr = 0.1});
  set_grad(p, {0.5, -2.0});
  adam.step();
  CHECK(vals(p)[0] == doctest::Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(vals(p)[0] == doctest::Approx(0.900000002).epsilon(1e-12));
  CHECK(vals(p)[1] == doctest::Approx(-1.0 + 0.1 * 2.0 / (2.0 + 1e-8)).epsilon(1e-14));
  // Two steps: m = 0.1 g1 → 0.09 g1 + 0.1 g2, v = 0.001 g1² → 0.000999 g1² + 0.001 g2².
  set_grad(p, {-1.0, 3.0});
  adam.step();
  for (int i = 0; i < 2; ++i) {
    double g1 = i ? -2.0 : 0.5, g2 = i ? 3.0 : -1.0;
    double p1 = (i ? -1.0 : 1.0) - 0.1 * g1 / (std::fabs(g1) + 1e-8);
    double m = 0.09 * g1 + 0.1 * g2, v = 0.000999 * g1 * g1 + 0.001 * g2 * g2;
    double mhat = m / (1 - 0.81), vhat = v / (1 - 0.998001);
    CHECK(vals(p)[i] == doctest::Approx(p1 - 0.1 * mhat / (std::sqrt(vhat) + 1e-8)).epsilon(1e-12));
  }

  // A longer run with L2 decay against the textbook reference.
  Tensor q = param({0.3, -0.2, 1.5});
  Adam l2({q}, {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.05});
  RefAdam ref{0.01, 0.8, 0.99, 1e-6, 0.05, false, false};
  std::vector<double> pr = vals(q);
  for (int k = 0; k < 5; ++k) {
    std::vector<double> g = {std::sin(k + 1.0), std::cos(2.0 * k), 0.1 * k - 0.2};
    set_grad(q, g);
    l2.step();
    ref.step(pr, g);
  }
  check_close(vals(q), pr);

  // beta1 <= 0.5 takes the other branch of PyTorch's lerp; AMSGrad + L2 together.
  Tensor r = param({0.3, -0.2, 1.5});
  Adam low({r}, {.lr = 0.02, .beta1 = 0.3, .beta2 = 0.9, .weight_decay = 0.1, .amsgrad = true});
  RefAdam ref2{0.02, 0.3, 0.9, 1e-8, 0.1, true, false};
  std::vector<double> pr2 = vals(r);
  for (int k = 0; k < 5; ++k) {
    std::vector<double> g = {std::cos(k + 1.0), 2.0 / (k + 1), -0.5};
    set_grad(r, g);
    low.step();
    ref2.step(pr2, g);
  }
  check_close(vals(r), pr2);
}

TEST_CASE("AMSGrad keeps the running maximum of v and uses it") {
  Tensor p = param({0.0});
  Adam ams({p}, {.lr = 0.1, .amsgrad = true});
  RefAdam ref{0.1, 0.9, 0.999, 1e-8, 0.0, true, false};
  std::vector<double> pr = {0.0};
  set_grad(p, {10.0});
  ams.step();
  ref.step(pr, {10.0});
  set_grad(p, {0.1});
  ams.step();
  ref.step(pr, {0.1});
  auto st = ams.state_dict();
  // v1 = 0.001·100 = 0.1; v2 = 0.999·0.1 + 0.001·0.01 = 0.09991 < v1, so the max stays 0.1.
  CHECK(vals(st.tensors.at("0.exp_avg_sq"))[0] == doctest::Approx(0.09991).epsilon(1e-12));
  CHECK(vals(st.tensors.at("0.max_exp_avg_sq"))[0] == doctest::Approx(0.1).epsilon(1e-12));
  check_close(vals(p), pr);
  // Plain Adam takes a different second step.
  Tensor q = param({0.0});
  Adam plain({q}, {.lr = 0.1});
  set_grad(q, {10.0});
  plain.step();
  set_grad(q, {0.1});
  plain.step();
  CHECK(std::fabs(vals(q)[0] - vals(p)[0]) > 1e-6);
}

TEST_CASE("AdamW: decoupled weight decay") {
  // Zero gradient: m = v = 0, so the only change is p·(1 - lr·wd).
  Tensor p = param({2.0, -4.0});
  AdamW adamw({p}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(p, {0.0, 0.0});
  adamw.step();
  check_close(vals(p), {2.0 * 0.95, -4.0 * 0.95}, 1e-15);
  CHECK(adamw.type_name() == "AdamW");
  // With gradients: matches the reference, and differs from Adam's L2 decay.
  Tensor q = param({1.0, 2.0}), r = param({1.0, 2.0});
  AdamW w({q}, {.lr = 0.05, .weight_decay = 0.2});
  Adam l2({r}, {.lr = 0.05, .weight_decay = 0.2});
  RefAdam ref{0.05, 0.9, 0.999, 1e-8, 0.2, false, true};
  std::vector<double> pr = {1.0, 2.0};
  for (int k = 0; k < 3; ++k) {
    std::vector<double> g = {0.5 - k, 0.25 * k};
    set_grad(q, g);
    set_grad(r, g);
    w.step();
    l2.step();
    ref.step(pr, g);
  }
  check_close(vals(q), pr);
  CHECK(max_abs_diff(q, r) > 1e-4);
}

TEST_CASE("a strided (non-contiguous) parameter updates like a dense one; f32 matches f64") {
  Generator gen(5);
  Tensor base = normal(Shape{3, 4}, gen, 0, 1, DType::f64);
  auto run = [&](bool strided, DType dt, auto make) {
    Tensor p;
    if (strided) {
      p = contiguous(transpose(to(base, dt), 0, 1));  // dense (4, 3) …
      p = transpose(p, 0, 1).detach();               // … viewed as a strided (3, 4)
      REQUIRE_FALSE(p.is_contiguous());
    } else {
      p = clone(to(base, dt)).detach();
    }
    p.set_requires_grad(true);
    auto opt = make(TensorList{p});
    Generator gg(9);
    for (int k = 0; k < 4; ++k) {
      p.set_grad(to(normal(Shape{3, 4}, gg, 0, 1, DType::f64), dt));
      opt->step();
    }
    return p;
  };
  auto sgd = [](TensorList ps) {
    return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01,
                                                .nesterov = true});
  };
  auto ams = [](TensorList ps) {
    return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  };
  auto adamw = [](TensorList ps) {
    return std::make_unique<AdamW>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1});
  };
  CHECK(max_abs_diff(run(false, DType::f64, sgd), run(true, DType::f64, sgd)) < 1e-14);
  CHECK(max_abs_diff(run(false, DType::f64, ams), run(true, DType::f64, ams)) < 1e-14);
  CHECK(max_abs_diff(run(false, DType::f64, adamw), run(true, DType::f64, adamw)) < 1e-14);
  CHECK(max_abs_diff(run(false, DType::f32, ams), run(false, DType::f64, ams)) < 1e-5);
  CHECK(max_abs_diff(run(false, DType::f32, sgd), run(true, DType::f32, sgd)) < 1e-6);
}

TEST_CASE("state_dict / load_state_dict resume exactly; parameters without grad are skipped") {
  Tensor a = param({1.0, 2.0}), b = param({-1.0});
  Adam opt({a, b}, {.lr = 0.1, .amsgrad = true});
  for (int k = 0; k < 3; ++k) {
    set_grad(a, {0.1 * k, -0.3});
    if (k != 1) set_grad(b, {0.2});
    else b.zero_grad();  // b has no gradient on step 1: skipped, its step count stays
    opt.step();
  }
  OptimizerState st = opt.state_dict();
  CHECK(st.step == 3);
  CHECK(st.tensors.at("param_steps").to_vector<int64_t>() == std::vector<int64_t>{3, 2});
  CHECK(st.tensors.size() == 7);

  Tensor a2 = param(vals(a)), b2 = param(vals(b));
  Adam resumed({a2, b2}, {.lr = 0.5, .amsgrad = true});
  resumed.load_state_dict(st);
  CHECK(resumed.lr() == 0.1);
  CHECK(resumed.step_count() == 3);
  for (int k = 0; k < 2; ++k) {
    for (auto [p, q] : {std::pair{a, a2}, std::pair{b, b2}}) {
      set_grad(p, std::vector<double>(p.numel(), 0.7 - k));
      set_grad(q, std::vector<double>(q.numel(), 0.7 - k));
    }
    opt.step();
    resumed.step();
  }
  CHECK(vals(a) == vals(a2));
  CHECK(vals(b) == vals(b2));

  // The snapshot is a copy: later steps do not change it.
  CHECK(vals(st.tensors.at("0.exp_avg")) != vals(opt.state_dict().tensors.at("0.exp_avg")));

  // Mismatches are refused with the offending name.
  Adam plain({param({1.0, 2.0}), param({-1.0})}, {.lr = 0.1});
  CHECK_THROWS_WITH_AS(plain.load_state_dict(st), doctest::Contains("max_exp_avg_sq"), Error);
  Adam shape({param({1.0}), param({-1.0})}, {.lr = 0.1, .amsgrad = true});
  CHECK_THROWS_WITH_AS(shape.load_state_dict(st), doctest::Contains("0.exp_avg"), Error);
  OptimizerState missing = st;
  missing.tensors.erase("1.exp_avg");
  CHECK_THROWS_WITH_AS(resumed.load_state_dict(missing), doctest::Contains("missing"), Error);
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_") {
  Tensor a = param({0, 0}), b = param({0}), c = param({5});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});
  double total = clip_grad_norm_({a, b, c}, 1.3).item();  // c has no grad: skipped
  CHECK(total == doctest::Approx(13.0).epsilon(1e-15));
  double coef = 1.3 / (13.0 + 1e-6);
  check_close(vals(a.grad()), {3 * coef, 4 * coef});
  check_close(vals(b.grad()), {12 * coef});
  // Below the limit: unchanged, norm returned.
  CHECK(clip_grad_norm_({a, b}, 100.0).item() == doctest::Approx(1.3).epsilon(1e-6));
  check_close(vals(a.grad()), {3 * coef, 4 * coef});
  // Other norms.
  set_grad(a, {3.0, -4.0});
  set_grad(b, {1.0});
  CHECK(clip_grad_norm_({a, b}, 100.0, 1.0).item() == doctest::Approx(8.0));
  CHECK(clip_grad_norm_({a, b}, 2.0, kInfNorm).item() == doctest::Approx(4.0));
  check_close(vals(a.grad()), {3 * 2 / (4 + 1e-6), -4 * 2 / (4 + 1e-6)});
  // No gradients at all: zero, no error.
  CHECK(clip_grad_norm_({c}, 1.0).item() == 0.0);
  CHECK(clip_grad_norm_({}, 1.0).item() == 0.0);
  // f32 non-contiguous gradient goes through ops.
  Tensor m = Tensor::zeros(Shape{2, 2});
  m.set_requires_grad(true);
  m.set_grad(Tensor::from_vector<float>({3, 0, 0, 4}, Shape{2, 2}));
  CHECK(clip_grad_norm_({m}, 10.0).item() == doctest::Approx(5.0));

  set_grad(a, {0.5, -3.0});
  set_grad(b, {2.0});
  clip_grad_value_({a, b, c}, 1.0);
  CHECK(vals(a.grad()) == std::vector<double>{0.5, -1.0});
  CHECK(vals(b.grad()) == std::vector<double>{1.0});
  CHECK_THROWS_AS(clip_grad_value_({a}, -1.0), Error);
}

TEST_CASE("learning-rate schedules by name: each equals its class, warm-up in front, bad names and "
          "parameters refused naming the valid ones") {
  using optim::make_lr_schedule;
  const auto c = make_lr_schedule("constant", 0.3);
  CHECK(c->lr(0) == 0.3);
  CHECK(c->lr(12345) == 0.3);
  const auto cs = make_lr_schedule("cosine", 1.0, {{"total", 100}, {"min", 0.1}});
  const CosineLr cos(1.0, 100, 0.1);
  for (int64_t t : {0, 1, 25, 50, 99, 100, 1000}) CHECK(cs->lr(t) == cos.lr(t));
  const auto st = make_lr_schedule("step", 2.0, {{"step_size", 10}, {"gamma", 0.5}});
  CHECK(st->lr(9) == 2.0);
  CHECK(st->lr(10) == 1.0);
  CHECK(make_lr_schedule("step", 2.0, {{"step_size", 10}})->lr(10) == doctest::Approx(0.2));
  CHECK(make_lr_schedule("exponential", 2.0, {{"gamma", 0.9}})->lr(3) == doctest::Approx(2.0 * 0.729));
  const auto w = make_lr_schedule("cosine", 1.0, {{"total", 100}, {"warmup", 4}});
  CHECK(w->lr(0) == doctest::Approx(0.25));
  CHECK(w->lr(54) == doctest::Approx(0.5));
  CHECK(make_lr_schedule("constant", 1.0, {{"warmup", 2}})->lr(0) == doctest::Approx(0.5));
  CHECK(names_of(optim::lr_schedule_entries()) ==
        std::vector<std::string>{"constant", "cosine", "step", "exponential"});
  CHECK_THROWS_WITH_AS(make_lr_schedule("linear", 1.0), doctest::Contains("valid: constant, cosine, step, exponential"), Error);
  CHECK_THROWS_WITH_AS(make_lr_schedule("cosine", 1.0), doctest::Contains("needs total > 0"), Error);
  CHECK_THROWS_WITH_AS(make_lr_schedule("cosine", 1.0, {{"total", 10}, {"mni", 0}}),
                       doctest::Contains("unknown parameter 'mni'"), Error);
  CHECK_THROWS_WITH_AS(make_lr_schedule("constant", 1.0, {{"gamma", 0.5}}),
                       doctest::Contains("unknown parameter 'gamma' (valid: warmup)"), Error);
  CHECK_THROWS_WITH_AS(make_lr_schedule("exponential", 1.0), doctest::Contains("missing required parameter 'gamma'"), Error);
  CHECK_THROWS_WITH_AS(make_lr_schedule("step", 1.0, {{"step_size", 1.5}}), doctest::Contains("whole number"), Error);
  CHECK_THROWS_AS(make_lr_schedule("cosine", 1.0, {{"total", 10}, {"min", 2.0}}), Error);  // min > lr
}

TEST_CASE("learning-rate schedules") {
  CHECK(ConstantLr(0.1).lr(1000) == 0.1);
  StepLr step(1.0, 10, 0.5);
  CHECK(step.lr(0) == 1.0);
  CHECK(step.lr(9) == 1.0);
  CHECK(step.lr(10) == 0.5);
  CHECK(step.lr(25) == 0.25);
  ExponentialLr ex(2.0, 0.9);
  CHECK(ex.lr(3) == doctest::Approx(2.0 * 0.729));
  CosineLr cos(1.0, 100, 0.1);
  CHECK(cos.lr(0) == doctest::Approx(1.0));
  CHECK(cos.lr(50) == doctest::Approx(0.55));
  CHECK(cos.lr(100) == doctest::Approx(0.1));
  CHECK(cos.lr(500) == doctest::Approx(0.1));
  CHECK(cos.lr(25) == doctest::Approx(0.1 + 0.9 * (1 + std::cos(M_PI / 4)) / 2));
  WarmupLr warm(std::make_shared<CosineLr>(1.0, 100), 4);
  CHECK(warm.lr(0) == doctest::Approx(0.25));
  CHECK(warm.lr(3) == doctest::Approx(1.0));
  CHECK(warm.lr(4) == doctest::Approx(1.0));
  CHECK(warm.lr(54) == doctest::Approx(0.5));
  CHECK(warm.describe().find("cosine") != std::string::npos);
  CHECK_THROWS_AS(StepLr(1.0, 0), Error);
  CHECK_THROWS_AS(step.lr(-1), Error);

  // Driving an optimiser.
  Tensor p = param({1.0});
  SGD sgd({p}, {.lr = 0.0});
  for (int k = 0; k < 3; ++k) {
    sgd.set_lr(step.lr(sgd.step_count()));
    set_grad(p, {1.0});
    sgd.step();
  }
  check_close(vals(p), {-2.0});
}

TEST_CASE("optimizer registry: every name builds its optimiser with the documented settings") {
  // Three steps of each registered optimiser against an independent reference.
  const OptimizerOptions o{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.95};
  const std::vector<std::vector<double>> grads = {{0.5, -2.0, 0.1}, {-1.0, 3.0, 0.1}, {0.2, 0.2, -4}};
  const std::vector<double> p0 = {0.3, -0.2, 1.5};
  auto adam_like = [&](double wd, bool amsgrad, bool decoupled) {
    RefAdam ref{o.lr, o.beta1, o.beta2, 1e-8, wd, amsgrad, decoupled};
    std::vector<double> p = p0;
    for (const auto& g : grads) ref.step(p, g);
    return p;
  };
  std::map<std::string, std::pair<std::string, std::vector<double>>> expected;  // type, params
  expected["adam"] = {"Adam", adam_like(0.0, false, false)};
  expected["amsgrad"] = {"Adam", adam_like(0.0, true, false)};
  expected["adamw"] = {"AdamW", adam_like(0.01, false, true)};
  {
    std::vector<double> p = p0, b(3, 0.0);  // momentum 0.9, no dampening; betas unused
    for (size_t t = 0; t < grads.size(); ++t)
      for (size_t i = 0; i < 3; ++i) {
        b[i] = t == 0 ? grads[t][i] : 0.9 * b[i] + grads[t][i];
        p[i] -= o.lr * b[i];
      }
    expected["sgd"] = {"SGD", p};
  }
  CHECK(optimizer_entries().size() == expected.size());
  for (const auto& e : optimizer_entries()) {
    INFO("optimizer: ", e.name);
    REQUIRE(expected.count(e.name) == 1);  // a new optimiser needs a reference here
    CHECK(e.meaning.size() > 12);
    Tensor p = param(p0);
    auto opt = make_optimizer(e.name, {p}, o);
    CHECK(opt->type_name() == expected[e.name].first);
    for (const auto& g : grads) {
      set_grad(p, g);
      opt->step();
    }
    check_close(vals(p), expected[e.name].second, 1e-10);
  }
  const std::string list = "adam, amsgrad, adamw, sgd";
  CHECK(fmt::format("{}", fmt::join(names_of(optimizer_entries()), ", ")) == list);
  const std::string msg = "unknown optimizer 'adagrad' (valid: " + list + ")";
  CHECK_THROWS_WITH_AS(make_optimizer("adagrad", {param({1.0})}), doctest::Contains(msg.c_str()),
                       Error);
}
