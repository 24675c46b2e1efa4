// Reverse-mode automatic differentiation over the thread's tape.
//
// Forward: each op that has an input requiring a gradient pushes one Node; its position in
// nodes_ is a topological order. Backward: walk positions from the newest root down to 0,
// call Node::backward with the summed gradients of its outputs, and deliver each input gradient
// either to the producing node's slot (fan-in is summed) or to a leaf's .grad. Without
// retain_graph each node is freed as soon as it has run, releasing its saved tensors early.
#include "engine/tape.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <limits>
#include <unordered_map>

#include "engine/anomaly.h"
#include "engine/backend.h"
#include "engine/check.h"

namespace unravel {

Tape& tape() {
  thread_local Tape t;
  return t;
}

namespace {

/// "[f32 64x10 (NaN), f32 10]": the inputs of an op, for anomaly messages.
std::string describe_inputs(const TensorList& ts) {
  std::string out = "[";
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i) out += ", ";
    if (!ts[i].defined()) { out += "none"; continue; }
    out += ts[i].desc();
    std::string bad = nonfinite_kind(ts[i]);
    if (!bad.empty()) out += " (holds " + bad + ")";
  }
  return out + "]";
}
std::string describe_grads(const TensorList& ts) { return describe_inputs(ts); }
std::atomic<uint64_t> g_next_epoch{1};
}  // namespace

Tape::Tape() : epoch_(g_next_epoch.fetch_add(1)) {}
Tape::~Tape() = default;

bool Tape::needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->requires_grad()) return true;
  return false;
}

bool Tape::needs_grad(const TensorList& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

bool Tape::is_live(const Tensor& t) const {
  const AutogradMeta* m = &t.impl()->autograd;
  return m->node >= 0 && m->epoch == epoch_ &&
         m->node < static_cast<int64_t>(nodes_.size()) && nodes_[m->node] != nullptr;
}

Node* Tape::push(std::unique_ptr<Node> node, const TensorList& inputs, const TensorList& outputs) {
  node->next.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    Edge& e = node->next[i];
    e.shape = t.shape();
    e.dtype = t.dtype();
    if (t.is_leaf()) {
      e.leaf = t.impl_ptr();
    } else {
      UNRAVEL_CHECK(is_live(t),
                    "{}: input {} ({}) comes from a graph that backward() already freed or the tape "
                    "was cleared; use .detach() to treat it as a constant",
                    node->name(), i, t.desc());
      e.node = t.impl()->autograd.node;
      e.out_index = t.impl()->autograd.out_index;
    }
  }
  node->num_outputs = static_cast<int>(outputs.size());
  if (anomaly_mode()) {
    node->scope_path = anomaly_where();
    for (size_t k = 0; k < outputs.size(); ++k) {
      std::string bad = nonfinite_kind(outputs[k]);
      UNRAVEL_CHECK(bad.empty(), "anomaly: {} in the forward output{} of {}{} ({}); its inputs: {}",
                    bad, outputs.size() > 1 ? fmt::format(" {}", k) : "", node->name(),
                    node->scope_path.empty() ? "" : " at " + node->scope_path, outputs[k].desc(),
                    describe_inputs(inputs));
    }
  }
  int64_t index = static_cast<int64_t>(nodes_.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    TensorImpl* impl = outputs[k].impl();
    impl->autograd.requires_grad = true;
    impl->autograd.node = index;
    impl->autograd.out_index = static_cast<int>(k);
    impl->autograd.epoch = epoch_;
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

void Tape::clear() {
  // Destroy newest first: later nodes may hold the last references to earlier outputs.
  while (!nodes_.empty()) nodes_.pop_back();
  epoch_ = g_next_epoch.fetch_add(1);
}

namespace {

// Fan-in: a + b. Gradients in a backend layout (engine/layout.h) are summed as strided tensors.
Tensor sum_grads(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  const Tensor as = a.with_layout(kStrided), bs = b.with_layout(kStrided);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend(a.device()).binary(BinaryOp::add, as.view(), bs.view(), out.view(), 0.0);
  return out;
}

// A leaf's .grad is always a contiguous strided tensor (optimisers read it as one).
Tensor contiguous_copy(const Tensor& g) {
  if (!g.is_strided()) return g.with_layout(kStrided);
  if (g.is_contiguous()) return g;
  Tensor c = Tensor::empty(g.shape(), g.dtype(), g.device());
  backend(g.device()).copy(g.view(), c.view());
  return c;
}

}  // namespace

TensorList Tape::run(const TensorList& roots, const TensorList& seeds, const TensorList* capture,
                     bool retain_graph, const GradReady* hook) {
  UNRAVEL_CHECK(seeds.empty() || seeds.size() == roots.size(),
                "backward: {} seeds given for {} outputs", seeds.size(), roots.size());
  NoGradGuard no_grad;
  // One flat slot per node output (offsets by prefix sum): a single allocation per backward.
  std::vector<int64_t> first(nodes_.size() + 1, 0);
  for (size_t i = 0; i < nodes_.size(); ++i)
    first[i + 1] = first[i] + (nodes_[i] ? nodes_[i]->num_outputs : 0);
  TensorList grads(static_cast<size_t>(first.back()));
  std::vector<uint8_t> has_grad(nodes_.size(), 0);
  TensorList captured(capture ? capture->size() : 0);

  auto leaf_slot = [&](const std::shared_ptr<TensorImpl>& leaf) -> Tensor* {
    if (!capture) return nullptr;
    for (size_t k = 0; k < capture->size(); ++k)
      if ((*capture)[k].impl_ptr() == leaf) return &captured[k];
    return nullptr;
  };

  auto deliver = [&](int64_t node, int out, const std::shared_ptr<TensorImpl>& leaf,
                     const Tensor& g) {
    if (node >= 0) {
      UNRAVEL_CHECK(nodes_[node], "backward: reached a node that an earlier backward() freed; pass "
                                  "retain_graph=true to the first backward to run twice");
      Tensor& slot = grads[first[node] + out];
      slot = sum_grads(slot, g);
      has_grad[node] = 1;
    } else if (capture) {
      if (Tensor* slot = leaf_slot(leaf)) *slot = sum_grads(*slot, g);
    } else {
      AutogradMeta& m = leaf->autograd;
      m.grad = contiguous_copy(sum_grads(m.grad ? Tensor(m.grad) : Tensor(), g)).impl_ptr();
    }
  };

  int64_t start = -1;
  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    UNRAVEL_CHECK(root.requires_grad(),
                  "backward: output {} ({}) does not require a gradient: no input was marked "
                  "requires_grad, or it was computed under NoGradGuard",
                  r, root.desc());
    Tensor seed = seeds.empty() ? Tensor() : seeds[r];
    if (!seed.defined()) {
      UNRAVEL_CHECK(root.numel() == 1,
                    "backward: output {} is {}, not a scalar; pass a seed of the same shape", r,
                    root.desc());
      seed = Tensor::ones(root.shape(), root.dtype(), root.device());
    }
    UNRAVEL_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype(),
                  "backward: seed {} does not match output {}", seed.desc(), root.desc());
    if (root.is_leaf()) {
      deliver(-1, 0, root.impl_ptr(), seed);
      continue;
    }
    UNRAVEL_CHECK(is_live(root),
                  "backward: the graph of {} was already freed (a previous backward() without "
                  "retain_graph, or the tape was cleared)",
                  root.desc());
    const AutogradMeta& m = root.impl()->autograd;
    deliver(m.node, m.out_index, nullptr, seed);
    start = std::max(start, m.node);
  }

  // The watched leaves in the order they become final: a leaf is final once its oldest consumer
  // among the nodes this backward can run has run (nodes newer than `start` never deliver).
  // A leaf no such node consumes is final at once (key: the largest int64, announced first).
  std::vector<std::pair<int64_t, size_t>> finals;  // (node after which it is final, leaf k)
  size_t next_final = 0;
  auto announce = [&](int64_t after) {  // every watched leaf final once node `after` has run
    for (; next_final < finals.size() && finals[next_final].first >= after; ++next_final)
      hook->ready(finals[next_final].second);
  };
  if (hook) {
    std::unordered_map<const TensorImpl*, size_t> watched;
    for (size_t k = 0; k < hook->leaves.size(); ++k) watched.emplace(hook->leaves[k].impl(), k);
    constexpr int64_t kAtOnce = std::numeric_limits<int64_t>::max();
    std::vector<int64_t> oldest(hook->leaves.size(), kAtOnce);
    for (int64_t i = start; i >= 0; --i) {
      if (!nodes_[i]) continue;
      for (const Edge& e : nodes_[i]->next)
        if (e.leaf)
          if (auto it = watched.find(e.leaf.get()); it != watched.end()) oldest[it->second] = i;
    }
    for (size_t k = 0; k < oldest.size(); ++k) finals.emplace_back(oldest[k], k);
    std::stable_sort(finals.begin(), finals.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    announce(kAtOnce);
  }

  for (int64_t i = start; i >= 0; --i) {
    if (!has_grad[i]) {
      if (hook) announce(i);
      continue;
    }
    if (capture)
      for (size_t k = 0; k < capture->size(); ++k) {
        const Tensor& c = (*capture)[k];
        const AutogradMeta* m = &c.impl()->autograd;
        if (m->node == i && m->epoch == epoch_ && !c.is_leaf())
          captured[k] = grads[first[i] + m->out_index];
      }
    Node* n = nodes_[i].get();
    UNRAVEL_CHECK(n, "backward: reached a node that an earlier backward() freed; pass "
                     "retain_graph=true to the first backward to run twice");
    // Moved out: the slots are empty afterwards, so the gradients free as soon as used.
    TensorList out_grads(std::make_move_iterator(grads.begin() + first[i]),
                         std::make_move_iterator(grads.begin() + first[i + 1]));
    TensorList out_grads_copy;
    if (anomaly_mode()) out_grads_copy = out_grads;  // for the message only
    TensorList in = n->backward(out_grads);
    out_grads.clear();
    UNRAVEL_CHECK(in.size() == n->next.size(), "[{} backward] returned {} gradients for {} inputs",
                  n->name(), in.size(), n->next.size());
    if (anomaly_mode())
      for (size_t j = 0; j < in.size(); ++j) {
        if (!n->next[j].valid() || !in[j].defined()) continue;
        std::string bad = nonfinite_kind(in[j]);
        UNRAVEL_CHECK(bad.empty(), "anomaly: {} in the gradient that the backward of {}{} gives its "
                      "input {} ({}); the gradients it received were {}", bad, n->name(),
                      n->scope_path.empty() ? "" : " (at " + n->scope_path + ")", j, in[j].desc(),
                      describe_grads(out_grads_copy));
      }
    for (size_t j = 0; j < in.size(); ++j) {
      const Edge& e = n->next[j];
      if (!e.valid() || !in[j].defined()) continue;
      UNRAVEL_CHECK(in[j].shape() == e.shape && in[j].dtype() == e.dtype,
                    "[{} backward] gradient for input {} is {}, expected {}{}", n->name(), j,
                    in[j].desc(), dtype_name(e.dtype), e.shape.str());
      deliver(e.node, e.out_index, e.leaf, in[j]);
    }
    if (!retain_graph) nodes_[i].reset();
    if (hook) announce(i);
  }
  if (!retain_graph) clear();
  return captured;
}

void Tape::backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                    const GradReady* hook) {
  run(roots, seeds, nullptr, retain_graph, hook);
}

TensorList Tape::grad(const TensorList& roots, const TensorList& seeds, const TensorList& inputs,
                      bool retain_graph) {
  for (size_t k = 0; k < inputs.size(); ++k)
    UNRAVEL_CHECK(inputs[k].defined() && inputs[k].requires_grad(),
                  "grad: input {} ({}) does not require a gradient", k,
                  inputs[k].defined() ? inputs[k].desc() : "undefined");
  return run(roots, seeds, &inputs, retain_graph, nullptr);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& seeds,
                bool retain_graph) {
  return tape().grad(outputs, seeds, inputs, retain_graph);
}

const Tensor& SavedTensor::get(const char* op) const {
  UNRAVEL_CHECK(!t_.defined() || t_.version() == version_,
                "[{} backward] a tensor saved for backward ({}) was modified in-place after it "
                "was saved (version {} -> {})",
                op, t_.desc(), version_, t_.version());
  return t_;
}

}  // namespace unravel
