// Linear codes (objectives/metrics/linear_codes.h): PCA whitens and orders its components,
// FastICA recovers independent sources mixed into more dimensions, Jacobi diagonalises a known
// matrix, the fits are reproducible from their Generator, and bad inputs are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/check.h"
#include "objectives/metrics/linear_codes.h"

using namespace unravel;

TEST_CASE("linear codes: PCA and FastICA recover planted structure") {
  // x = A s with independent uniform sources s (2 of them) in 6-D plus tiny noise.
  Generator g(5);
  const int64_t n = 2000;
  std::vector<float> x(n * 6), s(n * 2);
  const double A[6][2] = {{1, 0.5}, {0.3, 1}, {0.8, -0.4}, {0, 0.2}, {-0.5, 0.7}, {0.1, 0.1}};
  for (int64_t i = 0; i < n; ++i) {
    s[i * 2] = float(g.uniform() * 2 - 1);
    s[i * 2 + 1] = float(g.uniform() * 2 - 1);
    for (int r = 0; r < 6; ++r)
      x[i * 6 + r] = float(A[r][0] * s[i * 2] + A[r][1] * s[i * 2 + 1] + 1e-3 * g.normal());
  }
  Tensor xt = Tensor::from_vector(x, Shape{n, 6});
  Generator pg(1);
  LinearCode pca = fit_pca(xt, 2, pg);
  CHECK(pca.eigenvalues[0] >= pca.eigenvalues[1]);
  // Whitened codes have unit variance.
  std::vector<float> zc = apply_linear_code(pca, xt).to_vector<float>();
  double v0 = 0;
  for (int64_t i = 0; i < n; ++i) v0 += zc[i * 2] * zc[i * 2];
  CHECK(v0 / n == doctest::Approx(1.0).epsilon(0.02));
  // ICA: each code correlates (|r| > 0.98) with exactly one source.
  Generator ig(2);
  LinearCode ica = fit_fastica(xt, 2, ig);
  std::vector<float> y = apply_linear_code(ica, xt).to_vector<float>();
  for (int c = 0; c < 2; ++c) {
    double best = 0;
    for (int k = 0; k < 2; ++k) {
      double sxy = 0, sxx = 0, syy = 0;
      for (int64_t i = 0; i < n; ++i) {
        sxy += y[i * 2 + c] * s[i * 2 + k];
        sxx += y[i * 2 + c] * y[i * 2 + c];
        syy += s[i * 2 + k] * s[i * 2 + k];
      }
      best = std::max(best, std::abs(sxy) / std::sqrt(sxx * syy));
    }
    CHECK(best > 0.98);
  }
  // Jacobi on a known symmetric matrix.
  std::vector<double> vals, vecs;
  jacobi_eigen({2, 1, 1, 2}, 2, vals, vecs);
  CHECK(vals[0] == doctest::Approx(3.0));
  CHECK(vals[1] == doctest::Approx(1.0));
}

TEST_CASE("linear codes: the same Generator seed gives bit-identical codes; bad shapes refused") {
  Generator g(9);
  const int64_t n = 300, P = 12;
  std::vector<float> x(n * P);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < P; ++r) x[i * P + r] = float(g.normal() * (1.0 + 0.3 * r));
  Tensor xt = Tensor::from_vector(x, Shape{n, 3, 4});  // items are flattened
  for (int ica = 0; ica < 2; ++ica) {
    Generator a(3), b(3);
    LinearCode ca = ica ? fit_fastica(xt, 3, a) : fit_pca(xt, 3, a);
    LinearCode cb = ica ? fit_fastica(xt, 3, b) : fit_pca(xt, 3, b);
    CHECK(ca.proj.shape() == Shape{P, 3});
    CHECK(ca.mean.shape() == Shape{P});
    CHECK(ca.proj.to_vector<float>() == cb.proj.to_vector<float>());
    CHECK(ca.eigenvalues == cb.eigenvalues);
    CHECK(ca.iterations >= 1);
    CHECK(apply_linear_code(ca, xt).shape() == Shape{n, 3});
  }
  // PCA variances come out descending and near the planted ones (largest: the last feature).
  Generator pg(4);
  LinearCode pca = fit_pca(xt, 3, pg);
  CHECK(std::is_sorted(pca.eigenvalues.rbegin(), pca.eigenvalues.rend()));
  CHECK(pca.eigenvalues[0] == doctest::Approx(std::pow(1.0 + 0.3 * 11, 2)).epsilon(0.25));
  Generator eg(1);
  CHECK_THROWS_AS(fit_pca(xt, P + 1, eg), Error);
  CHECK_THROWS_AS(apply_linear_code(pca, Tensor::zeros(Shape{2, 5})), Error);
  std::vector<double> vals, vecs;
  CHECK_THROWS_AS(jacobi_eigen({1, 2, 3}, 2, vals, vecs), Error);
}
