// Logistic regression (engine ops + L-BFGS), lasso by coordinate descent, and the 1-D
// nearest-centroid classifier; see classifiers.h for the objectives.
#include "objectives/metrics/classifiers.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/ops.h"

namespace unravel {

int64_t LogisticModel::predict(const double* x) const {
  int64_t best = 0;
  double best_v = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < num_classes; ++c) {
    double v = b[c];
    for (int64_t d = 0; d < dim; ++d) v += w[c * dim + d] * x[d];
    if (v > best_v) {
      best_v = v;
      best = c;
    }
  }
  return best;
}

double LogisticModel::accuracy(const HostMatrix& x, const std::vector<int64_t>& y) const {
  UNRAVEL_CHECK(x.cols == dim && static_cast<int64_t>(y.size()) == x.rows && x.rows > 0,
                "LogisticModel::accuracy: features [{}, {}] and {} labels for a model of dim {}",
                x.rows, x.cols, y.size(), dim);
  int64_t hit = 0;
  for (int64_t i = 0; i < x.rows; ++i) hit += predict(x.row(i)) == y[i];
  return static_cast<double>(hit) / static_cast<double>(x.rows);
}

namespace {

// Turns gradient recording on for a scope (a caller may be under NoGradGuard).
class EnableGrad {
 public:
  EnableGrad() : prev_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGrad() { set_grad_enabled(prev_); }
  EnableGrad(const EnableGrad&) = delete;
  EnableGrad& operator=(const EnableGrad&) = delete;

 private:
  bool prev_;
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

LogisticModel fit_logistic_regression(const HostMatrix& x, const std::vector<int64_t>& y,
                                      int64_t num_classes, const LogisticOptions& opt) {
  const int64_t n = x.rows, D = x.cols, C = num_classes;
  UNRAVEL_CHECK(n > 0 && D > 0 && C >= 2 && static_cast<int64_t>(y.size()) == n,
                "fit_logistic_regression: features [{}, {}], {} labels, {} classes", n, D,
                y.size(), C);
  std::vector<double> onehot(static_cast<size_t>(n * C), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    UNRAVEL_CHECK(y[i] >= 0 && y[i] < C, "fit_logistic_regression: label {} of row {} outside [0, {})",
                  y[i], i, C);
    onehot[i * C + y[i]] = 1.0;
  }
  const Tensor X = Tensor::from_vector(x.data, Shape{n, D});
  const Tensor Y = Tensor::from_vector(onehot, Shape{n, C});
  const int64_t P = C * D + C;
  EnableGrad grad_on;
  // Mean cross-entropy + (λ/2n)‖W‖² and its gradient, through the tape.
  auto eval = [&](const std::vector<double>& theta, std::vector<double>& grad) {
    Tensor W = Tensor::from_data(theta.data(), size_t(C * D), DType::f64, Shape{C, D});
    Tensor B = Tensor::from_data(theta.data() + C * D, size_t(C), DType::f64, Shape{C});
    W.set_requires_grad();
    B.set_requires_grad();
    Tensor logits = matmul(X, transpose(W, 0, 1)) + B;
    Tensor loss = (sum(logsumexp(logits, {1})) - sum(logits * Y)) * (1.0 / double(n)) +
                  sum(square(W)) * (0.5 * opt.l2 / double(n));
    loss.backward();
    std::vector<double> gw = W.grad().to_vector<double>(), gb = B.grad().to_vector<double>();
    std::copy(gw.begin(), gw.end(), grad.begin());
    std::copy(gb.begin(), gb.end(), grad.begin() + C * D);
    return loss.item();
  };
  std::vector<double> theta(static_cast<size_t>(P), 0.0), g(P), g_new(P), dir(P), t_new(P);
  double f = eval(theta, g);
  std::deque<std::vector<double>> S, Yh;
  std::deque<double> rho;
  int it = 0;
  for (; it < opt.max_iter; ++it) {
    double gmax = 0;
    for (double v : g) gmax = std::max(gmax, std::abs(v));
    if (gmax < opt.gtol) break;
    // Two-loop recursion: dir = -H g.
    dir = g;
    std::vector<double> alpha(S.size());
    for (int i = static_cast<int>(S.size()) - 1; i >= 0; --i) {
      alpha[i] = rho[i] * dot(S[i], dir);
      for (int64_t p = 0; p < P; ++p) dir[p] -= alpha[i] * Yh[i][p];
    }
    double gamma = S.empty() ? 1.0 / std::max(1.0, std::sqrt(dot(g, g)))
                             : dot(S.back(), Yh.back()) / dot(Yh.back(), Yh.back());
    for (double& v : dir) v *= gamma;
    for (size_t i = 0; i < S.size(); ++i) {
      double beta = rho[i] * dot(Yh[i], dir);
      for (int64_t p = 0; p < P; ++p) dir[p] += S[i][p] * (alpha[i] - beta);
    }
    for (double& v : dir) v = -v;
    double slope = dot(g, dir);
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      S.clear();
      Yh.clear();
      rho.clear();
      for (int64_t p = 0; p < P; ++p) dir[p] = -g[p];
      slope = dot(g, dir);
    }
    // Armijo backtracking from a unit step.
    double step = 1.0, f_new = f;
    bool ok = false;
    for (int ls = 0; ls < 40; ++ls) {
      for (int64_t p = 0; p < P; ++p) t_new[p] = theta[p] + step * dir[p];
      f_new = eval(t_new, g_new);
      if (f_new <= f + 1e-4 * step * slope) {
        ok = true;
        break;
      }
      step *= 0.5;
    }
    if (!ok) break;  // no decrease possible at machine precision: converged
    std::vector<double> s(P), yv(P);
    for (int64_t p = 0; p < P; ++p) {
      s[p] = t_new[p] - theta[p];
      yv[p] = g_new[p] - g[p];
    }
    double sy = dot(s, yv);
    if (sy > 1e-12) {
      S.push_back(std::move(s));
      Yh.push_back(std::move(yv));
      rho.push_back(1.0 / sy);
      if (static_cast<int>(S.size()) > opt.memory) {
        S.pop_front();
        Yh.pop_front();
        rho.pop_front();
      }
    }
    const double f_old = f;
    theta.swap(t_new);
    g.swap(g_new);
    f = f_new;
    if (f_old - f <= 1e-12 * std::max(1.0, std::abs(f))) break;
  }
  LogisticModel m;
  m.num_classes = C;
  m.dim = D;
  m.w.assign(theta.begin(), theta.begin() + C * D);
  m.b.assign(theta.begin() + C * D, theta.end());
  m.iterations = it;
  return m;
}

double LassoModel::predict(const double* x) const {
  double v = intercept;
  for (size_t d = 0; d < coef.size(); ++d)
    if (scale[d] > 0) v += coef[d] * (x[d] - mean[d]) / scale[d];
  return v;
}

LassoModel fit_lasso(const HostMatrix& x, const std::vector<double>& y, double alpha, int max_iter,
                     double tol) {
  const int64_t n = x.rows, D = x.cols;
  UNRAVEL_CHECK(n > 1 && D > 0 && static_cast<int64_t>(y.size()) == n && alpha >= 0,
                "fit_lasso: features [{}, {}], {} targets, alpha {}", n, D, y.size(), alpha);
  LassoModel m;
  m.coef.assign(D, 0.0);
  m.mean.assign(D, 0.0);
  m.scale.assign(D, 0.0);
  // Standardised columns, column-major for the coordinate sweeps.
  std::vector<double> xs(static_cast<size_t>(n * D));
  for (int64_t d = 0; d < D; ++d) {
    double mu = 0, ss = 0;
    for (int64_t i = 0; i < n; ++i) mu += x(i, d);
    mu /= double(n);
    for (int64_t i = 0; i < n; ++i) ss += (x(i, d) - mu) * (x(i, d) - mu);
    double sd = std::sqrt(ss / double(n));
    m.mean[d] = mu;
    m.scale[d] = sd > 1e-12 ? sd : 0.0;
    for (int64_t i = 0; i < n; ++i) xs[d * n + i] = m.scale[d] > 0 ? (x(i, d) - mu) / sd : 0.0;
  }
  double ymean = std::accumulate(y.begin(), y.end(), 0.0) / double(n);
  m.intercept = ymean;
  std::vector<double> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[i] = y[i] - ymean;
  int it = 0;
  for (; it < max_iter; ++it) {
    double max_delta = 0, max_coef = 0;
    for (int64_t d = 0; d < D; ++d) {
      if (m.scale[d] == 0) continue;
      const double* col = xs.data() + d * n;
      double rho = 0;  // (1/n) x_d·(r + x_d w_d); columns have (1/n)‖x_d‖² = 1
      for (int64_t i = 0; i < n; ++i) rho += col[i] * r[i];
      rho = rho / double(n) + m.coef[d];
      double w_new = rho > alpha ? rho - alpha : (rho < -alpha ? rho + alpha : 0.0);
      double delta = w_new - m.coef[d];
      if (delta != 0) {
        for (int64_t i = 0; i < n; ++i) r[i] -= delta * col[i];
        m.coef[d] = w_new;
      }
      max_delta = std::max(max_delta, std::abs(delta));
      max_coef = std::max(max_coef, std::abs(w_new));
    }
    if (max_delta <= tol * std::max(1.0, max_coef)) break;
  }
  m.iterations = it;
  return m;
}

int64_t CentroidClassifier1D::predict(double x) const {
  UNRAVEL_CHECK(!centroids.empty(), "CentroidClassifier1D::predict: the classifier is not fitted");
  auto it = std::lower_bound(centroids.begin(), centroids.end(), x);
  if (it == centroids.end()) return labels.back();
  size_t j = static_cast<size_t>(it - centroids.begin());
  if (j == 0) return labels[0];
  return (x - centroids[j - 1] <= *it - x) ? labels[j - 1] : labels[j];
}

CentroidClassifier1D fit_centroid_1d(const std::vector<double>& x, const std::vector<int64_t>& y) {
  UNRAVEL_CHECK(!x.empty() && x.size() == y.size(), "fit_centroid_1d: {} values and {} labels",
                x.size(), y.size());
  int64_t cmax = *std::max_element(y.begin(), y.end());
  UNRAVEL_CHECK(*std::min_element(y.begin(), y.end()) >= 0, "fit_centroid_1d: negative label");
  std::vector<double> s(static_cast<size_t>(cmax + 1), 0.0);
  std::vector<int64_t> cnt(static_cast<size_t>(cmax + 1), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    s[y[i]] += x[i];
    cnt[y[i]] += 1;
  }
  std::vector<std::pair<double, int64_t>> cl;
  for (int64_t c = 0; c <= cmax; ++c)
    if (cnt[c] > 0) cl.emplace_back(s[c] / double(cnt[c]), c);
  std::stable_sort(cl.begin(), cl.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CentroidClassifier1D m;
  for (auto& [c, l] : cl) {
    m.centroids.push_back(c);
    m.labels.push_back(l);
  }
  return m;
}

namespace {

// All monomials of degree ≤ 3 of x[0..d): 1, x_i, x_i x_j (i ≤ j), x_i x_j x_k (i ≤ j ≤ k).
void cubic_monomials(const double* x, int64_t d, std::vector<double>& f) {
  f.assign(1, 1.0);
  for (int64_t i = 0; i < d; ++i) f.push_back(x[i]);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = i; j < d; ++j) {
      f.push_back(x[i] * x[j]);
      for (int64_t k = j; k < d; ++k) f.push_back(x[i] * x[j] * x[k]);
    }
}

// Solves (A + ridge·I) W = B for a symmetric positive semidefinite p × p A and r right-hand sides
// (B: p × r, row-major, overwritten by W); the ridge is 1e-9 of A's mean diagonal.
void ridge_cholesky_solve(std::vector<double> a, std::vector<double>& b, size_t p, size_t r) {
  double tr = 0;
  for (size_t i = 0; i < p; ++i) tr += a[i * p + i];
  const double ridge = std::max(1e-9 * tr / static_cast<double>(p), 1e-300);
  for (size_t i = 0; i < p; ++i) a[i * p + i] += ridge;
  for (size_t j = 0; j < p; ++j) {  // A = L Lᵀ, L in the lower triangle
    double d = a[j * p + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * p + k] * a[j * p + k];
    d = std::sqrt(std::max(d, ridge));
    a[j * p + j] = d;
    for (size_t i = j + 1; i < p; ++i) {
      double v = a[i * p + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = v / d;
    }
  }
  for (size_t c = 0; c < r; ++c) {
    for (size_t i = 0; i < p; ++i) {  // L y = b
      double v = b[i * r + c];
      for (size_t k = 0; k < i; ++k) v -= a[i * p + k] * b[k * r + c];
      b[i * r + c] = v / a[i * p + i];
    }
    for (size_t i = p; i-- > 0;) {  // Lᵀ w = y
      double v = b[i * r + c];
      for (size_t k = i + 1; k < p; ++k) v -= a[k * p + i] * b[k * r + c];
      b[i * r + c] = v / a[i * p + i];
    }
  }
}

}  // namespace

double cubic_readout_r2(const HostMatrix& x, const HostMatrix& y) {
  UNRAVEL_CHECK(x.rows == y.rows, "cubic_readout_r2: {} input rows but {} target rows", x.rows, y.rows);
  UNRAVEL_CHECK(y.cols >= 1, "cubic_readout_r2: no target columns");
  const int64_t d = x.cols;
  const size_t p = static_cast<size_t>((d + 1) * (d + 2) * (d + 3) / 6), r = static_cast<size_t>(y.cols);
  UNRAVEL_CHECK(static_cast<size_t>((x.rows + 1) / 2) > p && x.rows >= 2,
                "cubic_readout_r2: {} rows leave {} to fit {} monomials of {} columns; give more "
                "rows or fewer columns", x.rows, (x.rows + 1) / 2, p, d);
  std::vector<double> ata(p * p, 0.0), atb(p * r, 0.0), f;
  for (int64_t i = 0; i < x.rows; i += 2) {
    cubic_monomials(x.row(i), d, f);
    for (size_t a = 0; a < p; ++a) {
      for (size_t b = a; b < p; ++b) ata[a * p + b] += f[a] * f[b];
      for (size_t c = 0; c < r; ++c) atb[a * r + c] += f[a] * y(i, static_cast<int64_t>(c));
    }
  }
  for (size_t a = 0; a < p; ++a)
    for (size_t b = 0; b < a; ++b) ata[a * p + b] = ata[b * p + a];
  ridge_cholesky_solve(std::move(ata), atb, p, r);
  std::vector<double> sum(r, 0.0), sq(r, 0.0);
  double sse = 0, n = 0;
  for (int64_t i = 1; i < x.rows; i += 2) {
    cubic_monomials(x.row(i), d, f);
    for (size_t c = 0; c < r; ++c) {
      double pred = 0;
      for (size_t a = 0; a < p; ++a) pred += f[a] * atb[a * r + c];
      const double t = y(i, static_cast<int64_t>(c));
      sse += (t - pred) * (t - pred);
      sum[c] += t;
      sq[c] += t * t;
    }
    n += 1;
  }
  double sst = 0;
  for (size_t c = 0; c < r; ++c) sst += sq[c] - sum[c] * sum[c] / n;
  return sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
}

}  // namespace unravel
