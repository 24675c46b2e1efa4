// Disentanglement metrics on a synthetic factor grid (3×4×5×6×6 = 2160 points): every metric on
// the ground-truth factors (≈ 1), pure noise (≈ 0 or chance), and a random rotation of the
// factors (clearly lower); Hoyer on one-hot vs dense codes; Chen's MIG against a brute-force
// computation; histogram MI against hand-computed tables; the encoder path against the array
// path; the MMD and the held-out averaging; the metric registry's switches. The learners:
// test_classifiers.cpp.
#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "engine/check.h"
#include "objectives/metrics/metrics.h"

using namespace unravel;

namespace {

const std::vector<int64_t> kSizes{3, 4, 5, 6, 6};
constexpr int K = 5;

// The grid in row-major order, as a Dataset whose item i is its K classes as f32.
class GridDataset final : public Dataset {
 public:
  explicit GridDataset(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {
    n_ = 1;
    for (int64_t s : sizes_) n_ *= s;
  }
  int64_t size() const override { return n_; }
  Shape item_shape() const override { return Shape{static_cast<int64_t>(sizes_.size())}; }
  std::string name() const override { return "grid"; }
  void get_batch(std::span<const int64_t> idx, Tensor& out) const override {
    check_batch_args(idx, out);
    float* p = out.data<float>();
    std::vector<int64_t> c(sizes_.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      grid_classes(idx[i], sizes_, c);
      for (size_t j = 0; j < c.size(); ++j) p[i * c.size() + j] = float(c[j]);
    }
    out.bump_version();
  }
  int num_factors() const override { return static_cast<int>(sizes_.size()); }
  std::vector<int64_t> factor_sizes() const override { return sizes_; }
  void factor_classes(int64_t i, std::span<int64_t> out) const override {
    grid_classes(i, sizes_, out);
  }
  void factor_values(int64_t i, std::span<double> out) const override {
    std::vector<int64_t> c(sizes_.size());
    grid_classes(i, sizes_, c);
    for (size_t j = 0; j < c.size(); ++j) out[j] = double(c[j]);
  }
  int64_t index_of_factors(std::span<const int64_t> c) const override {
    return grid_index(c, sizes_, "grid");
  }
  using Dataset::factor_classes;
  using Dataset::factor_values;

 private:
  std::vector<int64_t> sizes_;
  int64_t n_ = 0;
};

// Factor code: class centred and scaled to unit-ish spread (computed in f32, as the encoder does).
float factor_code(int64_t c, int64_t size) {
  return (float(c) - 0.5f * float(size - 1)) / (0.3f * float(size));
}

struct Rep {
  CodeTable table;
  std::string name;
};

Tensor grid_factors() {
  GridDataset g(kSizes);
  return g.factor_class_table();
}

// Ground-truth factors as codes (D = K), posterior std 0.01.
Rep factors_rep() {
  Tensor f = grid_factors();
  const int64_t n = f.size(0);
  auto c = f.to_vector<int64_t>();
  std::vector<float> z(n * K), lv(n * K, float(std::log(1e-4)));
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) z[i * K + k] = factor_code(c[i * K + k], kSizes[k]);
  return {{Tensor::from_vector(z, Shape{n, K}), Tensor::from_vector(lv, Shape{n, K}), f, kSizes,
           {}},
          "factors"};
}

// Pure noise codes N(0, 1) with posterior variance 1.
Rep noise_rep(uint64_t seed) {
  Tensor f = grid_factors();
  const int64_t n = f.size(0);
  Generator g(seed);
  std::vector<float> z(n * K), lv(n * K, 0.0f);
  for (float& v : z) v = float(g.normal());
  return {{Tensor::from_vector(z, Shape{n, K}), Tensor::from_vector(lv, Shape{n, K}), f, kSizes,
           {}},
          "noise"};
}

// A random orthogonal mixing of the factor codes (Gram-Schmidt of a Gaussian matrix).
Rep rotated_rep(uint64_t seed) {
  Rep r = factors_rep();
  Generator g(seed);
  std::vector<double> q(K * K);
  for (double& v : q) v = g.normal();
  for (int a = 0; a < K; ++a) {
    for (int b = 0; b < a; ++b) {
      double d = 0;
      for (int i = 0; i < K; ++i) d += q[a * K + i] * q[b * K + i];
      for (int i = 0; i < K; ++i) q[a * K + i] -= d * q[b * K + i];
    }
    double nrm = 0;
    for (int i = 0; i < K; ++i) nrm += q[a * K + i] * q[a * K + i];
    for (int i = 0; i < K; ++i) q[a * K + i] /= std::sqrt(nrm);
  }
  auto z = r.table.codes.to_vector<float>();
  const int64_t n = r.table.codes.size(0);
  std::vector<float> out(z.size());
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < K; ++a) {
      double s = 0;
      for (int b = 0; b < K; ++b) s += q[a * K + b] * z[i * K + b];
      out[i * K + a] = float(s);
    }
  r.table.codes = Tensor::from_vector(out, Shape{n, K});
  r.name = "rotated";
  return r;
}

// Fast settings for the 2160-point grid.
MetricOptions small_options() {
  MetricOptions o;
  o.beta_vae_options.num_train = 600;
  o.beta_vae_options.num_eval = 300;
  o.beta_vae_options.batch = 32;
  o.factor_vae_options.num_train = 600;
  o.factor_vae_options.num_eval = 300;
  o.factor_vae_options.num_variance_estimate = 2000;
  o.mathieu_options.num_votes = 2000;
  o.mathieu_options.points_per_vote = 100;
  o.mig_chen_options.n_samples = 300;
  o.mig_histogram_options.num_train = 2000;
  o.dci_options.num_train = 1500;
  o.dci_options.num_test = 500;
  o.sap_options.num_train = 1500;
  o.sap_options.num_test = 500;
  o.prior_options.num_points = 500;
  o.prior_samples = 500;
  return o;
}

}  // namespace

TEST_CASE("metrics: factors score near 1, noise near 0 / chance, a rotation clearly lower") {
  const MetricOptions opt = small_options();
  Generator g1(7), g2(7), g3(7);
  auto f = score_representation(factors_rep().table, g1, opt);
  auto n = score_representation(noise_rep(3).table, g2, opt);
  auto r = score_representation(rotated_rep(11).table, g3, opt);
  for (auto& [k, v] : f) MESSAGE(k << ": factors " << v << "  noise " << n[k] << "  rotated " << r[k]);

  CHECK(f["beta_vae.eval_accuracy"] > 0.97);
  CHECK(n["beta_vae.eval_accuracy"] < 0.35);  // chance 0.2
  CHECK(r["beta_vae.eval_accuracy"] < f["beta_vae.eval_accuracy"] - 0.05);

  CHECK(f["factor_vae.eval_accuracy"] > 0.97);
  CHECK(n["factor_vae.eval_accuracy"] < 0.4);
  CHECK(r["factor_vae.eval_accuracy"] < f["factor_vae.eval_accuracy"] - 0.1);
  CHECK(f["factor_vae.num_active_dims"] == 5);

  CHECK(f["mathieu_disentanglement"] > 0.97);
  CHECK(n["mathieu_disentanglement"] < 0.4);
  CHECK(r["mathieu_disentanglement"] < f["mathieu_disentanglement"] - 0.1);

  CHECK(f["mig_chen"] > 0.9);
  CHECK(std::abs(n["mig_chen"]) < 0.05);
  CHECK(r["mig_chen"] < f["mig_chen"] - 0.3);

  CHECK(f["mig_histogram"] > 0.9);
  CHECK(f["mig_histogram"] <= 1.0 + 1e-9);  // normalised by the factor's entropy: at most 1
  CHECK(f["mig_chen"] <= 1.0 + 1e-9);
  CHECK(n["mig_histogram"] < 0.05);
  CHECK(r["mig_histogram"] < f["mig_histogram"] - 0.3);

  CHECK(f["dci.disentanglement"] > 0.95);
  CHECK(f["dci.completeness"] > 0.95);
  CHECK(f["dci.informativeness_test"] > 0.95);
  CHECK(n["dci.informativeness_test"] < 0.05);
  CHECK(n["dci.disentanglement"] < 0.5);
  CHECK(r["dci.disentanglement"] < f["dci.disentanglement"] - 0.2);
  CHECK(r["dci.completeness"] < f["dci.completeness"] - 0.2);

  CHECK(f["sap.continuous"] > 0.95);
  CHECK(f["sap.continuous"] <= 1.0);  // the mean gap over factors, each at most 1
  CHECK(f["sap.discrete"] <= 1.0);
  CHECK(n["sap.continuous"] < 0.05);
  CHECK(r["sap.continuous"] < f["sap.continuous"] - 0.2);
  CHECK(f["sap.discrete"] > 0.5);
  CHECK(n["sap.discrete"] < 0.1);
  CHECK(r["sap.discrete"] < f["sap.discrete"] - 0.1);
}

TEST_CASE("metrics: the FactorVAE score and the histogram MIG ignore each latent's scale") {
  // Kim & Mnih divide each latent's within-batch variance by its variance over the data before
  // the vote; without that a latent of small scale wins votes that are not its own. The codes
  // carry noise (std 0.1), so a fixed factor's latent still varies a little; every scale keeps
  // its latent above the pruning threshold (std 0.05).
  Rep r = factors_rep();
  const double scales[K] = {1, 30, 0.2, 5, 0.5};
  std::vector<float> z = r.table.codes.to_vector<float>(), lv = r.table.logvars.to_vector<float>();
  const int64_t n = r.table.codes.size(0);
  Generator noise(5);
  for (float& v : z) v += float(0.1 * noise.normal());
  std::vector<float> zs = z, lvs = lv;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) {
      zs[i * K + k] *= float(scales[k]);
      lvs[i * K + k] += float(2 * std::log(scales[k]));
    }
  CodeTable plain{Tensor::from_vector(z, Shape{n, K}), Tensor::from_vector(lv, Shape{n, K}),
                  r.table.factors, kSizes, {}};
  CodeTable scaled{Tensor::from_vector(zs, Shape{n, K}), Tensor::from_vector(lvs, Shape{n, K}),
                   r.table.factors, kSizes, {}};
  const MetricOptions opt = small_options();
  Generator g1(7), g2(7);
  auto a = score_representation(plain, g1, opt);
  auto b = score_representation(scaled, g2, opt);
  CHECK(a["factor_vae.eval_accuracy"] > 0.97);
  CHECK(b["factor_vae.eval_accuracy"] == doctest::Approx(a["factor_vae.eval_accuracy"]));
  CHECK(b["mig_histogram"] == doctest::Approx(a["mig_histogram"]).epsilon(0.02));
}

TEST_CASE("metrics: the registry's switches run one metric each; together they equal one call") {
  // The names are unique; scored_metric_names are the ones with a switch, in listing order.
  const auto names = names_of(metric_entries());
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  const auto scored = scored_metric_names();
  std::vector<std::string> run_level;
  for (const auto& n : names)
    if (std::find(scored.begin(), scored.end(), n) == scored.end()) run_level.push_back(n);
  CHECK(run_level == std::vector<std::string>{"magnitudes", "heldout"});
  for (const auto& e : metric_entries()) CHECK(e.meaning.size() > 12);
  auto switches = [](const MetricOptions& o) {
    return std::vector<bool>{o.beta_vae, o.factor_vae, o.mathieu, o.mig_chen, o.mig_histogram,
                             o.dci, o.sap, o.hoyer, o.prior_mmd};
  };
  // Each switch belongs to exactly one scored name; run-level names switch everything off.
  std::vector<int> owners(9, 0);
  for (const auto& n : scored) {
    auto s = switches(only_metric(MetricOptions{}, n));
    CHECK(std::count(s.begin(), s.end(), true) == 1);
    for (size_t i = 0; i < s.size(); ++i) owners[i] += s[i];
  }
  CHECK(owners == std::vector<int>(9, 1));
  for (const auto& n : run_level) {
    auto s = switches(only_metric(MetricOptions{}, n));
    CHECK(std::count(s.begin(), s.end(), true) == 0);
  }
  // One call per metric from the same seed gives exactly the values of one all-metrics call
  // (what `unravel eval` relies on), each metric's keys coming from its own call only.
  const MetricOptions opt = small_options();
  const CodeTable table = rotated_rep(5).table;
  Generator g_all(3);
  const auto all = score_representation(table, g_all, opt);
  std::map<std::string, double> merged;
  for (const auto& n : scored) {
    INFO("metric: ", n);
    Generator g(3);
    auto one = score_representation(table, g, only_metric(opt, n));
    CHECK(!one.empty());
    for (const auto& [k, v] : one) CHECK(merged.emplace(k, v).second);
  }
  CHECK(merged == all);
  const std::string msg =
      fmt::format("unknown metric 'accuracy' (valid: {})", fmt::join(names, ", "));
  CHECK_THROWS_WITH_AS(only_metric(opt, "accuracy"), doctest::Contains(msg.c_str()), Error);
}

TEST_CASE("metrics: Hoyer sparsity is 1 on one-hot codes and near 0 on dense codes") {
  Generator g(5);
  const int64_t n = 500, D = 8;
  HostMatrix onehot{n, D, std::vector<double>(n * D, 0.0)};
  HostMatrix dense{n, D, std::vector<double>(n * D)};
  for (int64_t i = 0; i < n; ++i) {
    onehot.data[i * D + g.randint(D)] = 1.0 + g.uniform();
    for (int64_t d = 0; d < D; ++d) dense.data[i * D + d] = g.uniform() < 0.5 ? -1.0 : 1.0;
  }
  CHECK(hoyer_sparsity(onehot) > 0.97);
  CHECK(hoyer_sparsity(dense) < 0.05);
  // Scaling a dim does not change the score (per-dimension standardisation).
  HostMatrix scaled = dense;
  for (int64_t i = 0; i < n; ++i) scaled.data[i * D] *= 100.0;
  CHECK(hoyer_sparsity(scaled) == doctest::Approx(hoyer_sparsity(dense)).epsilon(1e-9));
  CHECK_THROWS_AS(hoyer_sparsity(HostMatrix{1, D, std::vector<double>(D, 1.0)}), Error);
}

TEST_CASE("metrics: per-class mean magnitude") {
  HostMatrix z{4, 2, {1, -2, -3, 4, 5, 0, 0, 0}};
  auto m = class_mean_magnitude(z, {0, 0, 1, 2}, 3);
  REQUIRE(m.size() == 6u);
  CHECK(m[0] == 2.0);
  CHECK(m[1] == 3.0);
  CHECK(m[2] == 5.0);
  CHECK(m[3] == 0.0);
  CHECK_THROWS_AS(class_mean_magnitude(z, {0, 0, 1, 3}, 3), Error);
}

TEST_CASE("metrics: Chen's blocked MIG equals a brute-force computation") {
  const std::vector<int64_t> sizes{2, 3, 4};
  GridDataset grid_data(sizes);
  Tensor ft = grid_data.factor_class_table();
  FactorGrid grid(ft);
  const int64_t N = grid.size(), D = 3;
  Generator g(21);
  HostMatrix mu{N, D, std::vector<double>(N * D)}, lv{N, D, std::vector<double>(N * D)},
      zs{N, D, std::vector<double>(N * D)};
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) {
      mu.data[i * D + d] = 0.5 * double(grid.factor(i, int(d))) + 0.3 * g.normal();
      lv.data[i * D + d] = std::log(0.05 + 0.3 * g.uniform());
      zs.data[i * D + d] = mu.data[i * D + d] + std::exp(0.5 * lv.data[i * D + d]) * g.normal();
    }
  // Round to f32 as the kernel stores them, so the comparison isolates the algorithm.
  for (auto* m : {&mu, &lv, &zs})
    for (double& v : m->data) v = double(float(v));
  ChenMigOptions opt;
  opt.n_samples = 1000;    // >= N: every point's sample is used
  opt.sample_chunk = 5;    // several chunks
  opt.point_block = 7;     // several (ragged) blocks
  ChenMigResult r = mig_chen(mu, lv, grid, g, opt, &zs);

  auto log_q = [&](double x, int64_t n, int64_t d) {
    const double v = std::exp(lv(n, d));
    return -0.5 * (std::log(2 * M_PI * v) + (x - mu(n, d)) * (x - mu(n, d)) / v);
  };
  auto entropy = [&](const std::vector<int64_t>& rows, int64_t d) {
    double h = 0;
    for (int64_t s : rows) {
      double mx = -1e300;
      for (int64_t n : rows) mx = std::max(mx, log_q(zs(s, d), n, d));
      double acc = 0;
      for (int64_t n : rows) acc += std::exp(log_q(zs(s, d), n, d) - mx);
      h -= mx + std::log(acc) - std::log(double(rows.size()));
    }
    return h / double(rows.size());
  };
  std::vector<int64_t> all(N);
  std::iota(all.begin(), all.end(), 0);
  double mig = 0;
  for (int k = 0; k < 3; ++k) {
    std::vector<double> mi(D);
    for (int64_t d = 0; d < D; ++d) {
      const double h = entropy(all, d);
      CHECK(r.marginal_entropies[d] == doctest::Approx(h).epsilon(1e-5));
      double hc = 0;
      for (int64_t v = 0; v < sizes[k]; ++v) {
        auto rows = grid.rows_with(k, v);
        hc += entropy({rows.begin(), rows.end()}, d) / double(sizes[k]);
      }
      CHECK(r.conditional_entropies[k * D + d] == doctest::Approx(hc).epsilon(1e-5));
      mi[d] = std::max(0.0, h - hc) / std::log(double(sizes[k]));
    }
    std::sort(mi.begin(), mi.end(), std::greater<>());
    CHECK(r.gaps[k] == doctest::Approx(mi[0] - mi[1]).epsilon(1e-4));
    mig += (mi[0] - mi[1]) / 3;
  }
  CHECK(r.mig == doctest::Approx(mig).epsilon(1e-4));

  // A factor subset scores only those factors; an unknown factor is an error.
  opt.factors = {2};
  ChenMigResult r2 = mig_chen(mu, lv, grid, g, opt, &zs);
  REQUIRE(r2.gaps.size() == 1u);
  CHECK(r2.gaps[0] == doctest::Approx(r.gaps[2]).epsilon(1e-6));
  opt.factors = {3};
  CHECK_THROWS_AS(mig_chen(mu, lv, grid, g, opt, &zs), Error);
}

TEST_CASE("metrics: Chen's MIG on an accelerator (sim) equals the CPU kernel") {
  const std::vector<int64_t> sizes{3, 4, 5};
  GridDataset grid_data(sizes);
  FactorGrid grid(grid_data.factor_class_table());
  const int64_t N = grid.size(), D = 4;
  Generator g(8);
  HostMatrix mu{N, D, std::vector<double>(N * D)}, lv{N, D, std::vector<double>(N * D)};
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) {
      mu.data[i * D + d] = 0.7 * double(grid.factor(i, int(d % 3))) + 0.4 * g.normal();
      // Wide and very narrow posteriors: far samples underflow most terms of their sum.
      lv.data[i * D + d] = std::log(1e-4 + 0.5 * g.uniform());
    }
  ChenMigOptions host;
  host.n_samples = 40;  // fewer than some subsets: samples drawn from the generator
  ChenMigOptions dev = host;
  dev.device = sim_device(0);
  Generator g0(3);
  const ChenMigResult r = mig_chen(mu, lv, grid, g0, host);
  for (int64_t chunk : {int64_t{1} << 25, int64_t{3 * D * N}, int64_t{1}}) {  // 1, few, S chunks
    CAPTURE(chunk);
    dev.device_chunk_elems = chunk;
    Generator g1(3);
    const ChenMigResult rd = mig_chen(mu, lv, grid, g1, dev);
    REQUIRE(rd.marginal_entropies.size() == r.marginal_entropies.size());
    for (size_t j = 0; j < r.marginal_entropies.size(); ++j)
      CHECK(rd.marginal_entropies[j] == doctest::Approx(r.marginal_entropies[j]).epsilon(1e-5));
    for (size_t j = 0; j < r.conditional_entropies.size(); ++j)
      CHECK(rd.conditional_entropies[j] == doctest::Approx(r.conditional_entropies[j]).epsilon(1e-5));
    CHECK(rd.mig == doctest::Approx(r.mig).epsilon(1e-4));
  }
  CHECK(r.mig > 0.05);  // the codes carry the factors: a comparison of something
}

TEST_CASE("metrics: the Gaussian log-sum-exp kernel handles far points and single blocks") {
  // One point far away from the sample (its term underflows) and one on top of it.
  std::vector<float> mu{0.0f, 100.0f}, a{-0.5f, -0.5f}, b{0.0f, 0.0f}, x{0.0f, 100.0f, 50.0f};
  std::vector<double> out(3);
  gaussian_logsumexp(mu.data(), a.data(), b.data(), 2, x.data(), 3, out.data(), 1);
  CHECK(out[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(out[1] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(out[2] == doctest::Approx(-1250.0 + std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("metrics: histogram discretisation and discrete MI against hand-computed tables") {
  auto b2 = histogram_discretize({0.0, 0.5, 1.0, 0.25, 0.99}, 2);
  CHECK(b2 == std::vector<int64_t>{0, 1, 1, 0, 1});
  auto b20 = histogram_discretize({0.0, 1.0, 0.049, 0.051}, 20);
  CHECK(b20 == std::vector<int64_t>{0, 19, 0, 1});
  auto same = histogram_discretize({3.0, 3.0}, 20);  // degenerate range: one bin
  CHECK(same[0] == same[1]);
  // p(a, b): (0,0) 1/2, (0,1) 1/4, (1,1) 1/4.
  const double mi = discrete_mutual_info({0, 0, 0, 1}, {0, 0, 1, 1});
  CHECK(mi == doctest::Approx(0.5 * std::log(4.0 / 3) + 0.25 * std::log(2.0 / 3) +
                              0.25 * std::log(2.0)));
  CHECK(discrete_mutual_info({0, 0, 1, 1}, {0, 1, 0, 1}) == doctest::Approx(0.0));
  CHECK(discrete_mutual_info({0, 1, 2, 0, 1, 2}, {5, 6, 7, 5, 6, 7}) == doctest::Approx(std::log(3.0)));
  CHECK(discrete_entropy({1, 1, 2, 3}) ==
        doctest::Approx(-0.5 * std::log(0.5) - 2 * 0.25 * std::log(0.25)));
  CHECK(top_gap({0.2, 0.9, 0.5}) == doctest::Approx(0.4));
  CHECK_THROWS_AS(discrete_mutual_info({0, 1}, {0}), Error);
}

TEST_CASE("metrics: DCI from hand-made importance matrices") {
  // Identity: perfectly disentangled and complete.
  CHECK(dci_disentanglement({1, 0, 0, 1}, 2, 2) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(dci_completeness({1, 0, 0, 1}, 2, 2) == doctest::Approx(1.0).epsilon(1e-6));
  // Uniform: zero.
  CHECK(dci_disentanglement({1, 1, 1, 1}, 2, 2) == doctest::Approx(0.0).epsilon(1e-6));
  // One code for both factors: that code is not disentangled, each factor is complete.
  CHECK(dci_disentanglement({1, 1, 0, 0}, 2, 2) == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(dci_completeness({1, 1, 0, 0}, 2, 2) == doctest::Approx(1.0).epsilon(1e-6));
  // Each code's (factor's) score is weighted by its share of the total importance: a clean
  // latent of importance 1 beside a mixed one of 0.2 scores 1/1.2, not the plain mean 1/2.
  CHECK(dci_disentanglement({1, 0, 0.1, 0.1}, 2, 2) == doctest::Approx(1 / 1.2).epsilon(1e-6));
  CHECK(dci_completeness({1, 0.1, 0, 0.1}, 2, 2) == doctest::Approx(1 / 1.2).epsilon(1e-6));
}

TEST_CASE("metrics: the encoder path draws the same points as the array path") {
  GridDataset data(kSizes);
  DatasetFactorSource source(data);
  Encoder enc = [](const Tensor& x) {
    auto v = x.to_vector<float>();
    const int64_t n = x.size(0);
    std::vector<float> z(n * K);
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < K; ++k) z[i * K + k] = factor_code(int64_t(v[i * K + k]), kSizes[k]);
    return EncodedBatch{Tensor::from_vector(z, Shape{n, K}), Tensor()};
  };
  Rep rep = factors_rep();
  // encode_dataset reproduces the table.
  CodeTable enc_table = encode_dataset(data, enc, 333);
  CHECK(enc_table.codes.to_vector<float>() == rep.table.codes.to_vector<float>());
  CHECK(enc_table.factors.to_vector<int64_t>() == rep.table.factors.to_vector<int64_t>());
  CHECK_FALSE(enc_table.logvars.defined());

  const HostMatrix codes = to_host_matrix(rep.table.codes, "test");
  const FactorGrid grid(rep.table.factors);
  REQUIRE(grid.is_full_grid());
  TableSampler ts(codes, grid);
  EncoderSampler es(source, enc, 100);
  CHECK(es.code_dim() == K);
  BetaVaeScoreOptions bo;
  bo.num_train = 200;
  bo.num_eval = 100;
  bo.batch = 8;
  Generator ga(9), gb(9);
  AccuracyScore sa = beta_vae_score(ts, ga, bo), sb = beta_vae_score(es, gb, bo);
  CHECK(sa.train_accuracy == sb.train_accuracy);
  CHECK(sa.eval_accuracy == sb.eval_accuracy);
  CHECK(ga.offset() == gb.offset());
  FactorVaeScoreOptions fo;
  fo.num_train = 100;
  fo.num_eval = 50;
  fo.num_variance_estimate = 500;
  FactorVaeScore fa = factor_vae_score(ts, ga, fo), fb = factor_vae_score(es, gb, fo);
  CHECK(fa.eval_accuracy == fb.eval_accuracy);
  CHECK(fa.dim_to_factor == fb.dim_to_factor);
  DciOptions dopt;
  dopt.num_train = 300;
  dopt.num_test = 100;
  DciResult da = dci(ts, ga, dopt), db = dci(es, gb, dopt);
  CHECK(da.importance == db.importance);

  // score_encoder = score_representation of the encoded table (Chen's MIG skipped: no logvars).
  MetricOptions mo = small_options();
  Generator g1(4), g2(4);
  auto s1 = score_encoder(data, enc, g1, mo, 500);
  CodeTable t = rep.table;
  t.logvars = Tensor();
  auto s2 = score_representation(t, g2, mo);
  for (auto& [k, v] : s1) CHECK_MESSAGE(v == s2[k], k);
  CHECK(s1.size() == s2.size());
  CHECK(s1.count("mig_chen") == 0);
  CHECK(s1.count("mig_histogram") == 1);
}

TEST_CASE("metrics: FactorGrid indexes rows and rejects bad classes") {
  // An incomplete, shuffled grid: rows_with / row_of still work.
  FactorGrid g({1, 0, 0, 1, 1, 1}, 3, 2, {2, 2});
  CHECK_FALSE(g.is_full_grid());
  CHECK(g.rows_with(0, 1).size() == 2u);
  CHECK(g.rows_with(1, 0).size() == 1u);
  CHECK(g.row_of(std::vector<int64_t>{0, 1}) == 1);
  CHECK(g.row_of(std::vector<int64_t>{0, 0}) == -1);
  CHECK(g.factor_entropy(0) == doctest::Approx(-(1.0 / 3) * std::log(1.0 / 3) - (2.0 / 3) * std::log(2.0 / 3)));
  CHECK_THROWS_AS(FactorGrid({0, 2}, 1, 2, {2, 2}), Error);
  CodeTable bad;
  bad.codes = Tensor::zeros(Shape{3, 2});
  bad.factors = Tensor::zeros(Shape{4, 2}, DType::i64);
  CHECK_THROWS_AS(check_code_table(bad, "test"), Error);
  Generator gen(1);
  auto s = sample_without_replacement(10, 10, gen);
  std::sort(s.begin(), s.end());
  std::vector<int64_t> want(10);
  std::iota(want.begin(), want.end(), 0);
  CHECK(s == want);
}

TEST_CASE("metrics: MMD to the prior is ~0 for prior samples and positive for a shifted set") {
  Generator g(8);
  HostMatrix p = standard_normal_samples(400, 3, g);
  HostMatrix q = standard_normal_samples(300, 3, g);
  HostMatrix shifted = q;
  for (double& v : shifted.data) v += 1.5;
  const double same = mmd_imq(q, p), far = mmd_imq(shifted, p);
  CHECK(std::abs(same) < 0.05);
  CHECK(far > 20 * std::abs(same));
  CHECK(mmd_imq(shifted, p, true) > 20 * std::abs(mmd_imq(q, p, true)));
  auto m = prior_fit_mmd(q, nullptr, p, g);
  CHECK(m.count("mmd_imq_full") == 1);
  CHECK(m.count("mmd_imq_per_dim") == 1);
}

TEST_CASE("metrics: held-out averaging weights batches by size") {
  GridDataset data({2, 5});  // 10 items; item i holds its classes (i / 5, i % 5)
  auto avg = average_over_batches(data, 4, [](const Tensor& b) {
    auto v = b.to_vector<float>();
    double s = 0;
    for (int64_t i = 0; i < b.size(0); ++i) s += v[i * 2 + 1];
    return std::map<std::string, double>{{"second", s / double(b.size(0))}, {"one", 1.0}};
  });
  CHECK(avg["second"] == doctest::Approx(2.0));  // mean of 0..4 twice
  CHECK(avg["one"] == doctest::Approx(1.0));
  auto part = average_over_batches(data, 3, [](const Tensor& b) {
    return std::map<std::string, double>{{"n", double(b.size(0))}};
  }, 5);
  CHECK(part["n"] == doctest::Approx((3.0 * 3 + 2.0 * 2) / 5));
}
