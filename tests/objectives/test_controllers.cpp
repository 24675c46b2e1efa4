// Controllers driven by simulated KL signals: ControlVAE's PI controller against its reference
// recursion and tracking a set-point on a toy plant KL = f(β), anti-windup, the stepped
// set-point, the adaptive capacity rule (holds C while β rises, reaches C_max at t_max
// otherwise), linear capacity, KL annealing, state round trips and the registry.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/check.h"
#include "objectives/controllers/pi_controllers.h"
#include "objectives/controllers/schedules.h"
#include "objectives/registry.h"

using namespace unravel;

namespace {
double v(const Tensor& t) { return t.item(); }

/// PiBetaRule on its own running values (I = 0, previous β = 1), as a controller holds them.
struct Pi {
  PiBetaRule rule{0.01, -0.001, 1.0};
  Pi() { rule.bind(Tensor::scalar(0.0, DType::f64), Tensor::scalar(1.0, DType::f64)); }
  double step(double c, double kl) {
    return v(rule.step(Tensor::scalar(c, DType::f64), Tensor::scalar(kl, DType::f32)));
  }
  double integral() const { return v(rule.integral()); }
  double prev_unclamped_beta() const { return v(rule.prev_unclamped()); }
};

/// The controller's update as step t (its device step counter set to t − 1 first).
Schedule at(Controller& c, int64_t t, double kl) {
  ControllerState s = c.state();
  s["step"] = static_cast<double>(t - 1);
  c.load_state(s);
  return c.update(Tensor::scalar(kl, DType::f32));
}
}  // namespace

TEST_CASE("PI controller: the reference recursion step by step") {
  // P_PID.py written out: e = C − KL; P = Kp/(1+exp(e)) + 1; I += Ki·e unless W_prev < 1.
  Pi pi;
  double i_ref = 0, w_prev = 1;
  const double kls[] = {30, 25, 19, 10, 5, 4, 3, 20, 40};
  for (double kl : kls) {
    double e = 18 - kl, p = 0.01 / (1 + std::exp(e)) + 1;
    double i = w_prev < 1 ? i_ref : i_ref + -0.001 * e;
    double w = p + i;
    w_prev = w;
    i_ref = i;
    CHECK(pi.step(18, kl) == doctest::Approx(std::max(w, 1.0)).epsilon(1e-14));
    CHECK(pi.prev_unclamped_beta() == doctest::Approx(w).epsilon(1e-14));
    CHECK(pi.integral() == doctest::Approx(i_ref).epsilon(1e-14));
  }
}

TEST_CASE("PI controller tracks a KL set-point on a toy plant KL = f(β)") {
  // Plant: the KL a model settles to under weight β, with first-order lag.
  auto target = [](double beta) { return 40.0 / beta; };
  ControlVaePiController c(/*c_start=*/10.0, /*c_max=*/10.0, 0.0, 1000000, 0.01, -0.001, 1.0);
  double kl = 40.0;
  Schedule s;
  for (int64_t t = 1; t <= 20000; ++t) {
    s = c.update(Tensor::scalar(kl, DType::f32));
    kl += 0.05 * (target(v(s.beta)) - kl);
  }
  CHECK(kl == doctest::Approx(10.0).epsilon(0.02));
  CHECK(v(s.beta) == doctest::Approx(4.0).epsilon(0.03));
  CHECK(c.state().at("step") == 20000);
}

TEST_CASE("PI controller: anti-windup freezes the integrator while the output saturates") {
  // KL slightly below the set-point (e = 0.5 > 0, Ki < 0): I falls by 0.0005 a step until the
  // unclamped β drops below 1, then freezes there; β is clamped at β_min = 1.
  Pi pi;
  for (int t = 0; t < 50; ++t) pi.step(20, 19.5);
  const double frozen = pi.integral();
  for (int t = 0; t < 1000; ++t) CHECK(pi.step(20, 19.5) == 1.0);
  CHECK(pi.integral() == frozen);  // without anti-windup: −0.0005·1050 ≈ −0.5
  CHECK(frozen > -0.005);
  CHECK(pi.prev_unclamped_beta() < 1.0);
  // Once KL exceeds the set-point, P → 1 + Kp lifts β above 1 at once and I integrates again.
  CHECK(pi.step(20, 60) > 1.0);
  const double i0 = pi.integral();
  pi.step(20, 60);
  CHECK(pi.integral() == doctest::Approx(i0 + 0.04));
  // As in the reference, an integrator frozen below −Kp can never recover: P ∈ (1, 1 + Kp), so
  // the unclamped β stays < 1 and β stays at β_min whatever the KL does.
  Pi stuck;
  stuck.step(20, 0);  // e = 20: I = −0.02 in one step, β unclamped ≈ 0.98
  for (int t = 0; t < 100; ++t) CHECK(stuck.step(20, 1000) == 1.0);
  CHECK(stuck.integral() == doctest::Approx(-0.02));
}

TEST_CASE("ControlVAE stepped set-point and state round trip") {
  ControlVaePiController c;  // C 0.5, +0.15 every 5000, cap 18
  Schedule s = at(c, 4999, 1.0);
  CHECK(v(s.capacity) == doctest::Approx(0.5));
  s = c.update(Tensor::scalar(1.0));  // step 5000
  CHECK(v(s.capacity) == doctest::Approx(0.65));
  s = at(c, 15000, 17.0);
  CHECK(v(s.capacity) == doctest::Approx(0.8));
  s = at(c, 600000, 17.0);  // the cap
  CHECK(v(s.capacity) == doctest::Approx(0.95));
  for (int k = 0; k < 200; ++k) s = at(c, 5000 * (k + 4), 17.0);
  CHECK(v(s.capacity) == doctest::Approx(18.0));
  ControllerState st = c.state();
  CHECK(st.count("I") == 1);
  CHECK(st.count("beta_unclamped") == 1);
  ControlVaePiController c2;
  c2.load_state(st);
  for (int64_t t = 1; t <= 10; ++t) {
    Tensor kl = Tensor::scalar(12.0);
    CHECK(v(c2.update(kl).beta) == v(c.update(kl).beta));
  }
  CHECK_THROWS_WITH_AS(c2.load_state({{"C", 1}}), doctest::Contains("state has no 'step'"), Error);
}

TEST_CASE("adaptive capacity: holds C while beta rises, reaches C_max at t_max otherwise") {
  // KL always above the set-point (e < 0): the integrator keeps raising β, so C never moves.
  AdaptiveCapacityController a(0.5, 16.0, 1000.0);
  for (int64_t t = 1; t <= 500; ++t) {
    Schedule s = a.update(Tensor::scalar(100.0));
    CHECK(v(s.capacity) == 0.5);
  }
  // KL far below the set-point: after the first step (where β moves from its initial 1 to
  // 1.003), β is pinned at β_min and never rises, so C climbs by (C_max − C)/(t_max − (t−1)) each
  // step: linearly, reaching C_max exactly at t_max.
  AdaptiveCapacityController b(0.5, 16.0, 1000.0);
  double prev_beta = 1.0, c_prev = 0.5;
  int held = 0;
  for (int64_t t = 1; t <= 1000; ++t) {
    Schedule s = b.update(Tensor::scalar(0.0));
    CHECK(v(s.capacity) == doctest::Approx(c_prev));  // the set-point used was C(t−1)
    const double c_now = b.state().at("C");
    if (v(s.beta) > prev_beta) {
      CHECK(c_now == c_prev);
      ++held;
    } else {
      CHECK(c_now == doctest::Approx(c_prev + (16.0 - c_prev) / (1000.0 - (t - 1))));
    }
    prev_beta = v(s.beta);
    c_prev = c_now;
    if (t == 500) CHECK(c_now == doctest::Approx(0.5 + 15.5 * 499 / 999.0).epsilon(1e-3));
  }
  CHECK(held == 1);
  CHECK(c_prev == doctest::Approx(16.0));
  CHECK(v(b.update(Tensor::scalar(0.0)).capacity) == doctest::Approx(16.0));
  CHECK(v(at(b, 1500, 0.0).capacity) == doctest::Approx(16.0));
}

TEST_CASE("linear capacity and KL annealing schedules") {
  LinearCapacityController lc(25, 100000);
  CHECK(v(at(lc, 1, 0).capacity) == doctest::Approx(25.0 / 100000));
  CHECK(v(at(lc, 50000, 0).capacity) == doctest::Approx(12.5));
  CHECK(v(at(lc, 200000, 0).capacity) == 25.0);
  CHECK(v(at(lc, 200000, 0).beta) == 1.0);
  // Cyclical: 4 cycles of 100 steps, ramp over the first half of each.
  KlAnnealController cyc(false, 400, 4, 0.5);
  CHECK(v(at(cyc, 1, 0).beta) == 0.0);
  CHECK(v(at(cyc, 26, 0).beta) == doctest::Approx(0.5));
  CHECK(v(at(cyc, 51, 0).beta) == doctest::Approx(1.0));
  CHECK(v(at(cyc, 100, 0).beta) == 1.0);
  CHECK(v(at(cyc, 101, 0).beta) == 0.0);  // restart
  CHECK(v(at(cyc, 126, 0).beta) == doctest::Approx(0.5));
  // The device rule equals the host formula at every step, restarts of a non-integer period
  // included (400 / 3 steps per cycle).
  KlAnnealController odd(false, 400, 3, 0.4);
  for (int64_t t = 1; t <= 400; ++t) CHECK(v(odd.update(Tensor::scalar(0.0)).beta) == odd.beta_at(t));
  KlAnnealController mono(true, 400, 1, 0.25);
  CHECK(v(at(mono, 51, 0).beta) == doctest::Approx(0.5));
  CHECK(v(at(mono, 101, 0).beta) == 1.0);
  CHECK(v(at(mono, 401, 0).beta) == 1.0);  // no restart
  CHECK(v(at(mono, 1000, 0).beta) == 1.0);
  KlAnnealController m2(true, 400, 1, 0.25);
  m2.load_state(mono.state());
  CHECK(m2.state() == mono.state());
}

TEST_CASE("registry: controllers by name") {
  for (const std::string& n : controller_names()) {
    Params p;
    if (n.rfind("kl-anneal", 0) == 0) p["total_steps"] = 100;
    auto c = make_controller(n, p);
    CHECK(c->name() == n);
    Schedule s = c->update(Tensor::scalar(5.0));
    CHECK(std::isfinite(v(s.beta)));
    CHECK(s.beta.dtype() == DType::f64);
    CHECK(c->state().at("step") == 1);
    auto c2 = make_controller(n, p);
    c2->load_state(c->state());
    CHECK(c2->state() == c->state());
  }
  CHECK(v(make_controller("constant", {{"beta", 4}})->update(Tensor::scalar(0.0)).beta) == 4.0);
  CHECK_THROWS_WITH_AS(make_controller("pid", {}),
                       doctest::Contains("constant, linear-capacity, controlvae-pi"), Error);
  CHECK_THROWS_WITH_AS(make_controller("kl-anneal-cyclical", {}),
                       doctest::Contains("total_steps"), Error);
  // A negative weight rewards the KL; a non-finite parameter is refused by name.
  CHECK_THROWS_WITH_AS(make_controller("constant", {{"beta", -3}}),
                       doctest::Contains("constant: beta must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(make_controller("kl-anneal-monotonic", {{"total_steps", 10}, {"beta_max", -1}}),
                       doctest::Contains("beta_min and beta_max must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(make_controller("linear-capacity", {{"C_max", std::nan("")}}),
                       doctest::Contains("controller 'linear-capacity': parameter 'C_max' must be a "
                                         "finite number, got nan"),
                       Error);
  CHECK_NOTHROW(make_controller("constant", {{"beta", 0}}));
}
