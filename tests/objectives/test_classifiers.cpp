// The metrics' small learners (objectives/metrics/classifiers.h): logistic regression, lasso and
// the 1-D centroid classifier on separable data; the cubic readout on codes that hold one angle
// and not another, on exact and out-of-reach targets, and its errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "objectives/metrics/metrics.h"

using namespace unravel;

TEST_CASE("metrics: logistic regression, lasso and the 1-D centroid classifier") {
  Generator g(2);
  // Two separable Gaussian blobs in 2-D, three classes.
  const int64_t n = 300;
  HostMatrix x{n, 2, std::vector<double>(n * 2)};
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 3;
    x.data[i * 2] = 3.0 * double(y[i]) + 0.3 * g.normal();
    x.data[i * 2 + 1] = 0.3 * g.normal();
  }
  LogisticModel m = fit_logistic_regression(x, y, 3);
  CHECK(m.accuracy(x, y) > 0.99);
  CHECK(m.iterations > 0);
  // Deterministic.
  LogisticModel m2 = fit_logistic_regression(x, y, 3);
  CHECK(m.w == m2.w);
  // Lasso: y = 2 x0 exactly, x1 irrelevant -> weight on x1 exactly 0.
  std::vector<double> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = 2.0 * x.data[i * 2];
  LassoModel l = fit_lasso(x, t, 0.01);
  CHECK(l.coef[1] == 0.0);
  CHECK(l.coef[0] > 0);
  CHECK(l.predict(x.row(5)) == doctest::Approx(t[5]).epsilon(0.02));
  // Centroids.
  CentroidClassifier1D c = fit_centroid_1d({0, 0.2, 5, 5.2, 10}, {2, 2, 0, 0, 1});
  CHECK(c.predict(-3) == 2);
  CHECK(c.predict(4) == 0);
  CHECK(c.predict(9) == 1);
}

TEST_CASE("metrics: the cubic readout finds an angle in a code only where the code holds it") {
  // A code of two latents (cos 2θ, sin 2θ) plus noise and a third, unrelated latent, as an
  // ellipse's orientation: the half-turn angle is read back, the full turn is not.
  Generator g(31);
  const int64_t n = 4000;
  HostMatrix noise = standard_normal_samples(n, 4, g);
  HostMatrix x, half, full;
  x.rows = half.rows = full.rows = n;
  x.cols = 3;
  half.cols = full.cols = 2;
  const double two_pi = 2 * std::acos(-1.0);
  for (int64_t i = 0; i < n; ++i) {
    const double th = two_pi * static_cast<double>(i % 40) / 39.0;
    x.data.insert(x.data.end(), {std::cos(2 * th) + 0.05 * noise(i, 0), std::sin(2 * th) + 0.05 * noise(i, 1),
                                 noise(i, 2)});
    half.data.insert(half.data.end(), {std::cos(2 * th), std::sin(2 * th)});
    full.data.insert(full.data.end(), {std::cos(th), std::sin(th)});
  }
  const double r_half = cubic_readout_r2(x, half), r_full = cubic_readout_r2(x, full);
  CHECK(r_half > 0.98);
  CHECK(r_half <= 1.0);
  CHECK(std::abs(r_full) < 0.05);
  // A cubic target is fit exactly; a target no cubic of x reaches (x0⁵) only in part.
  HostMatrix cubic, fifth;
  cubic.rows = fifth.rows = n;
  cubic.cols = fifth.cols = 1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = noise(i, 2), b = noise(i, 3);
    cubic.data.push_back(1 - 2 * a + a * a * b - 0.5 * a * a * a);
    fifth.data.push_back(a * a * a * a * a);
  }
  HostMatrix ab;
  ab.rows = n;
  ab.cols = 2;
  for (int64_t i = 0; i < n; ++i) ab.data.insert(ab.data.end(), {noise(i, 2), noise(i, 3)});
  CHECK(cubic_readout_r2(ab, cubic) == doctest::Approx(1.0).epsilon(1e-9));
  const double r5 = cubic_readout_r2(ab, fifth);
  CHECK(r5 > 0.3);
  CHECK(r5 < 0.99);
  // Too few rows for the monomials, and mismatched rows, are errors naming the function.
  HostMatrix few = ab;
  few.rows = 10;
  few.data.resize(20);
  HostMatrix few_y = cubic;
  few_y.rows = 10;
  few_y.data.resize(10);
  CHECK_THROWS_WITH(cubic_readout_r2(few, few_y), doctest::Contains("cubic_readout_r2: 10 rows"));
  CHECK_THROWS_WITH(cubic_readout_r2(ab, few_y), doctest::Contains("4000 input rows but 10 target rows"));
}
