// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
#pragma once
#include <limits>

#include "engine/tensor.h"

namespace unravel::optim {

/// Norm type for the max-abs ("infinity") norm.
inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

/// Scales all gradients by max_norm / (total + 1e-6) when that is < 1, where total is the
/// `norm_type` norm of all gradients together; returns total. Parameters without a gradient
/// are skipped (0 when none has one). A non-finite total is returned without scaling.
double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type = 2.0);
/// Clamps every gradient element into [-clip, clip].
void clip_grad_value_(const TensorList& params, double clip);

}  // namespace unravel::optim
