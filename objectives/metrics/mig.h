// Mutual Information Gap, in two estimators (both are reported, under different names):
//
//  * mig_chen — Chen et al. (2018)'s estimator ("MIG" of the β-TCVAE paper), on arrays: the
//    posterior means μ and log-variances of EVERY point of the factor grid. One sample
//    z_n ~ q(z|x_n) = N(μ_n, exp(lv_n)) per point. For each latent dim j:
//       H(z_j)     = −(1/S) Σ_s [logsumexp_{n ∈ all N} log N(z_sj; μ_nj, σ²_nj) − log N]
//    over S = min(n_samples, N) samples drawn without replacement from the N point samples, and
//       H(z_j | v) = the same restricted to the N_v points with value v of factor k (their own
//                    samples), H(z_j | v_k) = Σ_v (N_v/N) H(z_j | v)   (= the 1/|V_k| average
//                    of Chen's code on a full grid);
//    I(z_j; v_k) = max(0, H(z_j) − H(z_j | v_k)), normalised by the empirical factor entropy
//    H(v_k) (= log|V_k| on a full grid), and MIG = mean_k [I_(1) − I_(2)] over the chosen factors
//    (Chen's dSprites setting leaves out shape: dsprites_chen_factors()). The N×S×D log-density
//    sum is blocked (chunks of samples × blocks of points kept in L1), vectorised (f32 Gaussian
//    log-density and a polynomial exp; block maxima; f64 running log-sum-exp per sample) and
//    spread over OpenMP threads by (dim, sample chunk); the result does not depend on the thread
//    count. See mig_chen.cpp.
//  * mig_histogram — disentanglement_lib's `mig`: num_train points from a CodeSampler, each code
//    dim discretised into `bins` equal-width bins between its min and max (np.histogram edges +
//    np.digitize), discrete MI in nats (sklearn mutual_info_score), normalised by the factor's
//    empirical entropy; MIG = mean over factors of (top1 − top2).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/device.h"
#include "engine/random.h"
#include "objectives/metrics/code_table.h"
#include "objectives/metrics/factor_source.h"

namespace unravel {

/// Per-factor MIG detail shared by both estimators.
struct MigResult {
  double mig = 0;                          ///< mean of `gaps`
  std::vector<int> factors;                ///< the factors scored
  std::vector<double> gaps;                ///< per factor: (top1 − top2) normalised MI
  std::vector<double> factor_entropies;    ///< per factor H(v_k), nats
  std::vector<double> mutual_info;         ///< [factors, D] unnormalised MI, nats
};

/// Chen et al.'s MIG result: the entropies behind the mutual information.
struct ChenMigResult : MigResult {
  std::vector<double> marginal_entropies;     ///< [D] H(z_j)
  std::vector<double> conditional_entropies;  ///< [factors, D] H(z_j | v_k)
};

/// Settings of Chen et al.'s estimator.
struct ChenMigOptions {
  int64_t n_samples = 10000;    ///< samples per entropy estimate
  std::vector<int> factors;     ///< factors to score; empty = every factor with > 1 class
  int64_t sample_chunk = 64;    ///< samples per task (they share one pass over a point block)
  int64_t point_block = 1024;   ///< points per block (fits L1 with the sample loop)
  /// Where the aggregate-posterior sums run: the CPU (the blocked kernel below) or an
  /// accelerator (the same sums as tensor ops there, f32 log-sum-exp; equal within rounding).
  Device device = kCPU;
  int64_t device_chunk_elems = int64_t{1} << 25;  ///< an accelerator's [D, c, M] temporaries
};

/// dSprites factors used by Chen et al. (scale, orientation, posX, posY: shape left out).
std::vector<int> dsprites_chen_factors();

/// Chen et al.'s MIG. `samples` (f32/f64 [N, D]) overrides the draw z ~ q(z|x) (tests).
ChenMigResult mig_chen(const HostMatrix& means, const HostMatrix& logvars, const FactorGrid& grid,
                       Generator& gen, const ChenMigOptions& opt = {},
                       const HostMatrix* samples = nullptr);

/// The blocked kernel for one dim: out[s] = logsumexp_m (a[m]·(x[s] − mu[m])² + b[m]) for S
/// samples x over M points; with a = −1/(2σ²), b = −½(log 2π + log σ²) this is the log of
/// Σ_m N(x_s; mu_m, σ²_m). Blocks of `point_block` points.
void gaussian_logsumexp(const float* mu, const float* a, const float* b, int64_t M,
                        const float* x, int64_t S, double* out, int64_t point_block = 1024);

/// Entropy estimates H_j = −(1/S) Σ_s [logsumexp_m log q(x_sj | m) − log M] for D dims, with
/// SoA inputs mu/logvar [D][M] and samples x [D][S]; OpenMP over (dim, sample chunk). On a
/// `device` other than the CPU the log-sum-exps run there as tensor ops over chunks of samples
/// ([D, c, M] at a time, at most `device_chunk_elems` elements), read back once at the end.
std::vector<double> aggregate_entropies(const std::vector<float>& mu,
                                        const std::vector<float>& logvar, int64_t M,
                                        const std::vector<float>& x, int64_t S, int64_t D,
                                        int64_t sample_chunk = 64, int64_t point_block = 1024,
                                        Device device = kCPU,
                                        int64_t device_chunk_elems = int64_t{1} << 25);

/// Settings of the histogram MIG (disentanglement_lib defaults).
struct MigHistogramOptions {
  int64_t num_train = 10000;  ///< points drawn from the sampler
  int bins = 20;              ///< equal-width bins per code dim
  std::vector<int> factors;   ///< empty = every factor with > 1 class
};

/// disentanglement_lib's histogram MIG.
MigResult mig_histogram(CodeSampler& sampler, Generator& gen, const MigHistogramOptions& opt = {});

/// np.histogram(x, bins) edges + np.digitize: bin index in [0, bins) of each value.
std::vector<int64_t> histogram_discretize(const std::vector<double>& x, int bins);
/// Discrete mutual information (nats) between two label vectors (sklearn mutual_info_score).
double discrete_mutual_info(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
/// Discrete entropy (nats) of a label vector.
double discrete_entropy(const std::vector<int64_t>& a);

/// Sorted-descending gap top1 − top2 of a row of values (top1 when only one value).
double top_gap(std::vector<double> v);

}  // namespace unravel
