// The small, deterministic learners the metrics need, all fit on host f64 matrices:
//
//  * multinomial logistic regression (β-VAE score): minimises the mean cross-entropy
//    (1/n)Σ_i CE(W x_i + b, y_i) + (λ/2n)‖W‖² (bias unpenalised; λ = 1 is sklearn's default
//    LogisticRegression(C=1) up to the 1/n scaling, which leaves the minimiser unchanged). The loss
//    and its gradient come from the engine's ops and tape (linear + cross_entropy in f64); the
//    optimiser is full-batch L-BFGS (memory 10, Armijo backtracking), started from zero, so a fit
//    is a deterministic function of the data;
//  * lasso linear regression (DCI's regressor): (1/2n)‖y − Xw − c‖² + α‖w‖₁ on columns of X
//    standardised to zero mean / unit variance, by cyclic coordinate descent (sklearn's Lasso
//    objective); coefficients are reported in standardised units;
//  * a cubic least-squares readout (how much of a target the whole code holds, nonlinearly): all
//    monomials of degree ≤ 3 in the columns of X, fit on the even rows by the normal equations in
//    f64 (a 1e-9 relative ridge, Cholesky) and scored by R² on the odd rows;
//  * a 1-D nearest-centroid classifier (SAP's discrete score): each class is represented by the
//    mean of the code over its training points and a value is given the class of the nearest
//    centroid, i.e. thresholds at midpoints between sorted centroids.
#pragma once
#include <cstdint>
#include <vector>

#include "objectives/metrics/code_table.h"

namespace unravel {

/// Settings of the logistic regression.
struct LogisticOptions {
  double l2 = 1.0;        ///< λ: weight-decay strength (sklearn 1/C)
  int max_iter = 300;     ///< L-BFGS iterations
  double gtol = 1e-7;     ///< stop when the largest gradient entry falls below this
  int memory = 10;        ///< L-BFGS history
};

/// A fitted multinomial logistic regression: logits = W x + b.
struct LogisticModel {
  int64_t num_classes = 0, dim = 0;
  std::vector<double> w;  ///< [C, D] row-major
  std::vector<double> b;  ///< [C]
  int iterations = 0;     ///< L-BFGS iterations used
  /// Class with the largest logit for one feature vector x (D values).
  int64_t predict(const double* x) const;
  /// Fraction of rows of X whose prediction equals y.
  double accuracy(const HostMatrix& x, const std::vector<int64_t>& y) const;
};

/// Fits the logistic regression on features X [n, D] and labels y in [0, num_classes).
LogisticModel fit_logistic_regression(const HostMatrix& x, const std::vector<int64_t>& y,
                                      int64_t num_classes, const LogisticOptions& opt = {});

/// A fitted lasso model on standardised inputs.
struct LassoModel {
  std::vector<double> coef;         ///< [D] weights on standardised columns
  std::vector<double> mean, scale;  ///< column means and standard deviations (scale 0: constant)
  double intercept = 0;
  int iterations = 0;
  /// Prediction for one input row (D values, original units).
  double predict(const double* x) const;
};

/// Fits the lasso (1/2n)‖y − X̃w − c‖² + α‖w‖₁ with X̃ the standardised columns of X.
LassoModel fit_lasso(const HostMatrix& x, const std::vector<double>& y, double alpha,
                     int max_iter = 1000, double tol = 1e-7);

/// Held-out R² of the cubic least-squares readout of targets Y [n, r] from X [n, D] (fit on the
/// even rows, scored on the odd ones; 1 − SSE/SST with both summed over the r targets): 1 when Y
/// is a cubic polynomial of X, about 0 when X says nothing of Y (below 0 when the fit only learnt
/// noise). Needs more even rows than the (D + 1)(D + 2)(D + 3)/6 monomials.
double cubic_readout_r2(const HostMatrix& x, const HostMatrix& y);

/// A fitted 1-D nearest-centroid classifier.
struct CentroidClassifier1D {
  std::vector<double> centroids;  ///< one per class seen in training, ascending
  std::vector<int64_t> labels;    ///< the class of each centroid
  /// Class of the nearest centroid (ties: the smaller centroid).
  int64_t predict(double x) const;
};

/// Fits centroids of x per class of y (classes with no training point are never predicted).
CentroidClassifier1D fit_centroid_1d(const std::vector<double>& x, const std::vector<int64_t>& y);

}  // namespace unravel
