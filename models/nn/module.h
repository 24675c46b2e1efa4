// nn::Module: the base of every layer and model. A module owns named parameters (leaves that
// require grad), named buffers (state that is saved but not trained, e.g. running statistics)
// and named child modules, registered explicitly in the constructor (no macros). Names compose
// with dots ("enc.conv1.weight"), in registration order, as in PyTorch.
//
// Moving a module (to(Device), to(DType)) rewrites each tensor's storage in place, so every
// handle a layer keeps to its parameters stays valid.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/anomaly.h"
#include "engine/tensor.h"

namespace unravel::nn {

/// A list of (dotted name, tensor) pairs in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The layer's computation; the default throws naming the module type.
  virtual Tensor forward(const Tensor& x);
  /// Same as forward(x); in anomaly mode (engine/anomaly.h) it also names this module in the
  /// scope path that anomaly messages print.
  Tensor operator()(const Tensor& x) {
    if (!anomaly_mode()) return forward(x);
    AnomalyScope scope(name_);
    return forward(x);
  }
  /// The name this module was registered under in its parent ("" for a root).
  const std::string& name() const { return name_; }
  /// Short type name for messages and printing ("Linear", "Sequential", ...).
  virtual std::string type_name() const { return "Module"; }
  /// One-line description of the module's configuration ("Linear(in=4, out=2, bias)").
  virtual std::string describe() const { return type_name(); }

  /// All parameters, recursively, in registration order.
  TensorList parameters() const;
  /// Parameters with dotted names ("enc.conv1.weight").
  NamedTensors named_parameters() const;
  /// Buffers with dotted names ("enc.bn1.running_mean").
  NamedTensors named_buffers() const;
  /// Direct children with their names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  /// Total number of parameter elements.
  int64_t num_parameters() const;

  /// Sets training mode recursively (affects BatchNorm, dropout-like layers).
  void train(bool on = true);
  /// Same as train(false).
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Drops every parameter's accumulated gradient.
  void zero_grad();
  /// Moves every parameter and buffer to `device` in place (gradients are dropped).
  void to(Device device);
  /// Converts every floating-point parameter and buffer to `dtype` in place (gradients dropped).
  void to(DType dtype);
  /// Device of the first parameter or buffer; for a module without tensors, the device it was
  /// last moved to with to(Device) (CPU until then), so it can make tensors there.
  Device device() const;

  /// Multi-line tree of the module and its children.
  std::string str() const;

  /// Registers a trainable tensor (made a leaf that requires grad); returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  /// Registers a non-trainable tensor saved with the module.
  Tensor register_buffer(const std::string& name, Tensor t);
  /// Registers a child module; returns it.
  template <class M> std::shared_ptr<M> register_module(const std::string& name,
                                                         std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  template <class F> void for_each_tensor(F&& f);
  void mark_device(Device device);

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  Device device_ = kCPU;
  std::string name_;
};

}  // namespace unravel::nn
