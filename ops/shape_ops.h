// Shape and layout ops (ops/shape_ops.cpp). View ops share storage with their input and cost no
// copy: reshape (when strides allow), permute, transpose, expand, slice, squeeze, unsqueeze,
// flatten. Others copy: contiguous, clone, concat, stack, pad, casts and device moves.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace unravel {

/// One extent may be -1 (inferred). A view when possible, else a copy.
Tensor reshape(const Tensor& x, const Shape& shape);
/// Merges dims [start, end] into one.
Tensor flatten(const Tensor& x, int64_t start = 0, int64_t end = -1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
/// Broadcast view to `shape` (-1 keeps an extent).
Tensor expand(const Tensor& x, const Shape& shape);
/// Elements [start, end) with `step` along `axis` (negative start/end count from the end).
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
/// Removes `axis` (must have extent 1).
Tensor squeeze(const Tensor& x, int64_t axis);
/// Removes every extent-1 axis.
Tensor squeeze(const Tensor& x);
Tensor unsqueeze(const Tensor& x, int64_t axis);
/// x itself when contiguous, else a dense copy.
Tensor contiguous(const Tensor& x);
/// A dense copy (with gradient).
Tensor clone(const Tensor& x);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
Tensor stack(const std::vector<Tensor>& xs, int64_t axis);
/// Constant padding: `pads` holds (before, after) pairs starting from the LAST dim, as in
/// torch.nn.functional.pad.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
/// dtype conversion (differentiable between float types).
Tensor to(const Tensor& x, DType dtype);
/// Device move (differentiable).
Tensor to(const Tensor& x, Device device);

// Indexing ------------------------------------------------------------------------------------------
/// Rows of x along `axis` picked by a 1-D i64 index.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
/// torch.gather: out[i][j] = x[index[i][j]][j] for axis 0, etc. index is i64, same rank as x.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);

}  // namespace unravel
