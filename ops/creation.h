// Tensors made on a device without host data (ops/creation.cpp): ranges, identity matrices,
// one-hot encodings; a per-device cache for constants that are built once (from host values)
// and reused every step; and one-read transfer of many scalars to the host for logging.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unravel {

/// [start, start + step, …] with n elements, made on `device` (no host data).
Tensor arange(int64_t n, DType dtype = DType::i64, Device device = kCPU, double start = 0.0,
              double step = 1.0);
/// The n × n identity in `dtype` on `device`.
Tensor eye(int64_t n, DType dtype = DType::f32, Device device = kCPU);
/// One-hot rows for i64 class indices (any shape S) → S + (classes), in `dtype`, on the
/// indices' device. Indices outside [0, classes) give all-zero rows.
Tensor one_hot(const Tensor& index, int64_t classes, DType dtype = DType::f32);

/// The constant called `key` on (device, dtype): built by `build` (which may make it on the
/// host) the first time, moved to the device, and returned from a cache afterwards. Treat the
/// result as read-only: it is shared by every caller with the same key.
Tensor cached_constant(const std::string& key, Device device, DType dtype,
                       const std::function<Tensor()>& build);

/// The values of one-element tensors (any dtype, any device) as doubles, in one transfer per
/// device: the only host read a log step needs.
std::vector<double> read_scalars(const TensorList& xs);

}  // namespace unravel
