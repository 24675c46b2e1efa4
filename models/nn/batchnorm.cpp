// BatchNorm layers: parameter/buffer setup and the train/eval dispatch onto batch_norm.
// (N, C, L) inputs of BatchNorm1d are normalised as (N, C, L, 1).
#include "models/nn/batchnorm.h"

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/binary.h"
#include "ops/nn_ops.h"
#include "ops/shape_ops.h"

namespace unravel::nn {

BatchNormBase::BatchNormBase(int64_t num_features, const BatchNormOptions& opt, int min_rank,
                             int max_rank)
    : c_(num_features), opt_(opt), min_rank_(min_rank), max_rank_(max_rank) {
  UNRAVEL_CHECK(c_ > 0, "BatchNorm: num_features must be positive, got {}", c_);
  UNRAVEL_CHECK(opt.eps > 0 && opt.momentum >= 0 && opt.momentum <= 1,
                "BatchNorm: needs eps > 0 and momentum in [0, 1], got eps={} momentum={}", opt.eps,
                opt.momentum);
  if (opt_.affine) {
    weight_ = register_parameter("weight", Tensor::ones(Shape{c_}));
    bias_ = register_parameter("bias", Tensor::zeros(Shape{c_}));
  }
  if (opt_.track_running_stats) {
    running_mean_ = register_buffer("running_mean", Tensor::zeros(Shape{c_}));
    running_var_ = register_buffer("running_var", Tensor::ones(Shape{c_}));
    num_batches_ = register_buffer("num_batches_tracked", Tensor::zeros(Shape{}, DType::i64));
  }
}

Tensor BatchNormBase::forward(const Tensor& x) {
  UNRAVEL_CHECK(x.defined() && x.dim() >= min_rank_ && x.dim() <= max_rank_ && x.size(1) == c_,
                "{}: input must have rank {}..{} with {} channels in dim 1, got {}", describe(),
                min_rank_, max_rank_, c_, x.desc());
  // Batch statistics in training, or when no running statistics are kept.
  bool use_batch = is_training() || !opt_.track_running_stats;
  bool update = is_training() && opt_.track_running_stats;
  Tensor rm = use_batch && !update ? Tensor() : running_mean_;
  Tensor rv = use_batch && !update ? Tensor() : running_var_;
  Tensor in = x.dim() == 3 ? unsqueeze(x, 3) : x;
  Tensor y = batch_norm(in, weight_, bias_, rm, rv, use_batch, opt_.momentum, opt_.eps);
  if (update) {
    NoGradGuard guard;
    add_(num_batches_, Tensor::scalar(1, DType::i64, num_batches_.device()));
  }
  return x.dim() == 3 ? squeeze(y, 3) : y;
}

std::string BatchNormBase::describe() const {
  return fmt::format("{}({}, eps={}, momentum={}{}{})", type_name(), c_, opt_.eps, opt_.momentum,
                     opt_.affine ? "" : ", affine=false",
                     opt_.track_running_stats ? "" : ", track_running_stats=false");
}

}  // namespace unravel::nn
