// Statistics of a representation that need no factors, and the held-out averaging hook:
//
//  * Hoyer sparsity (Mathieu et al. 2019): each dim divided by its std over the data (ddof 1;
//    dims with zero std are left out), r = mean_n ‖z_n‖₁/‖z_n‖₂ over rows with a non-zero norm,
//    Hoyer = (√D − r)/(√D − 1) ∈ [0, 1], 1 = one-hot codes;
//  * per-class mean |z_d| (Mathieu et al.'s Fashion-MNIST magnitude plot): [classes, D];
//  * fit between the aggregate posterior and the prior: the unbiased MMD² with the IMQ kernel
//    mixture of Mathieu et al. (k(a, b) = Σ_s C_s/(C_s + ‖a − b‖²), s ∈ {0.1, 0.2, 0.5, 1, 2, 5}),
//    either on the whole vector with C_s = 2·D·s ("full") or summed over dims with C_s = 2·s
//    ("per_dim", comparing 1-D marginals only) — the kernels of objectives/divergences.h
//    (mmd_full / mmd_dim), computed here in f64 on host arrays of any sizes n ≠ m without
//    building n×m tensors;
//  * average_over_batches: runs a per-batch callback over a held-out dataset (reconstruction
//    error, ELBO, IWAE from the model, supplied by the app) and averages its per-item means,
//    weighted by batch size.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"
#include "objectives/metrics/code_table.h"

namespace unravel {

/// Normalised Hoyer sparsity of codes [N, D] after per-dimension standardisation.
double hoyer_sparsity(const HostMatrix& codes);

/// Mean |z_d| per class: labels[n] in [0, num_classes) -> [num_classes, D] row-major (0 for an
/// empty class).
std::vector<double> class_mean_magnitude(const HostMatrix& codes,
                                         const std::vector<int64_t>& labels, int64_t num_classes);

/// Unbiased IMQ MMD² between samples x [n, D] and y [m, D] (per_dim: the additive kernel).
double mmd_imq(const HostMatrix& x, const HostMatrix& y, bool per_dim = false);

/// Settings of the aggregate-posterior fit.
struct PriorFitOptions {
  int64_t num_points = 5000;  ///< posterior points drawn (without replacement) from the table
  bool use_samples = true;    ///< z ~ q(z|x) when log-variances are given, else the means
};

/// MMD² (full and per-dim) between the aggregate posterior (points of `means`, sampled with
/// `logvars` when non-null) and prior draws `prior_samples` [m, D].
std::map<std::string, double> prior_fit_mmd(const HostMatrix& means, const HostMatrix* logvars,
                                            const HostMatrix& prior_samples, Generator& gen,
                                            const PriorFitOptions& opt = {});

/// Standard-normal prior draws [m, D] (for prior_fit_mmd with an N(0, I) prior).
HostMatrix standard_normal_samples(int64_t m, int64_t D, Generator& gen);

/// Per-batch evaluation: returns per-item means of named quantities for the batch.
using BatchEvaluator = std::function<std::map<std::string, double>(const Tensor& batch)>;

/// Averages `eval` over items [0, max_items) (all when max_items < 0) of `data` in batches of
/// `batch_size` (the last may be smaller), weighting each batch by its size.
std::map<std::string, double> average_over_batches(const Dataset& data, int64_t batch_size,
                                                   const BatchEvaluator& eval,
                                                   int64_t max_items = -1);

}  // namespace unravel
