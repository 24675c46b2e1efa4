// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_, on the gradients'
// device with no host read: the norm comes back as a 0-d tensor the caller may read when it logs.
#pragma once
#include <limits>

#include "engine/tensor.h"

namespace unravel::optim {

/// Norm type for the max-abs ("infinity") norm.
inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

/// Scales all gradients by max_norm / (total + 1e-6) when that is < 1, where total is the
/// `norm_type` norm of all gradients together (accumulated in f64); returns total as a 0-d f64
/// tensor on the gradients' device. Parameters without a gradient are skipped (0 when none has
/// one). A non-finite total leaves the gradients unscaled. All gradients must share a device.
Tensor clip_grad_norm_(const TensorList& params, double max_norm, double norm_type = 2.0);
/// Clamps every gradient element into [-clip, clip].
void clip_grad_value_(const TensorList& params, double clip);

}  // namespace unravel::optim
