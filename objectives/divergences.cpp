// Per-datapoint KL, aggregate divergences and the TC decomposition (see divergences.h).
#include "objectives/divergences.h"

#include <cmath>
#include <vector>

#include "ops/ops.h"

namespace unravel {

namespace {
constexpr double kImqScales[] = {0.1, 0.2, 0.5, 1.0, 2.0, 5.0};
constexpr int kNumImqScales = 6;

void check_qz(const DiagonalGaussian& q, const Tensor& z, const char* fn) {
  UNRAVEL_CHECK(q.mean().defined() && q.mean().dim() == 2,
                "{}: posterior mean must be (B, D), got {}", fn,
                q.mean().defined() ? q.mean().desc() : std::string("undefined"));
  if (z.defined())
    UNRAVEL_CHECK((z.dim() == 2 || z.dim() == 3) && z.size(-1) == q.dim() &&
                      z.size(-2) == q.batch(),
                  "{}: samples {} must be (B, D) or (K, B, D) for posterior {}", fn, z.desc(),
                  q.mean().desc());
}

// The IMQ scales C_s = c_mult·s of the kernel k(d²) = Σ_s C_s/(C_s + d²).
std::vector<double> imq_scales(double c_mult) {
  std::vector<double> c;
  for (double s : kImqScales) c.push_back(c_mult * s);
  return c;
}

// The shared MMD² estimator given the kernel sums and each diagonal element's kernel value.
Tensor mmd_estimate(const Tensor& kxx, const Tensor& kyy, const Tensor& kxy, int64_t b,
                    double diag) {
  double bd = static_cast<double>(b);
  Tensor within = (kxx + kyy - 2.0 * bd * diag) * (1.0 / (bd - 1.0));
  return (within - kxy * (2.0 / bd)) * (1.0 / bd);
}

void check_xy(const Tensor& x, const Tensor& y, const char* fn) {
  UNRAVEL_CHECK(x.dim() == 2 && x.shape() == y.shape() && x.size(0) >= 2,
                "{}: want x and y of the same shape (B >= 2, D), got {} and {}", fn, x.desc(),
                y.desc());
}
}  // namespace

Tensor first_sample(const Tensor& z) {
  if (z.dim() == 3) return squeeze(slice(z, 0, 0, 1), 0);
  return z;
}

Tensor kl_monte_carlo(const DiagonalGaussian& q, const Prior& p, const Tensor& z) {
  check_qz(q, z, "kl_monte_carlo");
  UNRAVEL_CHECK(z.defined(), "kl_monte_carlo: needs the posterior samples z");
  Tensor d = q.log_prob_sum(z) - p.log_prob_sum(z);  // (K, B) or (B)
  return z.dim() == 3 ? mean(d, {0}) : d;
}

Tensor kl_divergence(const DiagonalGaussian& q, const Prior& p, const Tensor& z) {
  Tensor a = p.analytic_kl(q);
  if (a.defined()) return sum(a, {-1});
  return kl_monte_carlo(q, p, z);
}

Tensor kl_divergence_dims(const DiagonalGaussian& q, const Prior& p, const Tensor& z) {
  Tensor a = p.analytic_kl(q);
  if (a.defined()) return a;
  check_qz(q, z, "kl_divergence_dims");
  UNRAVEL_CHECK(p.factorised(), "kl_divergence_dims: prior '{}' has no closed-form KL and is not "
                                "factorised, so there is no per-dimension KL", p.name());
  UNRAVEL_CHECK(z.defined(), "kl_divergence_dims: needs the posterior samples z");
  Tensor d = q.log_prob(z) - p.log_prob(z);
  return z.dim() == 3 ? mean(d, {0}) : d;
}

Tensor kld_inc(const DiagonalGaussian& q, const Prior& p, const Tensor& prior_samples) {
  check_qz(q, Tensor(), "kld_inc");
  Tensor zp = match_like(prior_samples, q.mean());
  UNRAVEL_CHECK(zp.dim() == 2 && zp.size(1) == q.dim(),
                "kld_inc: prior samples {} must be (B', D) with D = {}", zp.desc(), q.dim());
  Tensor table = sum(pairwise_log_density(zp, q.mean(), q.logvar()), {-1});  // (B', B)
  Tensor log_q = logsumexp(table, {1}) - std::log(static_cast<double>(q.batch()));
  return mean(p.log_prob_sum(zp) - log_q);
}

// Both estimators sum the kernel over all pairs with the fused ops/kernel_sums.h op (one pass,
// no (B, B, D) temporaries; xx and yy take its a == b path).
Tensor mmd_dim(const Tensor& x, const Tensor& y) {
  check_xy(x, y, "mmd_dim");
  const std::vector<double> c = imq_scales(2.0);
  const double diag = kNumImqScales * static_cast<double>(x.size(1));
  return mmd_estimate(pairwise_imq_sum(x, x, c), pairwise_imq_sum(y, y, c),
                      pairwise_imq_sum(x, y, c), x.size(0), diag);
}

Tensor mmd_full(const Tensor& x, const Tensor& y) {
  check_xy(x, y, "mmd_full");
  const std::vector<double> c = imq_scales(2.0 * static_cast<double>(x.size(1)));
  return mmd_estimate(pairwise_imq_sum_full(x, x, c), pairwise_imq_sum_full(y, y, c),
                      pairwise_imq_sum_full(x, y, c), x.size(0), kNumImqScales);
}

Tensor kl_mws(const DiagonalGaussian& q, const Tensor& z, const Prior& p) {
  check_qz(q, z, "kl_mws");
  Tensor z1 = first_sample(z);
  Tensor table = sum(pairwise_log_density(z1, q.mean(), q.logvar()), {-1});  // (B, B)
  Tensor log_q = logsumexp(table, {1}) - std::log(static_cast<double>(q.batch()));
  return mean(log_q - p.log_prob_sum(z1));
}

namespace {
class KldIncDivergence : public AggregateDivergence {
 public:
  std::string name() const override { return "kld_inc"; }
  Tensor operator()(const DiagonalGaussian& q, const Tensor&, const Prior& p,
                    Generator& gen) const override {
    return kld_inc(q, p, p.sample(Shape{q.batch()}, gen));
  }
};
class MmdDivergence : public AggregateDivergence {
 public:
  explicit MmdDivergence(bool per_dim) : per_dim_(per_dim) {}
  std::string name() const override { return per_dim_ ? "mmd_dim" : "mmd_full"; }
  Tensor operator()(const DiagonalGaussian& q, const Tensor& z, const Prior& p,
                    Generator& gen) const override {
    check_qz(q, z, per_dim_ ? "mmd_dim" : "mmd_full");
    Tensor y = first_sample(z);
    Tensor x = match_like(p.sample(Shape{y.size(0)}, gen), y);
    return per_dim_ ? mmd_dim(x, y) : mmd_full(x, y);
  }

 private:
  bool per_dim_;
};
class KlMwsDivergence : public AggregateDivergence {
 public:
  std::string name() const override { return "kl_mws"; }
  Tensor operator()(const DiagonalGaussian& q, const Tensor& z, const Prior& p,
                    Generator&) const override {
    return kl_mws(q, z, p);
  }
};
}  // namespace

std::unique_ptr<AggregateDivergence> make_aggregate_divergence(const std::string& name) {
  if (name == "kld_inc") return std::make_unique<KldIncDivergence>();
  if (name == "mmd_dim") return std::make_unique<MmdDivergence>(true);
  if (name == "mmd_full") return std::make_unique<MmdDivergence>(false);
  if (name == "kl_mws") return std::make_unique<KlMwsDivergence>();
  UNRAVEL_CHECK(false, "divergence: unknown name '{}' (valid: kld_inc, mmd_dim, mmd_full, kl_mws)",
                name);
}

// Stratified weights. Chen et al.'s App. C.2 estimator for a batch {n*, n_1, ..., n_m} (m = B−1)
// is (1/N)·r(n*) + (1/m)·Σ_{k<m} r(n_k) + (N−m)/(N·m)·r(n_m): the datapoint that generated z_i
// gets 1/N, one designated other datapoint gets S = (N−m)/(N·m), the remaining m−1 get 1/m.
// The published code (rtqichen/beta-tcvae `log_importance_weight_matrix`, copied by YannDubs)
// sets M = B − 1 and then writes flat strides of M + 1 = B, which lands on COLUMNS 0 and 1
// rather than on the diagonal and the entry after it (its final W[M−1, 0] = S is the wrap-around
// of the intended super-diagonal). That gives every row's weight 1/N to datapoint 0 instead of
// to z_i's own datapoint. We follow the paper's definition: diagonal 1/N, (i, i+1 mod B) = S.
Tensor log_importance_weight_matrix(int64_t batch, int64_t dataset_size, DType dtype,
                                    Device device) {
  UNRAVEL_CHECK(batch >= 2 && dataset_size >= batch,
                "log_importance_weight_matrix: need 2 <= batch <= dataset size, got batch {} N {}",
                batch, dataset_size);
  const double n = static_cast<double>(dataset_size), m = static_cast<double>(batch - 1);
  const double s = (n - m) / (n * m);
  std::vector<double> w(static_cast<size_t>(batch * batch), 1.0 / m);
  for (int64_t i = 0; i < batch; ++i) {
    w[static_cast<size_t>(i * batch + i)] = 1.0 / n;
    w[static_cast<size_t>(i * batch + (i + 1) % batch)] = s;
  }
  for (double& x : w) x = std::log(x);
  Tensor t = Tensor::from_vector(w, Shape{batch, batch});
  return to(to(t, dtype), device);
}

TcDecomposition tc_decomposition(const DiagonalGaussian& q, const Tensor& z, const Prior& p,
                                 int64_t dataset_size, TcSampling sampling) {
  check_qz(q, z, "tc_decomposition");
  UNRAVEL_CHECK(z.defined(), "tc_decomposition: needs the posterior samples z");
  const int64_t b = q.batch();
  UNRAVEL_CHECK(dataset_size >= b, "tc_decomposition: dataset size {} smaller than the batch {}",
                dataset_size, b);
  Tensor z1 = first_sample(z);
  Tensor table = pairwise_log_density(z1, q.mean(), q.logvar());  // (B, B, D)
  TcDecomposition r;
  r.log_qz_x = q.log_prob_sum(z1);
  r.log_pz = p.log_prob_sum(z1);
  if (sampling == TcSampling::mws) {
    const double c = std::log(static_cast<double>(b) * static_cast<double>(dataset_size));
    r.log_qz = logsumexp(sum(table, {2}), {1}) - c;
    r.log_prod_qz = sum(logsumexp(table, {1}) - c, {1});
  } else {
    // The same weights every step: built once per (B, N, device, dtype).
    Tensor lw = cached_constant(fmt::format("tc_mss_log_weights/{}/{}", b, dataset_size),
                                table.device(), table.dtype(), [&] {
                                  return log_importance_weight_matrix(b, dataset_size, DType::f64);
                                });
    r.log_qz = logsumexp(sum(table, {2}) + lw, {1});
    r.log_prod_qz = sum(logsumexp(table + unsqueeze(lw, -1), {1}), {1});
  }
  r.mi = mean(r.log_qz_x - r.log_qz);
  r.tc = mean(r.log_qz - r.log_prod_qz);
  r.dwkl = mean(r.log_prod_qz - r.log_pz);
  return r;
}

}  // namespace unravel
