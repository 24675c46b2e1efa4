// The tape: a thread-local Wengert list of Nodes in forward order (a topological order), walked
// in reverse by backward with no recursion. Tensors refer to their producing node by index and
// tape epoch, so nothing points from tensors into nodes and deep graphs free iteratively.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/grad_mode.h"
#include "engine/node.h"

namespace unravel {

/// Leaves whose gradients a caller wants as soon as each is final within one backward (data-
/// parallel training starts exchanging a bucket of gradients while backward still runs).
/// `ready(k)` is called once per backward for every leaves[k], right after the last node that
/// delivers to it has run (the nodes run newest first, so that is the oldest node with an edge to
/// the leaf); leaves[k].grad() then holds its whole gradient (undefined when the backward did not
/// reach it). A leaf that no node of this backward consumes is announced before the first runs.
struct GradReady {
  TensorList leaves;
  std::function<void(size_t k)> ready;
};

class Tape {
 public:
  /// True when recording is on and any input requires a gradient.
  static bool needs_grad(std::initializer_list<const Tensor*> inputs);
  static bool needs_grad(const TensorList& inputs);

  /// Appends `node`, wires its edges from `inputs` and marks `outputs` as produced by it.
  Node* push(std::unique_ptr<Node> node, const TensorList& inputs, const TensorList& outputs);

  /// Reverse pass from `roots` seeded with `seeds` (same shapes). Accumulates into leaves, and
  /// announces the leaves of `hook` as their gradients become final.
  void backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                const GradReady* hook = nullptr);
  /// Functional gradients of sum(roots·seeds) with respect to `inputs` (leaves or not); does not
  /// touch any .grad. Entries are undefined for inputs that do not influence the roots.
  TensorList grad(const TensorList& roots, const TensorList& seeds, const TensorList& inputs,
                  bool retain_graph);

  Tape();
  /// Frees every node (and the tensors they saved) and starts a new epoch.
  void clear();
  size_t size() const { return nodes_.size(); }
  uint64_t epoch() const { return epoch_; }
  /// True when t was produced by a node of the current epoch that has not been freed.
  bool is_live(const Tensor& t) const;

  ~Tape();

 private:
  TensorList run(const TensorList& roots, const TensorList& seeds, const TensorList* capture,
                 bool retain_graph, const GradReady* hook);
  std::vector<std::unique_ptr<Node>> nodes_;
  /// Unique across every thread's tape (a process-wide counter), so a tensor recorded on another
  /// thread's tape is never mistaken for a live node of this one.
  uint64_t epoch_;
};

/// This thread's tape.
Tape& tape();

/// Records node N for an op: `record<MulBackward>({a, b}, {y}, args...)` returns the node so
/// the op can save what backward needs. Call only when Tape::needs_grad(inputs).
template <class N, class... Args>
N* record(const TensorList& inputs, const TensorList& outputs, Args&&... args) {
  return static_cast<N*>(
      tape().push(std::make_unique<N>(std::forward<Args>(args)...), inputs, outputs));
}

/// Functional gradients: d(sum of outputs·seeds)/d(inputs). Seeds default to ones for scalars.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& seeds = {}, bool retain_graph = false);

}  // namespace unravel
