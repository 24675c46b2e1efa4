// Classifier-based disentanglement scores over a CodeSampler:
//
//  * Higgins et al.'s β-VAE score, disentanglement_lib protocol: per point, a factor k uniform;
//    L pairs of factor tuples, the second of each pair copying factor k of the first (the rest
//    independent); feature = mean over the L pairs of |z(x1) − z(x2)|; label k. A multinomial
//    logistic regression (classifiers.h) is fit on num_train points; train and eval accuracy
//    (fresh points) are reported;
//  * Kim & Mnih's FactorVAE score, disentanglement_lib protocol: per-dim variance (ddof 1) over
//    num_variance_estimate random points; dims with std < prune_threshold dropped; per vote a
//    factor k uniform, `batch` points sharing the factor-k value of the first (random) point,
//    vote (k, argmin over active dims of local var (ddof 1) / global var); the classifier maps
//    each active dim to its most-voted factor; accuracy = Σ votes[classifier(d), d] / Σ votes on
//    the training votes and on fresh eval votes;
//  * Mathieu et al.'s variant (on arrays, the whole dataset): each dim divided by its std over
//    the dataset (ddof 1; a dim with zero std is never chosen), M votes, each a uniform factor k,
//    a uniform class v of k among those present, up to L rows with that class drawn without
//    replacement, vote for argmin_d var(z_d/std_d) (ddof 1); no pruning; score = Σ_d max_k V[d,k]/M,
//    the majority-vote training accuracy.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "objectives/metrics/classifiers.h"
#include "objectives/metrics/code_table.h"
#include "objectives/metrics/factor_source.h"

namespace unravel {

/// Settings of the β-VAE score (disentanglement_lib defaults).
struct BetaVaeScoreOptions {
  int64_t batch = 64;         ///< L: pairs averaged per point
  int64_t num_train = 10000;  ///< training points
  int64_t num_eval = 5000;    ///< evaluation points
  LogisticOptions classifier; ///< the linear classifier
};

/// Train and held-out accuracy of a score.
struct AccuracyScore {
  double train_accuracy = 0;
  double eval_accuracy = 0;
};

/// Higgins et al.'s β-VAE score.
AccuracyScore beta_vae_score(CodeSampler& sampler, Generator& gen,
                             const BetaVaeScoreOptions& opt = {});

/// Settings of the FactorVAE score (disentanglement_lib defaults).
struct FactorVaeScoreOptions {
  int64_t batch = 64;                     ///< points per vote
  int64_t num_train = 10000;              ///< training votes
  int64_t num_eval = 5000;                ///< evaluation votes
  int64_t num_variance_estimate = 10000;  ///< points for the global variances
  double prune_threshold = 0.05;          ///< dims with std below this are dropped
};

/// Result of the FactorVAE score.
struct FactorVaeScore {
  double train_accuracy = 0, eval_accuracy = 0;
  int64_t num_active_dims = 0;
  std::vector<int64_t> dim_to_factor;  ///< classifier: factor of each active dim
};

/// Kim & Mnih's FactorVAE score (0 with no active dim, as disentanglement_lib).
FactorVaeScore factor_vae_score(CodeSampler& sampler, Generator& gen,
                                const FactorVaeScoreOptions& opt = {});

/// Settings of Mathieu et al.'s variant.
struct MathieuScoreOptions {
  int64_t num_votes = 20000;         ///< M
  int64_t points_per_vote = 1000;    ///< L (fewer when a class has fewer rows)
};

/// Mathieu et al.'s disentanglement score on codes [N, D] over a FactorGrid.
double mathieu_disentanglement(const HostMatrix& codes, const FactorGrid& grid, Generator& gen,
                               const MathieuScoreOptions& opt = {});

}  // namespace unravel
