// DCI (Eastwood & Williams 2018, as computed by disentanglement_lib) and SAP (Kumar et al. 2018),
// on train/test points drawn from a CodeSampler.
//
// DCI, with a LASSO regressor (not disentanglement_lib's GradientBoostingClassifier): for each
// factor k, y = its class index standardised to unit variance on the training set, fit the lasso
// (classifiers.h; α = 0.01 by default) on the standardised codes; importance R[d, k] = |w_dk|.
//   disentanglement = Σ_d ρ_d (1 − H_K(R[d, ·] / Σ_k R[d, k]))   ρ_d = Σ_k R[d, k] / Σ R
//   completeness    = Σ_k ρ_k (1 − H_D(R[·, k] / Σ_d R[d, k]))   ρ_k = Σ_d R[d, k] / Σ R
// with entropies in base K (factors) and D (codes) and 1e-11 added to every entry before
// normalising, as disentanglement_lib does (an all-zero R counts as uniform weights).
// Informativeness = the regressor's R² (1 − SSE/SST) per factor, averaged, on the training and
// the test set (1 = each factor is a linear function of the codes).
//
// SAP: a score matrix S[d, k] over (code dim, factor); SAP = mean_k (top1 − top2 of S[·, k]).
//   continuous: S = cov(z_d, y_k)² / (var z_d · var y_k) on the training set (0 if var z_d ≤ 1e-12),
//               y_k the class index (disentanglement_lib's continuous_factors=True branch);
//   discrete:   S = test accuracy of a 1-D nearest-centroid classifier (classifiers.h) predicting
//               factor k from z_d alone, fit on the training set. disentanglement_lib uses
//               LinearSVC(C=0.01) here; a one-vs-rest linear rule on one scalar can only give a
//               few classes a region of the line, so values are not comparable with it.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "objectives/metrics/factor_source.h"

namespace unravel {

/// Settings of DCI.
struct DciOptions {
  int64_t num_train = 10000;  ///< training points
  int64_t num_test = 5000;    ///< test points
  double alpha = 0.01;        ///< lasso L1 strength (targets have unit variance)
  std::vector<int> factors;   ///< empty = every factor with > 1 class
};

/// DCI scores and the importance matrix behind them.
struct DciResult {
  double disentanglement = 0, completeness = 0;
  double informativeness_train = 0, informativeness_test = 0;  ///< mean R²
  std::vector<double> importance;  ///< [D, factors] |lasso weights|
};

/// DCI with the lasso regressor.
DciResult dci(CodeSampler& sampler, Generator& gen, const DciOptions& opt = {});

/// Disentanglement from an importance matrix R [D, K] (row-major).
double dci_disentanglement(const std::vector<double>& r, int64_t D, int64_t K);
/// Completeness from an importance matrix R [D, K] (row-major).
double dci_completeness(const std::vector<double>& r, int64_t D, int64_t K);

/// Settings of SAP.
struct SapOptions {
  int64_t num_train = 10000;  ///< training points
  int64_t num_test = 5000;    ///< test points (discrete score)
  std::vector<int> factors;   ///< empty = every factor with > 1 class
};

/// Both SAP variants and their score matrices [D, factors].
struct SapResult {
  double continuous = 0, discrete = 0;
  std::vector<double> continuous_matrix, discrete_matrix;
};

/// SAP, continuous and discrete.
SapResult sap(CodeSampler& sampler, Generator& gen, const SapOptions& opt = {});

}  // namespace unravel
