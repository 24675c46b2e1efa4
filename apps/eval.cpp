// `unravel eval`: the metrics of a trained run, or of a representation given as .npy arrays.
//
// A run is evaluated on what its dataset offers:
//  * factors (dSprites): the posterior means and log-variances of `table_rows` items of the grid
//    (all 737 280 at --budget full; a uniform random subset otherwise, which the table-based
//    samplers draw from) scored by score_representation — β-VAE score, FactorVAE score and
//    Mathieu et al.'s variant, MIG (Chen et al.'s estimator "mig_chen", shape excluded on dSprites,
//    and disentanglement_lib's histogram "mig_histogram"), DCI, SAP, Hoyer sparsity;
//  * labels (Fashion-MNIST): Hoyer sparsity and per-class mean |z| on the test split;
//  * any dataset: reconstruction NLL, KL, ELBO, IWAE log-likelihood bound (K samples) and the
//    per-pixel squared error of the decoded mean on a held-out set (Fashion-MNIST: the test
//    split; others: a random subset of the data), and the MMD between the aggregate posterior
//    and samples of the run's own prior.
// Each metric runs in its own call of score_representation with the others switched off, from a
// fresh Generator(seed): the metrics fork their streams in a fixed order, so the values equal
// one all-metrics call, and progress can be reported between metrics.
#include "apps/eval.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "apps/common/encoding.h"
#include "apps/common/progress.h"
#include "apps/common/run_dir.h"
#include "apps/common/tensorboard.h"
#include "apps/train_tensorboard.h"
#include "engine/check.h"
#include "engine/io/npy.h"
#include "objectives/losses/iwae.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

EvalBudget eval_budget(const std::string& name) {
  EvalBudget b;
  b.name = name;
  MetricOptions& m = b.metrics;
  if (name == "full" || name == "paper") {
    b.name = "full";
    return b;  // every default is the papers'
  }
  if (name == "quick") {
    b.table_rows = 60000;
    b.heldout = 2000;
    b.iwae_samples = 100;
    b.stats_items = 5000;
    m.beta_vae_options.num_train = 2000;
    m.beta_vae_options.num_eval = 1000;
    m.factor_vae_options.num_train = 2000;
    m.factor_vae_options.num_eval = 1000;
    m.factor_vae_options.num_variance_estimate = 5000;
    m.mathieu_options.num_votes = 5000;
    m.mathieu_options.points_per_vote = 500;
    m.mig_chen_options.n_samples = 2000;
    m.mig_histogram_options.num_train = 5000;
    m.dci_options.num_train = 2000;
    m.dci_options.num_test = 1000;
    m.sap_options.num_train = 2000;
    m.sap_options.num_test = 1000;
    m.prior_options.num_points = 2000;
    m.prior_samples = 2000;
    return b;
  }
  UNRAVEL_CHECK(name == "smoke", "eval: unknown --budget '{}' (valid: smoke, quick, full)", name);
  b.table_rows = 3000;
  b.heldout = 128;
  b.iwae_samples = 8;
  b.stats_items = 500;
  m.beta_vae_options.batch = 16;
  m.beta_vae_options.num_train = 300;
  m.beta_vae_options.num_eval = 150;
  m.beta_vae_options.classifier.max_iter = 100;
  m.factor_vae_options.batch = 32;
  m.factor_vae_options.num_train = 200;
  m.factor_vae_options.num_eval = 100;
  m.factor_vae_options.num_variance_estimate = 1000;
  m.mathieu_options.num_votes = 500;
  m.mathieu_options.points_per_vote = 100;
  m.mig_chen_options.n_samples = 500;
  m.mig_histogram_options.num_train = 1000;
  m.dci_options.num_train = 500;
  m.dci_options.num_test = 250;
  m.sap_options.num_train = 500;
  m.sap_options.num_test = 250;
  m.prior_options.num_points = 500;
  m.prior_samples = 500;
  return b;
}

namespace {

std::set<std::string> parse_metric_list(const std::string& list) {
  const auto names = names_of(metric_entries());
  const std::set<std::string> valid(names.begin(), names.end());
  std::set<std::string> out;
  if (list.empty() || list == "all") return valid;
  std::stringstream ss(list);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.empty()) continue;
    UNRAVEL_CHECK(valid.count(tok), "eval: unknown metric '{}' in --metrics (valid: all, {})", tok,
                  fmt::join(names, ", "));
    out.insert(tok);
  }
  UNRAVEL_CHECK(!out.empty(), "eval: --metrics '{}' names no metric (valid: all, {})", list,
                fmt::join(names, ", "));
  return out;
}

/// Runs the factor metrics in `wanted` one by one on `table` (in score_representation's order),
/// reporting progress.
void score_table(const CodeTable& table, const std::set<std::string>& wanted, uint64_t seed,
                 const MetricOptions& base, std::map<std::string, double>& out) {
  std::vector<std::string> order;
  for (const auto& n : scored_metric_names())
    if (wanted.count(n) && (n != "mig_chen" || table.logvars.defined())) order.push_back(n);
  for (size_t i = 0; i < order.size(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "metric %zu/%zu: %s ...", i + 1, order.size(), order[i].c_str());
    std::fflush(stderr);
    Generator gen(seed);
    auto r = score_representation(table, gen, only_metric(base, order[i]));
    out.insert(r.begin(), r.end());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, " %s\n", format_duration(s).c_str());
  }
}

void print_table(const EvalResult& r, const std::string& title) {
  std::printf("%s\n", title.c_str());
  size_t w = 10;
  for (const auto& [k, v] : r.values) w = std::max(w, k.size());
  std::printf("  %-*s  %s\n", static_cast<int>(w), "metric", "value");
  std::printf("  %s  %s\n", std::string(w, '-').c_str(), "----------");
  for (const auto& [k, v] : r.values) std::printf("  %-*s  %.4f\n", static_cast<int>(w), k.c_str(), v);
  if (!r.class_magnitudes.empty()) {
    std::printf("  per-class mean |z| (rows: classes, columns: latents)\n");
    for (size_t c = 0; c < r.class_magnitudes.size(); ++c) {
      std::printf("  %-12s", r.class_names[c].c_str());
      for (double v : r.class_magnitudes[c]) std::printf(" %5.2f", v);
      std::printf("\n");
    }
  }
}

void write_json(const std::string& path, const EvalResult& r, json extra) {
  extra["metrics"] = r.values;
  if (!r.class_magnitudes.empty()) {
    extra["class_magnitudes"] = r.class_magnitudes;
    extra["class_names"] = r.class_names;
  }
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  write_text_atomic(path, extra.dump(2));
}

/// Held-out reconstruction NLL, KL, ELBO, IWAE bound and pixel MSE, averaged per item.
std::map<std::string, double> heldout_metrics(Run& r, const Dataset& data,
                                              const std::vector<int64_t>& idx, int64_t k,
                                              Generator& gen) {
  NoGradGuard ng;
  r.vae->eval();
  const int64_t batch = 32;
  std::map<std::string, double> acc = {{"heldout.recon_nll", 0}, {"heldout.kl", 0},
                                       {"heldout.elbo", 0},      {"heldout.mse", 0},
                                       {fmt::format("heldout.iwae_k{}", k), 0}};
  const int64_t n = static_cast<int64_t>(idx.size());
  Progress bar("held-out", n, 1.0, 10.0);
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t b = std::min(batch, n - s);
    std::vector<int64_t> part(idx.begin() + s, idx.begin() + s + b);
    Tensor x = to(gather_items(data, part), r.device);
    VaeOutputs out = r.vae->forward(x, gen, 1);
    Tensor img = r.vae->decode(out.posterior.mean());
    img = r.vae->likelihood().kind == LikelihoodKind::bernoulli ? sigmoid(img) : clamp(img, 0.0, 1.0);
    auto decode = [&](const Tensor& z) { return r.vae->decode(z); };
    Tensor iwae = iwae_bound(x, out.posterior, *r.prior, r.vae->likelihood(), decode, k, gen,
                             std::max<int64_t>(1, 1024 / b));
    // One transfer per batch.
    std::vector<double> v = read_scalars({mean(reconstruction_log_lik(out)),
                                          mean(posterior_kl(out, *r.prior)),
                                          mean(square(img - match_like(x, img))), mean(iwae)});
    const double nll = -v[0], kl = v[1], mse = v[2], iw = v[3];
    acc["heldout.recon_nll"] += nll * b;
    acc["heldout.kl"] += kl * b;
    acc["heldout.elbo"] += -(nll + kl) * b;
    acc["heldout.mse"] += mse * b;
    acc[fmt::format("heldout.iwae_k{}", k)] += iw * b;
    bar.update(s + b);
  }
  bar.finish();
  for (auto& [name, v] : acc) v /= static_cast<double>(std::max<int64_t>(n, 1));
  return acc;
}

std::vector<std::string> class_names_of(const Dataset& data) {
  std::vector<std::string> names;
  static const char* fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  bool is_fashion = data.name().find("fashion") != std::string::npos && data.num_classes() == 10;
  for (int64_t c = 0; c < data.num_classes(); ++c)
    names.push_back(is_fashion ? fashion[c] : fmt::format("class {}", c));
  return names;
}

}  // namespace

EvalResult evaluate_run(const EvalOptions& o, bool print) {
  const EvalBudget budget = eval_budget(o.budget);
  const std::set<std::string> wanted = parse_metric_list(o.metrics);
  int64_t step = 0;
  if (o.write)  // metrics take minutes: refuse an unwritable destination before computing them
    require_writable_dir(fs::path(o.out.empty() ? (fs::path(o.run) / "metrics.json").string() : o.out)
                             .parent_path().string(), "eval");
  Run r = load_trained(o.run, true, &step, o.device);
  const Dataset& data = *r.data;
  EvalResult res;
  Generator gen(o.seed + 0xe7a1);

  if (data.num_factors() > 0) {
    std::vector<int64_t> rows = subset_indices(data.size(), budget.table_rows, gen);
    Encoded e = encode_items(*r.vae, data, rows, 256, "encode grid");
    CodeTable table;
    table.codes = e.mu;
    table.logvars = e.logvar;
    Tensor f = data.factor_class_table();
    table.factors = rows.size() == static_cast<size_t>(data.size())
                        ? f
                        : index_select(f, 0, Tensor::from_vector(rows, Shape{int64_t(rows.size())}));
    table.factor_sizes = data.factor_sizes();
    table.factor_names = data.factor_names();
    std::set<std::string> table_metrics = wanted;
    table_metrics.erase("prior_mmd");
    MetricOptions metrics = budget.metrics;
    metrics.mig_chen_options.device = r.device;  // the aggregate-posterior sums where the run is
    score_table(table, table_metrics, o.seed, metrics, res.values);
  }

  // Statistics on a held-out split (test split where the dataset has one).
  std::unique_ptr<Dataset> test_owned;
  const Dataset* test = &data;
  if (r.config.dataset == "fashion-mnist" || r.config.dataset == "mnist" ||
      r.config.dataset == "pinwheel") {
    test_owned = make_dataset(r.config, true);
    test = test_owned.get();
  }
  bool need_stats = wanted.count("prior_mmd") || (data.num_factors() == 0 && wanted.count("hoyer")) ||
                    (test->has_labels() && wanted.count("magnitudes"));
  if (need_stats) {
    std::vector<int64_t> items = subset_indices(test->size(), budget.stats_items, gen);
    Encoded e = encode_items(*r.vae, *test, items, 256, "encode held-out");
    HostMatrix mu = to_host_matrix(e.mu, "eval"), lv = to_host_matrix(e.logvar, "eval");
    if (data.num_factors() == 0 && wanted.count("hoyer")) res.values["hoyer_sparsity"] = hoyer_sparsity(mu);
    if (test->has_labels() && wanted.count("magnitudes")) {
      std::vector<int64_t> labels;
      for (int64_t i : items) labels.push_back(test->label(i));
      std::vector<double> m = class_mean_magnitude(mu, labels, test->num_classes());
      const int64_t d = mu.cols;
      for (int64_t c = 0; c < test->num_classes(); ++c)
        res.class_magnitudes.emplace_back(m.begin() + c * d, m.begin() + (c + 1) * d);
      res.class_names = class_names_of(*test);
    }
    if (wanted.count("prior_mmd")) {
      Generator pg(o.seed + 0x9e11);
      Tensor ps;
      {
        NoGradGuard ng;
        ps = to(r.prior->sample(Shape{budget.metrics.prior_samples}, pg), DType::f64);
      }
      HostMatrix prior = to_host_matrix(ps, "eval (prior samples)");
      auto m = prior_fit_mmd(mu, &lv, prior, pg, budget.metrics.prior_options);
      res.values.insert(m.begin(), m.end());
    }
  }
  if (wanted.count("heldout")) {
    int64_t n = o.heldout >= 0 ? o.heldout : budget.heldout;
    if (n > 0) {
      Generator hg(o.seed + 0x4e1d);
      std::vector<int64_t> items = subset_indices(test->size(), n, hg);
      auto h = heldout_metrics(r, *test, items, budget.iwae_samples, hg);
      res.values.insert(h.begin(), h.end());
    }
  }
  std::string out = o.out.empty() ? (fs::path(o.run) / "metrics.json").string() : o.out;
  if (!o.write) {
    if (print) print_table(res, fmt::format("metrics of {} (step {}, budget {})", o.run, step, budget.name));
    return res;
  }
  json info = {{"run", o.run},          {"step", step},
               {"dataset", data.name()}, {"budget", budget.name},
               {"seed", o.seed},         {"table_rows", budget.table_rows},
               {"heldout_items", o.heldout >= 0 ? o.heldout : budget.heldout},
               {"iwae_samples", budget.iwae_samples},
               {"mig_reported", "mig_chen = Chen et al.'s estimator (shape excluded on dSprites); "
                                "mig_histogram = disentanglement_lib's"}};
  write_json(out, res, info);
  if (r.config.tensorboard) {
    // Beside the training curves: metrics/<name> at the checkpoint's step, in a file of its own.
    // Best effort: a run folder we may not write to (--out elsewhere) still gets its metrics.
    try {
      EventWriter tb(tensorboard_dir(o.run));
      TbSummary s;
      for (const auto& [name, v] : res.values) s.scalar("metrics/" + name, v);
      tb.write(step, s);
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: the metrics were not added to TensorBoard: %s\n", e.what());
    }
  }
  if (print) print_table(res, fmt::format("metrics of {} (step {}, budget {}) -> {}", o.run, step,
                                          budget.name, out));
  return res;
}

namespace {

/// Refuses a NaN or Inf in a host float array, naming its row and column.
void check_finite(const Tensor& t, const std::string& what) {
  Tensor h = contiguous(to(to(t, kCPU), DType::f64));
  const double* v = h.data<double>();
  const int64_t cols = h.dim() == 2 ? h.size(1) : 1;
  for (int64_t i = 0; i < h.numel(); ++i)
    UNRAVEL_CHECK(std::isfinite(v[i]), "eval: {} holds {} at row {}, column {} (every value must "
                  "be finite)", what, std::isnan(v[i]) ? "NaN" : "Inf", i / cols, i % cols);
}

}  // namespace

EvalResult score_arrays(const ArrayScoreInputs& in, const EvalOptions& o) {
  const EvalBudget budget = eval_budget(o.budget);
  std::set<std::string> wanted = parse_metric_list(o.metrics);
  // The run-level metrics (no score_representation switch) need a run, not arrays.
  const auto scored = scored_metric_names();
  for (const auto& n : names_of(metric_entries())) {
    if (std::find(scored.begin(), scored.end(), n) != scored.end()) continue;
    UNRAVEL_CHECK(o.metrics == "all" || !wanted.count(n),
                  "eval: --metrics {} needs a run directory, not arrays", n);
    wanted.erase(n);
  }
  Tensor z = in.codes, f = in.factors;
  const std::string &zn = in.codes_name, &fn = in.factors_name;
  UNRAVEL_CHECK(z.dim() == 2, "eval: {} must be a 2-D array [N, D], got shape {}", zn,
                z.shape().str());
  UNRAVEL_CHECK(z.dtype() == DType::f32 || z.dtype() == DType::f64,
                "eval: {} must hold float32/float64, got {}", zn, z.desc());
  if (f.dim() == 1) f = reshape(f, Shape{f.size(0), 1});
  UNRAVEL_CHECK(f.dim() == 2, "eval: {} must be [N, K] class indices, got shape {}", fn,
                f.shape().str());
  UNRAVEL_CHECK(f.dtype() == DType::i64 || f.dtype() == DType::i32 || f.dtype() == DType::u8,
                "eval: {} must hold integer class indices, got {}", fn, f.desc());
  UNRAVEL_CHECK(f.size(0) == z.size(0),
                "eval: rows of {} ({}) and {} ({}) must be aligned (same N)", zn, z.shape().str(),
                fn, f.shape().str());
  UNRAVEL_CHECK(z.size(0) >= 2 && z.size(1) >= 1,
                "eval: {} needs at least 2 rows and 1 column, got shape {}", zn, z.shape().str());
  // Refused up front, before any metric runs (a NaN would otherwise fail the sixth metric).
  check_finite(z, zn);
  CodeTable t;
  t.codes = z;
  t.factors = contiguous(to(f, DType::i64));
  if (in.logvar.defined()) {
    const Tensor& lv = in.logvar;
    UNRAVEL_CHECK(lv.shape() == z.shape(),
                  "eval: {} has shape {} but {} has shape {} (they must match)", in.logvar_name,
                  lv.shape().str(), zn, z.shape().str());
    UNRAVEL_CHECK(lv.dtype() == DType::f32 || lv.dtype() == DType::f64,
                  "eval: {} must hold float32/float64, got {}", in.logvar_name, lv.desc());
    check_finite(lv, in.logvar_name);
    t.logvars = lv;
  }
  std::vector<int64_t> fv = t.factors.to_vector<int64_t>();
  for (int64_t v : fv)
    UNRAVEL_CHECK(v >= 0, "eval: {} holds a negative class index {}", fn, v);
  if (f.size(1) == 5) {
    std::vector<int64_t> mx(5, 0);
    for (size_t i = 0; i < fv.size(); ++i) mx[i % 5] = std::max(mx[i % 5], fv[i] + 1);
    if (mx == std::vector<int64_t>{3, 6, 40, 32, 32})
      t.factor_names = {"shape", "scale", "orientation", "posX", "posY"};
  }
  EvalResult res;
  score_table(t, wanted, o.seed, budget.metrics, res.values);
  return res;
}

EvalResult evaluate_arrays(const EvalOptions& o, bool print) {
  UNRAVEL_CHECK(!o.codes.empty() && !o.factors.empty(),
                "eval: scoring arrays needs both --codes Z.npy and --factors F.npy");
  eval_budget(o.budget);       // the flags are checked before any file is read
  parse_metric_list(o.metrics);
  ArrayScoreInputs in;
  in.codes = load_npy(o.codes);
  in.factors = load_npy(o.factors);
  in.codes_name = "--codes " + o.codes;
  in.factors_name = "--factors " + o.factors;
  if (!o.logvar.empty()) {
    in.logvar = load_npy(o.logvar);
    in.logvar_name = "--logvar " + o.logvar;
  }
  EvalResult res = score_arrays(in, o);
  const Tensor& z = in.codes;
  json info = {{"codes", o.codes}, {"factors", o.factors}, {"logvar", o.logvar},
               {"rows", z.size(0)}, {"latents", z.size(1)}, {"budget", eval_budget(o.budget).name},
               {"seed", o.seed}};
  if (!o.out.empty()) write_json(o.out, res, info);
  if (print) print_table(res, fmt::format("metrics of {} ({} rows x {} dims, budget {}){}", o.codes,
                                          z.size(0), z.size(1), eval_budget(o.budget).name,
                                          o.out.empty() ? "" : " -> " + o.out));
  return res;
}

int eval_command(const EvalOptions& o) {
  bool arrays = !o.codes.empty() || !o.factors.empty() || !o.logvar.empty();
  UNRAVEL_CHECK(!(arrays && !o.run.empty()),
                "eval: give either a run directory or --codes/--factors, not both");
  UNRAVEL_CHECK(arrays || !o.run.empty(),
                "eval: give a run directory (`unravel eval RUN`) or --codes Z.npy --factors F.npy");
  if (arrays) evaluate_arrays(o);
  else evaluate_run(o);
  return 0;
}

}  // namespace unravel::apps
