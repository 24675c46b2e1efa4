#include "engine/tensor.h"

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/tape.h"

namespace unravel {

void throw_error(std::string msg) { throw Error(std::move(msg)); }

void refuse_bf16() {
  throw_error("this kernel has no bf16 implementation: bf16 tensors are storage for mixed "
              "precision; convert with to(x, DType::f32) to compute on them");
}

namespace {
std::shared_ptr<TensorImpl> new_impl(const Shape& shape, DType dtype, Device device,
                                     Layout layout = kStrided) {
  auto impl = std::make_shared<TensorImpl>();
  size_t bytes = static_cast<size_t>(numel(shape)) * size_of(dtype);
  if (!layout.is_strided()) bytes = backend(device).layout_nbytes(layout.format, shape, dtype);
  impl->storage = std::make_shared<Storage>(bytes, device);
  impl->shape = shape;
  if (layout.is_strided()) impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->layout = layout;
  return impl;
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) UNRAVEL_CHECK(d >= 0, "empty: negative extent in shape {}", shape.str());
  return Tensor(new_impl(shape, dtype, device));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, Layout layout) {
  if (layout.is_strided()) return empty(shape, dtype, device);
  for (int64_t d : shape) UNRAVEL_CHECK(d >= 0, "empty: negative extent in shape {}", shape.str());
  UNRAVEL_CHECK(layout.backend == device.kind,
                "empty: layout format {} was assigned by the {} backend, but the tensor is on {}",
                layout.format, device_kind_name(layout.backend), device.str());
  return Tensor(new_impl(shape, dtype, device, layout));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.numel()) backend(device).fill(t.view(), value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full(Shape{}, value, dtype, device);
}

Tensor Tensor::from_data(const void* data, size_t count, DType dtype, const Shape& shape,
                         Device device) {
  UNRAVEL_CHECK(static_cast<int64_t>(count) == unravel::numel(shape),
                "from_data: {} values given for shape {} ({} elements)", count, shape.str(),
                unravel::numel(shape));
  Tensor t = empty(shape, dtype, device);
  if (count) backend(device).copy_from_host(data, t.raw_data(), count * size_of(dtype));
  return t;
}

Tensor Tensor::make_view(std::shared_ptr<Storage> storage, int64_t offset, const Shape& shape,
                         const Strides& strides, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty_like(const Tensor& like) { return empty(like.shape(), like.dtype(), like.device()); }
Tensor Tensor::zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype(), like.device()); }

int64_t Tensor::size(int64_t d) const {
  return impl_->shape[normalize_axis(d, dim(), "size")];
}

std::string Tensor::desc() const {
  if (!defined()) return "undefined";
  std::string s = std::string(dtype_name(dtype())) + shape().str();
  if (!is_strided()) {
    Backend& be = backend(device());
    s += fmt::format("{{{}:{}}}", be.name(), be.layout_name(layout().format));
  }
  if (!device().is_cpu()) s += fmt::format("@{}", device().str());
  return s;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * size_of(impl_->dtype);
}

void Tensor::check_typed_access(DType t) const {
  UNRAVEL_CHECK(defined(), "data<{}>(): tensor is undefined", dtype_name(t));
  UNRAVEL_CHECK(dtype() == t, "data<{}>(): tensor is {}", dtype_name(t), desc());
  UNRAVEL_CHECK(device().is_cpu(), "data<{}>(): tensor {} is not on the CPU", dtype_name(t), desc());
  if (!is_strided()) refuse_layout("data<T>()");
}

void Tensor::refuse_layout(const char* what) const {
  throw_error(fmt::format(
      "{}: tensor {} is in a backend layout; generic ops read strided tensors only "
      "(engine/layout.h). Convert it first with to_strided(x) (ops/layout.h)",
      what, desc()));
}

TensorView Tensor::view() const {
  if (!impl_->layout.is_strided()) [[unlikely]] refuse_layout("view()");
  return TensorView{raw_data(), impl_->shape, impl_->strides, impl_->dtype, device(), kStrided};
}

TensorView Tensor::layout_view() const {
  return TensorView{raw_data(), impl_->shape, impl_->strides, impl_->dtype, device(),
                    impl_->layout};
}

Tensor Tensor::with_layout(Layout to) const {
  UNRAVEL_CHECK(defined(), "with_layout: tensor is undefined");
  if (layout() == to) return *this;
  Tensor y = empty(shape(), dtype(), device(), to);
  if (numel()) backend(device()).convert_layout(layout_view(), y.layout_view());
  return y;
}

double Tensor::item() const {
  UNRAVEL_CHECK(defined() && numel() == 1, "item(): needs a one-element tensor, got {}", desc());
  return to_vector<double>()[0];
}

template <class T> std::vector<T> Tensor::to_vector() const {
  UNRAVEL_CHECK(defined(), "to_vector(): tensor is undefined");
  std::vector<T> out(static_cast<size_t>(numel()));
  if (out.empty()) return out;
  // Logical values (a backend layout converted first), gathered with dtype conversion into a
  // contiguous tensor, then copied out.
  const Tensor src = with_layout(kStrided);
  Tensor host = Tensor::empty(shape(), dtype_v<T>, device());
  backend(device()).copy(src.view(), host.view());
  backend(device()).copy_to_host(host.raw_data(), out.data(), out.size() * sizeof(T));
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// --- autograd ------------------------------------------------------------------------------------

bool Tensor::requires_grad() const {
  return defined() && impl_->autograd.requires_grad;
}

Tensor& Tensor::set_requires_grad(bool on) {
  UNRAVEL_CHECK(defined(), "set_requires_grad: tensor is undefined");
  UNRAVEL_CHECK(is_leaf(), "set_requires_grad: {} is the result of an op; only leaves can be marked",
                desc());
  UNRAVEL_CHECK(!on || is_floating(dtype()), "set_requires_grad: {} is not a floating-point tensor",
                desc());
  impl_->autograd.requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return impl_->autograd.node < 0; }

Tensor Tensor::grad() const {
  if (!defined() || !impl_->autograd.grad) return Tensor();
  return Tensor(impl_->autograd.grad);
}

void Tensor::set_grad(const Tensor& g) {
  UNRAVEL_CHECK(defined(), "set_grad: tensor is undefined");
  if (g.defined())
    UNRAVEL_CHECK(g.shape() == shape() && g.dtype() == dtype(),
                  "set_grad: gradient {} does not match tensor {}", g.desc(), desc());
  impl_->autograd.grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  if (defined()) impl_->autograd.grad.reset();
}

void Tensor::backward(const Tensor& seed, bool retain_graph) const {
  UNRAVEL_CHECK(defined(), "backward: tensor is undefined");
  tape().backward({*this}, {seed}, retain_graph);
}

Tensor Tensor::detach() const {
  if (!defined()) return Tensor();
  Tensor t = make_view(impl_->storage, impl_->offset, impl_->shape, impl_->strides, impl_->dtype);
  t.impl_->layout = impl_->layout;
  return t;
}

}  // namespace unravel
