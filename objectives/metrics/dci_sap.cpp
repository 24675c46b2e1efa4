// DCI with a lasso regressor and SAP (continuous and discrete); definitions in dci_sap.h.
#include "objectives/metrics/dci_sap.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "objectives/metrics/classifiers.h"
#include "objectives/metrics/mig.h"

namespace unravel {

namespace {

struct PointSet {
  HostMatrix z;
  std::vector<int64_t> c;  // [n, K]
};

PointSet draw(CodeSampler& s, int64_t n, Generator& gen) {
  PointSet p;
  p.z.rows = n;
  p.z.cols = s.code_dim();
  p.z.data.resize(n * p.z.cols);
  p.c.resize(n * s.num_factors());
  s.sample(n, -1, nullptr, gen, p.z.data.data(), p.c.data());
  return p;
}

std::vector<int> default_factors(const CodeSampler& s, std::vector<int> f, const char* who) {
  if (f.empty())
    for (int k = 0; k < s.num_factors(); ++k)
      if (s.factor_sizes()[k] > 1) f.push_back(k);
  for (int k : f)
    UNRAVEL_CHECK(k >= 0 && k < s.num_factors(), "{}: factor {} outside [0, {})", who, k,
                  s.num_factors());
  UNRAVEL_CHECK(!f.empty(), "{}: no factor to score", who);
  return f;
}

// 1 − entropy (base `base`) of (v + 1e-11) normalised; scipy.stats.entropy semantics.
double one_minus_entropy(const std::vector<double>& v, int64_t base) {
  double total = 0;
  for (double x : v) total += x + 1e-11;
  double h = 0;
  for (double x : v) {
    const double p = (x + 1e-11) / total;
    if (p > 0) h -= p * std::log(p);
  }
  return 1.0 - h / std::log(static_cast<double>(base));
}

double r_squared(const std::vector<double>& y, const std::vector<double>& pred) {
  double m = 0;
  for (double v : y) m += v;
  m /= static_cast<double>(y.size());
  double sse = 0, sst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    sse += (y[i] - pred[i]) * (y[i] - pred[i]);
    sst += (y[i] - m) * (y[i] - m);
  }
  return sst > 0 ? 1.0 - sse / sst : 0.0;
}

}  // namespace

double dci_disentanglement(const std::vector<double>& r, int64_t D, int64_t K) {
  UNRAVEL_CHECK(D > 0 && K > 1 && static_cast<int64_t>(r.size()) == D * K,
                "dci_disentanglement: importance of size {} for [{}, {}] (need K > 1)", r.size(),
                D, K);
  double total = 0;
  for (double x : r) total += x;
  double score = 0;
  for (int64_t d = 0; d < D; ++d) {
    std::vector<double> row(r.begin() + d * K, r.begin() + (d + 1) * K);
    double w = 0;
    for (double x : row) w += x;
    const double rho = total > 0 ? w / total : 1.0 / static_cast<double>(D);
    score += rho * one_minus_entropy(row, K);
  }
  return score;
}

double dci_completeness(const std::vector<double>& r, int64_t D, int64_t K) {
  UNRAVEL_CHECK(D > 1 && K > 0 && static_cast<int64_t>(r.size()) == D * K,
                "dci_completeness: importance of size {} for [{}, {}] (need D > 1)", r.size(), D,
                K);
  double total = 0;
  for (double x : r) total += x;
  double score = 0;
  for (int64_t k = 0; k < K; ++k) {
    std::vector<double> col(D);
    double w = 0;
    for (int64_t d = 0; d < D; ++d) {
      col[d] = r[d * K + k];
      w += col[d];
    }
    const double rho = total > 0 ? w / total : 1.0 / static_cast<double>(K);
    score += rho * one_minus_entropy(col, D);
  }
  return score;
}

DciResult dci(CodeSampler& sampler, Generator& gen, const DciOptions& opt) {
  UNRAVEL_CHECK(opt.num_train > 2 && opt.num_test > 1 && opt.alpha >= 0,
                "dci: num_train {} (> 2), num_test {} (> 1), alpha {} (>= 0)", opt.num_train,
                opt.num_test, opt.alpha);
  const std::vector<int> factors = default_factors(sampler, opt.factors, "dci");
  const int64_t D = sampler.code_dim(), F = static_cast<int64_t>(factors.size());
  const int K = sampler.num_factors();
  PointSet tr = draw(sampler, opt.num_train, gen), te = draw(sampler, opt.num_test, gen);
  DciResult r;
  r.importance.assign(D * F, 0.0);
  for (int64_t f = 0; f < F; ++f) {
    const int k = factors[f];
    std::vector<double> ytr(opt.num_train), yte(opt.num_test);
    double m = 0, s = 0;
    for (int64_t i = 0; i < opt.num_train; ++i) m += ytr[i] = double(tr.c[i * K + k]);
    m /= double(opt.num_train);
    for (double v : ytr) s += (v - m) * (v - m);
    const double sd = std::sqrt(s / double(opt.num_train));
    UNRAVEL_CHECK(sd > 0, "dci: factor {} took a single value in {} training draws", k,
                  opt.num_train);
    for (double& v : ytr) v = (v - m) / sd;
    for (int64_t i = 0; i < opt.num_test; ++i) yte[i] = (double(te.c[i * K + k]) - m) / sd;
    LassoModel lm = fit_lasso(tr.z, ytr, opt.alpha);
    for (int64_t d = 0; d < D; ++d) r.importance[d * F + f] = std::abs(lm.coef[d]);
    std::vector<double> ptr(opt.num_train), pte(opt.num_test);
    for (int64_t i = 0; i < opt.num_train; ++i) ptr[i] = lm.predict(tr.z.row(i));
    for (int64_t i = 0; i < opt.num_test; ++i) pte[i] = lm.predict(te.z.row(i));
    r.informativeness_train += r_squared(ytr, ptr) / double(F);
    r.informativeness_test += r_squared(yte, pte) / double(F);
  }
  r.disentanglement = F > 1 ? dci_disentanglement(r.importance, D, F) : 1.0;
  r.completeness = D > 1 ? dci_completeness(r.importance, D, F) : 1.0;
  return r;
}

SapResult sap(CodeSampler& sampler, Generator& gen, const SapOptions& opt) {
  UNRAVEL_CHECK(opt.num_train > 1 && opt.num_test > 0, "sap: num_train {} (> 1), num_test {} (> 0)",
                opt.num_train, opt.num_test);
  const std::vector<int> factors = default_factors(sampler, opt.factors, "sap");
  const int64_t D = sampler.code_dim(), F = static_cast<int64_t>(factors.size());
  const int K = sampler.num_factors();
  PointSet tr = draw(sampler, opt.num_train, gen), te = draw(sampler, opt.num_test, gen);
  SapResult r;
  r.continuous_matrix.assign(D * F, 0.0);
  r.discrete_matrix.assign(D * F, 0.0);
  const double n = double(opt.num_train);
  for (int64_t f = 0; f < F; ++f) {
    const int k = factors[f];
    std::vector<int64_t> ytr(opt.num_train);
    double my = 0;
    for (int64_t i = 0; i < opt.num_train; ++i) my += double(ytr[i] = tr.c[i * K + k]);
    my /= n;
    for (int64_t d = 0; d < D; ++d) {
      std::vector<double> x(opt.num_train);
      double mx = 0;
      for (int64_t i = 0; i < opt.num_train; ++i) mx += x[i] = tr.z(i, d);
      mx /= n;
      double cxy = 0, vx = 0, vy = 0;
      for (int64_t i = 0; i < opt.num_train; ++i) {
        const double a = x[i] - mx, b = double(ytr[i]) - my;
        cxy += a * b;
        vx += a * a;
        vy += b * b;
      }
      cxy /= n - 1;
      vx /= n - 1;
      vy /= n - 1;
      r.continuous_matrix[d * F + f] = (vx > 1e-12 && vy > 0) ? cxy * cxy / (vx * vy) : 0.0;
      CentroidClassifier1D cl = fit_centroid_1d(x, ytr);
      int64_t hit = 0;
      for (int64_t i = 0; i < opt.num_test; ++i) hit += cl.predict(te.z(i, d)) == te.c[i * K + k];
      r.discrete_matrix[d * F + f] = double(hit) / double(opt.num_test);
    }
  }
  for (int64_t f = 0; f < F; ++f) {
    std::vector<double> c(D), q(D);
    for (int64_t d = 0; d < D; ++d) {
      c[d] = r.continuous_matrix[d * F + f];
      q[d] = r.discrete_matrix[d * F + f];
    }
    r.continuous += top_gap(c) / double(F);
    r.discrete += top_gap(q) / double(F);
  }
  return r;
}

}  // namespace unravel
