// Neural-network ops with fused, numerically stable kernels or formulas (ops/nn_ops.cpp).
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel {

enum class Reduction { none, sum, mean };

/// Batch normalisation over (N, C) or (N, C, H, W) per channel. In training mode it uses batch
/// statistics and updates running_mean/var in place (momentum as in PyTorch: new = (1-m)·old +
/// m·batch, unbiased batch variance for running_var); in eval mode it uses the running ones.
/// gamma/beta/running_* may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);
/// Inverted dropout: zeroes with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
/// Stable binary cross-entropy on logits: max(x,0) - x·t + log1p(exp(-|x|)).
Tensor bce_with_logits(const Tensor& logits, const Tensor& target,
                       Reduction reduction = Reduction::mean);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);
Tensor softmax(const Tensor& x, int64_t axis = -1);
/// logits (N, C), target (N) i64 class indices.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::mean);
/// DC-IGN's clamp (Kulkarni et al. 2015, §3.2) on codes z (..., B, D) with a (D) mask of 1
/// (active) and 0 (clamped), same dtype and device. Forward: active latents pass through,
/// clamped ones are replaced by their mean over the batch axis (−2). Backward: the active
/// latents get the incoming gradient; the clamped ones get grad_scale · (z − batch mean), which
/// is not the derivative of the forward but of grad_scale · ½ Σ (z − z̄)² (a pull towards the
/// batch mean, i.e. invariance to the batch's varying factor). The mask gets no gradient.
Tensor batch_mean_clamp(const Tensor& z, const Tensor& mask, double grad_scale);
/// Mean (or sum) squared error.
Tensor mse_loss(const Tensor& x, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace unravel
