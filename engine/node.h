// One backward step on the tape. An op's forward records a Node subclass holding what its
// backward needs (saved tensors, shapes, parameters); backward maps output gradients to input
// gradients using ordinary ops, so it runs on every device.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unravel {

/// Where an input's gradient goes: another node's output slot, or a leaf's .grad.
struct Edge {
  int64_t node = -1;                  ///< producer node index, or -1
  int out_index = 0;                  ///< producer output slot
  std::shared_ptr<TensorImpl> leaf;   ///< leaf to accumulate into (when node == -1)
  Shape shape;                        ///< the input's shape (gradients are checked against it)
  DType dtype = DType::f32;
  bool valid() const { return node >= 0 || leaf != nullptr; }
};

/// A tensor saved for backward, with the storage version it had when saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  // Holds the handle itself: tensors refer to nodes only by index, so this makes no cycle.
  explicit SavedTensor(const Tensor& t) : t_(t), version_(t.defined() ? t.version() : 0) {}
  /// The saved tensor; throws "[op backward] ... modified in-place" if it was written since.
  const Tensor& get(const char* op) const;
  bool defined() const { return t_.defined(); }

 private:
  Tensor t_;
  uint64_t version_ = 0;
};

class Node {
 public:
  virtual ~Node() = default;
  /// Short op name used in errors ("mul", "conv2d", ...).
  virtual const char* name() const = 0;
  /// grads_out has one entry per output (undefined where no gradient arrived); returns one
  /// gradient per input, each of that input's shape (undefined for "no gradient").
  virtual TensorList backward(const TensorList& grads_out) = 0;

  /// True when input i leads to something that needs a gradient.
  bool needs_input_grad(size_t i) const { return i < next.size() && next[i].valid(); }

  std::vector<Edge> next;  ///< one per input, in the order the op passed them
  int num_outputs = 1;
  std::string scope_path;  ///< module path when recorded in anomaly mode (engine/anomaly.h)
};

}  // namespace unravel
