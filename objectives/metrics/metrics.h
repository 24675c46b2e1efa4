// Disentanglement and representation metrics: the umbrella header, and the one-call scorer of a
// representation given as arrays (codes, log-variances, factor classes) that returns a
// name -> value map (JSON-ready). Each metric's definition is in its own header:
//   vote_scores.h           β-VAE score, FactorVAE score, Mathieu et al.'s variant
//   mig.h                   MIG: Chen et al.'s estimator and disentanglement_lib's histogram one
//   dci_sap.h               DCI (lasso regressor) and SAP (continuous and discrete)
//   representation_stats.h  Hoyer sparsity, per-class magnitude, MMD to the prior, held-out means
//   factor_source.h         encoders, simulators and the samplers the protocols draw from
//
// The metric names (`unravel eval --metrics`) are listed once, in score.cpp's table, with their
// meanings and the MetricOptions switch that runs each: metric_entries() and only_metric().
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/registry_entry.h"

#include "objectives/metrics/classifiers.h"
#include "objectives/metrics/code_table.h"
#include "objectives/metrics/dci_sap.h"
#include "objectives/metrics/factor_source.h"
#include "objectives/metrics/mig.h"
#include "objectives/metrics/representation_stats.h"
#include "objectives/metrics/vote_scores.h"

namespace unravel {

/// Which metrics score_representation runs, with their settings (papers' defaults).
struct MetricOptions {
  bool beta_vae = true;
  bool factor_vae = true;
  bool mathieu = true;
  bool mig_chen = true;       ///< needs log-variances; skipped (no key) without them
  bool mig_histogram = true;
  bool dci = true;
  bool sap = true;
  bool hoyer = true;
  bool prior_mmd = true;      ///< MMD to an N(0, I) prior
  BetaVaeScoreOptions beta_vae_options;
  FactorVaeScoreOptions factor_vae_options;
  MathieuScoreOptions mathieu_options;
  /// factors empty: all varying factors, except that a dSprites table (factor names shape,
  /// scale, orientation, posX, posY) leaves out shape as Chen et al. do.
  ChenMigOptions mig_chen_options;
  MigHistogramOptions mig_histogram_options;
  DciOptions dci_options;
  SapOptions sap_options;
  PriorFitOptions prior_options;
  int64_t prior_samples = 5000;  ///< N(0, I) draws for the MMD
};

/// Every metric name with its meaning, in listing order. score_representation computes those
/// with a MetricOptions switch (scored_metric_names); "magnitudes" and "heldout" are run-level
/// metrics (per-class mean |z|, held-out likelihoods) that `unravel eval` computes from a run.
const std::vector<RegistryEntry>& metric_entries();

/// The names score_representation computes (those with a MetricOptions switch), in its order.
std::vector<std::string> scored_metric_names();

/// `base` with only metric `name`'s switch on (every switch off for a run-level metric); throws
/// listing the valid names for an unknown one.
MetricOptions only_metric(const MetricOptions& base, const std::string& name);

/// Scores a representation given as arrays. Keys: beta_vae.{train,eval}_accuracy,
/// factor_vae.{train,eval}_accuracy, factor_vae.num_active_dims, mathieu_disentanglement,
/// mig_chen (+ mig_chen.<factor>), mig_histogram (+ mig_histogram.<factor>),
/// dci.{disentanglement,completeness,informativeness_train,informativeness_test},
/// sap.{continuous,discrete}, hoyer_sparsity, mmd_imq_full, mmd_imq_per_dim. Every metric draws
/// from its own fork of `gen` (taken in this fixed order), so turning one off changes no other.
std::map<std::string, double> score_representation(const CodeTable& table, Generator& gen,
                                                   const MetricOptions& opt = {});

/// Encodes the whole dataset (encode_dataset) and scores it with score_representation.
std::map<std::string, double> score_encoder(const Dataset& data, const Encoder& encoder,
                                            Generator& gen, const MetricOptions& opt = {},
                                            int64_t batch_size = 1000);

}  // namespace unravel
