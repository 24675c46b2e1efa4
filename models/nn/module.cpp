// nn::Module bookkeeping: registration with name checks, recursive dotted naming, mode switches,
// and in-place device / dtype moves (the TensorImpl of each parameter gets the new storage, so
// handles held by layers and optimisers keep pointing at the live tensor).
#include "models/nn/module.h"

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/shape_ops.h"

namespace unravel::nn {

Tensor Module::forward(const Tensor&) {
  throw_error(fmt::format("{}: forward(Tensor) is not implemented for this module", type_name()));
}

void Module::check_new_name(const std::string& name, const char* what) const {
  UNRAVEL_CHECK(!name.empty() && name.find('.') == std::string::npos,
                "{}::register_{}: invalid name '{}' (non-empty, no dots)", type_name(), what, name);
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  UNRAVEL_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_),
                "{}::register_{}: name '{}' is already registered", type_name(), what, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name, "parameter");
  UNRAVEL_CHECK(t.defined(), "{}::register_parameter('{}'): tensor is undefined", type_name(), name);
  UNRAVEL_CHECK(is_floating(t.dtype()) && t.is_leaf(),
                "{}::register_parameter('{}'): needs a floating-point leaf tensor, got {}",
                type_name(), name, t.desc());
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "buffer");
  UNRAVEL_CHECK(t.defined(), "{}::register_buffer('{}'): tensor is undefined", type_name(), name);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "module");
  UNRAVEL_CHECK(m != nullptr, "{}::register_module('{}'): module is null", type_name(), name);
  UNRAVEL_CHECK(m.get() != this, "{}::register_module('{}'): a module cannot contain itself",
                type_name(), name);
  m->train(training_);
  m->name_ = name;
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& t : parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::mark_device(Device device) {
  device_ = device;
  for (auto& [_, c] : children_) c->mark_device(device);
}

template <class F> void Module::for_each_tensor(F&& f) {
  for (auto& [_, t] : params_) f(t);
  for (auto& [_, t] : buffers_) f(t);
  for (auto& [_, c] : children_) c->for_each_tensor(f);
}

namespace {
// Points t's implementation at `moved`'s storage and layout (same shape).
void rebind(const Tensor& t, const Tensor& moved) {
  if (moved.is_same(t)) return;
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->offset = moved.offset();
  impl->strides = moved.impl()->strides;
  impl->dtype = moved.dtype();
  impl->layout = moved.layout();
  impl->autograd.grad.reset();
}
}  // namespace

void Module::to(Device device) {
  NoGradGuard guard;
  mark_device(device);
  for_each_tensor([&](Tensor& t) {
    if (t.device() != device) rebind(t, contiguous(unravel::to(t.detach(), device)));
  });
}

void Module::to(DType dtype) {
  UNRAVEL_CHECK(is_floating(dtype), "{}::to({}): modules convert to floating dtypes only",
                type_name(), dtype_name(dtype));
  NoGradGuard guard;
  for_each_tensor([&](Tensor& t) {
    if (is_floating(t.dtype()) && t.dtype() != dtype)
      rebind(t, contiguous(unravel::to(t.detach(), dtype)));
  });
}

Device Module::device() const {
  auto ps = named_parameters();
  if (!ps.empty()) return ps.front().second.device();
  auto bs = named_buffers();
  if (!bs.empty()) return bs.front().second.device();
  return device_;
}

namespace {
void print_tree(const Module& m, const std::string& name, int depth, std::string& out) {
  out += std::string(2 * depth, ' ');
  if (!name.empty()) out += "(" + name + "): ";
  out += m.describe() + "\n";
  for (const auto& [n, c] : m.children()) print_tree(*c, n, depth + 1, out);
}
}  // namespace

std::string Module::str() const {
  std::string out;
  print_tree(*this, "", 0, out);
  return out;
}

}  // namespace unravel::nn
