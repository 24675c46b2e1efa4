// β-VAE score, FactorVAE score and Mathieu et al.'s variant; protocols in vote_scores.h.
#include "objectives/metrics/vote_scores.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/check.h"

namespace unravel {

namespace {

// One β-VAE training point: (feature [D], label).
int64_t beta_vae_point(CodeSampler& s, int64_t L, Generator& gen, double* feature) {
  const int K = s.num_factors();
  const int64_t D = s.code_dim();
  const int k = static_cast<int>(gen.randint(static_cast<uint64_t>(K)));
  std::vector<double> z1(L * D), z2(L * D);
  std::vector<int64_t> c1(L * K), fixed(L);
  s.sample(L, -1, nullptr, gen, z1.data(), c1.data());
  for (int64_t l = 0; l < L; ++l) fixed[l] = c1[l * K + k];
  s.sample(L, k, fixed.data(), gen, z2.data(), nullptr);
  for (int64_t d = 0; d < D; ++d) {
    double acc = 0;
    for (int64_t l = 0; l < L; ++l) acc += std::abs(z1[l * D + d] - z2[l * D + d]);
    feature[d] = acc / double(L);
  }
  return k;
}

void beta_vae_set(CodeSampler& s, int64_t n, int64_t L, Generator& gen, HostMatrix& x,
                  std::vector<int64_t>& y) {
  x.rows = n;
  x.cols = s.code_dim();
  x.data.assign(n * x.cols, 0.0);
  y.resize(n);
  for (int64_t i = 0; i < n; ++i) y[i] = beta_vae_point(s, L, gen, x.row(i));
}

// Unbiased variance of column d over rows of z [n, D].
double column_var(const std::vector<double>& z, int64_t n, int64_t D, int64_t d) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m += z[i * D + d];
  m /= double(n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (z[i * D + d] - m) * (z[i * D + d] - m);
  return s / double(n - 1);
}

// FactorVAE votes [K, A] over `num` votes.
std::vector<int64_t> factor_vae_votes(CodeSampler& s, int64_t num, int64_t batch,
                                      const std::vector<double>& gvar,
                                      const std::vector<int64_t>& active, Generator& gen) {
  const int K = s.num_factors();
  const int64_t D = s.code_dim(), A = static_cast<int64_t>(active.size());
  std::vector<int64_t> votes(K * A, 0);
  std::vector<double> z(batch * D);
  std::vector<int64_t> c(K);
  for (int64_t v = 0; v < num; ++v) {
    const int k = static_cast<int>(gen.randint(static_cast<uint64_t>(K)));
    s.sample(1, -1, nullptr, gen, z.data(), c.data());
    s.sample_fixed(batch - 1, k, c[k], gen, z.data() + D, nullptr);
    int64_t best = 0;
    double best_v = std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < A; ++a) {
      double r = column_var(z, batch, D, active[a]) / gvar[active[a]];
      if (r < best_v) {
        best_v = r;
        best = a;
      }
    }
    votes[k * A + best] += 1;
  }
  return votes;
}

}  // namespace

AccuracyScore beta_vae_score(CodeSampler& sampler, Generator& gen,
                             const BetaVaeScoreOptions& opt) {
  UNRAVEL_CHECK(opt.batch > 0 && opt.num_train > 0 && opt.num_eval > 0,
                "beta_vae_score: batch {}, num_train {}, num_eval {} must be positive", opt.batch,
                opt.num_train, opt.num_eval);
  UNRAVEL_CHECK(sampler.num_factors() >= 2, "beta_vae_score: needs at least 2 factors, got {}",
                sampler.num_factors());
  HostMatrix xt, xe;
  std::vector<int64_t> yt, ye;
  beta_vae_set(sampler, opt.num_train, opt.batch, gen, xt, yt);
  LogisticModel m = fit_logistic_regression(xt, yt, sampler.num_factors(), opt.classifier);
  beta_vae_set(sampler, opt.num_eval, opt.batch, gen, xe, ye);
  return {m.accuracy(xt, yt), m.accuracy(xe, ye)};
}

FactorVaeScore factor_vae_score(CodeSampler& sampler, Generator& gen,
                                const FactorVaeScoreOptions& opt) {
  UNRAVEL_CHECK(opt.batch > 1 && opt.num_train > 0 && opt.num_eval > 0 &&
                    opt.num_variance_estimate > 1,
                "factor_vae_score: batch {} (> 1), num_train {}, num_eval {}, "
                "num_variance_estimate {} (> 1)",
                opt.batch, opt.num_train, opt.num_eval, opt.num_variance_estimate);
  const int64_t D = sampler.code_dim(), K = sampler.num_factors();
  std::vector<double> z(opt.num_variance_estimate * D);
  sampler.sample(opt.num_variance_estimate, -1, nullptr, gen, z.data(), nullptr);
  std::vector<double> gvar(D);
  std::vector<int64_t> active;
  for (int64_t d = 0; d < D; ++d) {
    gvar[d] = column_var(z, opt.num_variance_estimate, D, d);
    if (std::sqrt(gvar[d]) >= opt.prune_threshold) active.push_back(d);
  }
  FactorVaeScore r;
  r.num_active_dims = static_cast<int64_t>(active.size());
  if (active.empty()) return r;
  const int64_t A = r.num_active_dims;
  auto train = factor_vae_votes(sampler, opt.num_train, opt.batch, gvar, active, gen);
  r.dim_to_factor.assign(A, 0);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t k = 1; k < K; ++k)
      if (train[k * A + a] > train[r.dim_to_factor[a] * A + a]) r.dim_to_factor[a] = k;
  auto accuracy = [&](const std::vector<int64_t>& votes, int64_t total) {
    int64_t hit = 0;
    for (int64_t a = 0; a < A; ++a) hit += votes[r.dim_to_factor[a] * A + a];
    return static_cast<double>(hit) / static_cast<double>(total);
  };
  r.train_accuracy = accuracy(train, opt.num_train);
  auto eval = factor_vae_votes(sampler, opt.num_eval, opt.batch, gvar, active, gen);
  r.eval_accuracy = accuracy(eval, opt.num_eval);
  return r;
}

double mathieu_disentanglement(const HostMatrix& codes, const FactorGrid& grid, Generator& gen,
                               const MathieuScoreOptions& opt) {
  const int64_t N = codes.rows, D = codes.cols;
  const int K = grid.num_factors();
  UNRAVEL_CHECK(N == grid.size() && N > 1 && D > 0,
                "mathieu_disentanglement: codes [{}, {}] for {} factor rows", N, D, grid.size());
  UNRAVEL_CHECK(opt.num_votes > 0 && opt.points_per_vote > 1,
                "mathieu_disentanglement: num_votes {} (> 0), points_per_vote {} (> 1)",
                opt.num_votes, opt.points_per_vote);
  std::vector<double> inv_std(D);
  for (int64_t d = 0; d < D; ++d) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < N; ++i) m += codes(i, d);
    m /= double(N);
    for (int64_t i = 0; i < N; ++i) s += (codes(i, d) - m) * (codes(i, d) - m);
    double sd = std::sqrt(s / double(N - 1));
    inv_std[d] = sd > 0 ? 1.0 / sd : 0.0;
  }
  // Classes present per factor (a vote picks among the unique values).
  std::vector<std::vector<int64_t>> present(K);
  for (int k = 0; k < K; ++k)
    for (int64_t v = 0; v < grid.sizes()[k]; ++v)
      if (grid.rows_with(k, v).size() > 1) present[k].push_back(v);
  std::vector<int64_t> votes(D * K, 0);
  std::vector<double> sum(D), sq(D);
  for (int64_t t = 0; t < opt.num_votes; ++t) {
    const int k = static_cast<int>(gen.randint(static_cast<uint64_t>(K)));
    UNRAVEL_CHECK(!present[k].empty(),
                  "mathieu_disentanglement: factor {} has no class with two or more rows", k);
    const int64_t v = present[k][gen.randint(present[k].size())];
    auto rows = grid.rows_with(k, v);
    auto pick = sample_without_replacement(static_cast<int64_t>(rows.size()), opt.points_per_vote,
                                           gen);
    const double m = static_cast<double>(pick.size());
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(sq.begin(), sq.end(), 0.0);
    for (int64_t p : pick) {
      const double* z = codes.row(rows[p]);
      for (int64_t d = 0; d < D; ++d) {
        double u = z[d] * inv_std[d];
        sum[d] += u;
        sq[d] += u * u;
      }
    }
    int64_t best = -1;
    double best_v = std::numeric_limits<double>::infinity();
    for (int64_t d = 0; d < D; ++d) {
      if (inv_std[d] == 0) continue;
      double var = std::max(0.0, (sq[d] - sum[d] * sum[d] / m) / (m - 1));
      if (var < best_v) {
        best_v = var;
        best = d;
      }
    }
    if (best >= 0) votes[best * K + k] += 1;
  }
  int64_t hit = 0;
  for (int64_t d = 0; d < D; ++d) hit += *std::max_element(&votes[d * K], &votes[d * K] + K);
  return static_cast<double>(hit) / static_cast<double>(opt.num_votes);
}

}  // namespace unravel
