// Linear codes of items: PCA and FastICA, the linear baselines of Higgins et al.'s β-VAE score
// figure (scored by the metrics like any encoder) and the PCA variances that initialise the
// anisotropic prior of Mathieu et al.'s "pca" runs.
//
// Why objectives/metrics/: a LinearCode is a representation of a dataset's items, like the
// encoders of factor_source.h that the metrics score, and it needs only engine/ and ops/; both
// users (apps' run setup, for the prior, and the paper figures) sit above objectives/, so the
// library is where they can share it.
//
//  * PCA: the top-k eigenvectors of the pixel covariance C = Xcᵀ Xc / n (Xc = centred images),
//    found by block power (subspace) iteration V ← orth(Xcᵀ (Xc V)) with the engine's matmul, then
//    a Rayleigh–Ritz step: the k × k matrix Vᵀ C V is diagonalised by cyclic Jacobi rotations.
//    Codes are whitened projections z = (x − m) V Λ^(-1/2).
//  * FastICA (Hyvärinen 1999), symmetric, g = tanh: on the whitened PCA codes, rows w of W are
//    updated as w ← E[z g(wᵀz)] − E[g'(wᵀz)] w and decorrelated with W ← (W Wᵀ)^(-1/2) W until
//    max |1 − |⟨w_new, w_old⟩|| < tol. Codes are s = W z.
// Both give a LinearCode: z = (x − mean) · proj, an Encoder for the metric samplers.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel {

/// A linear code z = (x − mean) · proj of flattened items.
struct LinearCode {
  Tensor mean;                      ///< f32 [P]
  Tensor proj;                      ///< f32 [P, k]
  std::vector<double> eigenvalues;  ///< PCA variances of the k components (descending)
  int iterations = 0;               ///< power / FastICA iterations used
};

/// Eigen-decomposition of a symmetric k × k matrix `a` (row-major) by cyclic Jacobi rotations:
/// eigenvalues descending, eigenvectors as the columns of `vecs` (row-major k × k).
void jacobi_eigen(std::vector<double> a, int k, std::vector<double>& vals, std::vector<double>& vecs);

/// PCA with k whitened components of items x [n, ...] (flattened).
LinearCode fit_pca(const Tensor& x, int64_t k, Generator& gen, int max_iter = 200, double tol = 1e-7);

/// FastICA with k components on the whitened PCA codes of x [n, ...].
LinearCode fit_fastica(const Tensor& x, int64_t k, Generator& gen, int max_iter = 400,
                       double tol = 1e-5);

/// Codes of items [B, ...]: (x − mean) · proj, f32 [B, k].
Tensor apply_linear_code(const LinearCode& code, const Tensor& items);

}  // namespace unravel
