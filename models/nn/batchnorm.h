// nn::BatchNorm1d / nn::BatchNorm2d on ops/nn_ops.h's batch_norm. Training mode normalises with
// batch statistics and updates the running ones (running = (1 - momentum)·running +
// momentum·batch, unbiased batch variance) and counts batches; eval mode uses the running
// statistics. Parameters weight (γ, init 1) and bias (β, init 0); buffers running_mean (0),
// running_var (1), num_batches_tracked (i64 0), named as in PyTorch.
#pragma once
#include "models/nn/module.h"

namespace unravel::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  /// Learnable γ and β.
  bool affine = true;
  /// Keep running statistics (otherwise batch statistics are used in eval mode too).
  bool track_running_stats = true;
};

/// Shared implementation; `rank_ok` lists the accepted input ranks.
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_; }
  int64_t num_features() const { return c_; }
  const BatchNormOptions& options() const { return opt_; }

 protected:
  BatchNormBase(int64_t num_features, const BatchNormOptions& opt, int min_rank, int max_rank);

 private:
  int64_t c_;
  BatchNormOptions opt_;
  int min_rank_, max_rank_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_;
};

/// Over (N, C) or (N, C, L) inputs.
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& opt = {})
      : BatchNormBase(num_features, opt, 2, 3) {}
  std::string type_name() const override { return "BatchNorm1d"; }
};

/// Over (N, C, H, W) inputs.
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& opt = {})
      : BatchNormBase(num_features, opt, 4, 4) {}
  std::string type_name() const override { return "BatchNorm2d"; }
};

}  // namespace unravel::nn
