// score_representation / score_encoder: every metric on one representation, as a name -> value
// map (see metrics.h for the keys), and the one table of metric names.
#include <algorithm>

#include <fmt/ranges.h>

#include "engine/check.h"
#include "objectives/metrics/metrics.h"

namespace unravel {

namespace {

// Every metric, listed once: name, meaning, and its MetricOptions switch (null: a run-level
// metric that score_representation does not compute). Order = listing and running order.
struct MetricKind {
  RegistryEntry entry;
  bool MetricOptions::*enabled;
};

const std::vector<MetricKind>& metric_kinds() {
  static const std::vector<MetricKind> k = {
      {{"beta_vae", "Higgins et al.'s beta-VAE score (linear classifier, held-out accuracy)"},
       &MetricOptions::beta_vae},
      {{"factor_vae", "Kim & Mnih's FactorVAE score (majority vote, held-out accuracy)"},
       &MetricOptions::factor_vae},
      {{"mathieu", "Mathieu et al.'s variant of the FactorVAE score (whole table, no pruning)"},
       &MetricOptions::mathieu},
      {{"mig_chen", "MIG, Chen et al.'s estimator over the aggregate posterior (needs "
                    "log-variances)"},
       &MetricOptions::mig_chen},
      {{"mig_histogram", "MIG, disentanglement_lib's 20-bin histogram estimator"},
       &MetricOptions::mig_histogram},
      {{"dci", "DCI disentanglement / completeness / informativeness (lasso regressor)"},
       &MetricOptions::dci},
      {{"sap", "SAP score, continuous and discrete"}, &MetricOptions::sap},
      {{"hoyer", "normalised Hoyer sparsity of standardised posterior means"},
       &MetricOptions::hoyer},
      {{"magnitudes", "per-class mean |z| per latent (datasets with labels)"}, nullptr},
      {{"prior_mmd", "IMQ MMD^2 between the aggregate posterior and the prior"},
       &MetricOptions::prior_mmd},
      {{"heldout", "held-out reconstruction NLL, KL, ELBO, IWAE bound and pixel MSE"}, nullptr},
  };
  return k;
}

std::string factor_label(const CodeTable& t, int k) {
  if (k < static_cast<int>(t.factor_names.size())) return t.factor_names[k];
  return "factor" + std::to_string(k);
}

bool is_dsprites_table(const CodeTable& t) {
  return t.factor_names ==
         std::vector<std::string>{"shape", "scale", "orientation", "posX", "posY"};
}

}  // namespace

const std::vector<RegistryEntry>& metric_entries() {
  static const std::vector<RegistryEntry> e = [] {
    std::vector<RegistryEntry> v;
    for (const auto& k : metric_kinds()) v.push_back(k.entry);
    return v;
  }();
  return e;
}

std::vector<std::string> scored_metric_names() {
  std::vector<std::string> n;
  for (const auto& k : metric_kinds())
    if (k.enabled) n.push_back(k.entry.name);
  return n;
}

MetricOptions only_metric(const MetricOptions& base, const std::string& name) {
  MetricOptions o = base;
  bool found = false;
  for (const auto& k : metric_kinds()) {
    if (k.enabled) o.*k.enabled = k.entry.name == name;
    found = found || k.entry.name == name;
  }
  UNRAVEL_CHECK(found, "unknown metric '{}' (valid: {})", name,
                fmt::join(names_of(metric_entries()), ", "));
  return o;
}

std::map<std::string, double> score_representation(const CodeTable& table, Generator& gen,
                                                   const MetricOptions& opt) {
  check_code_table(table, "score_representation");
  const HostMatrix codes = to_host_matrix(table.codes, "score_representation (codes)");
  const FactorGrid grid(table.factors, table.factor_sizes);
  TableSampler sampler(codes, grid);
  // Forks in a fixed order, whether or not each metric runs.
  Generator g_beta = gen.fork(), g_fvae = gen.fork(), g_mathieu = gen.fork(),
            g_chen = gen.fork(), g_hist = gen.fork(), g_dci = gen.fork(), g_sap = gen.fork(),
            g_prior = gen.fork();
  std::map<std::string, double> out;
  if (opt.beta_vae) {
    AccuracyScore s = beta_vae_score(sampler, g_beta, opt.beta_vae_options);
    out["beta_vae.train_accuracy"] = s.train_accuracy;
    out["beta_vae.eval_accuracy"] = s.eval_accuracy;
  }
  if (opt.factor_vae) {
    FactorVaeScore s = factor_vae_score(sampler, g_fvae, opt.factor_vae_options);
    out["factor_vae.train_accuracy"] = s.train_accuracy;
    out["factor_vae.eval_accuracy"] = s.eval_accuracy;
    out["factor_vae.num_active_dims"] = static_cast<double>(s.num_active_dims);
  }
  if (opt.mathieu) out["mathieu_disentanglement"] = mathieu_disentanglement(codes, grid, g_mathieu, opt.mathieu_options);
  if (opt.mig_chen && table.logvars.defined()) {
    ChenMigOptions o = opt.mig_chen_options;
    if (o.factors.empty() && is_dsprites_table(table)) o.factors = dsprites_chen_factors();
    const HostMatrix lv = to_host_matrix(table.logvars, "score_representation (logvars)");
    ChenMigResult r = mig_chen(codes, lv, grid, g_chen, o);
    out["mig_chen"] = r.mig;
    for (size_t f = 0; f < r.factors.size(); ++f)
      out["mig_chen." + factor_label(table, r.factors[f])] = r.gaps[f];
  }
  if (opt.mig_histogram) {
    MigResult r = mig_histogram(sampler, g_hist, opt.mig_histogram_options);
    out["mig_histogram"] = r.mig;
    for (size_t f = 0; f < r.factors.size(); ++f)
      out["mig_histogram." + factor_label(table, r.factors[f])] = r.gaps[f];
  }
  if (opt.dci) {
    DciResult r = dci(sampler, g_dci, opt.dci_options);
    out["dci.disentanglement"] = r.disentanglement;
    out["dci.completeness"] = r.completeness;
    out["dci.informativeness_train"] = r.informativeness_train;
    out["dci.informativeness_test"] = r.informativeness_test;
  }
  if (opt.sap) {
    SapResult r = sap(sampler, g_sap, opt.sap_options);
    out["sap.continuous"] = r.continuous;
    out["sap.discrete"] = r.discrete;
  }
  if (opt.hoyer) out["hoyer_sparsity"] = hoyer_sparsity(codes);
  if (opt.prior_mmd) {
    HostMatrix prior = standard_normal_samples(opt.prior_samples, codes.cols, g_prior);
    HostMatrix lv;
    if (table.logvars.defined()) lv = to_host_matrix(table.logvars, "score_representation (logvars)");
    auto m = prior_fit_mmd(codes, table.logvars.defined() ? &lv : nullptr, prior, g_prior,
                           opt.prior_options);
    out.insert(m.begin(), m.end());
  }
  return out;
}

std::map<std::string, double> score_encoder(const Dataset& data, const Encoder& encoder,
                                            Generator& gen, const MetricOptions& opt,
                                            int64_t batch_size) {
  UNRAVEL_CHECK(data.num_factors() > 0, "score_encoder: dataset '{}' has no factors", data.name());
  return score_representation(encode_dataset(data, encoder, batch_size), gen, opt);
}

}  // namespace unravel
