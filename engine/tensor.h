// Tensor: a cheap, shared handle to {storage, offset, shape, strides, dtype, layout} plus
// optional autograd state. Views share storage. Math lives in ops/ as free functions
// (ops/ops.h), so the engine never depends on ops. A tensor whose layout is not strided
// (engine/layout.h) is readable only by layout-aware code: view(), strides() and data<T>()
// refuse it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/layout.h"
#include "engine/shape.h"
#include "engine/storage.h"
#include "engine/tensor_view.h"

namespace unravel {

struct TensorImpl;
class Tensor;
using TensorList = std::vector<Tensor>;

/// Autograd state of a tensor: whether it wants gradients, its accumulated .grad (leaves), and
/// for non-leaves the tape node that produced it (index + output slot, valid for one epoch).
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  int64_t node = -1;      ///< index on the thread's tape, -1 for a leaf
  int out_index = 0;      ///< which output of that node
  uint64_t epoch = 0;     ///< tape epoch the node index refers to
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  ///< in elements
  Shape shape;
  Strides strides;  ///< empty when the layout is not strided
  DType dtype = DType::f32;
  Layout layout;    ///< strided, or a backend format (engine/layout.h)
  AutogradMeta autograd;  ///< inline: recording an op allocates no separate block
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- construction (no autograd) -------------------------------------------------------------
  /// Uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  /// Uninitialised tensor in `layout`: a format of device's backend (storage of
  /// Backend::layout_nbytes bytes), or strided (the same as the overload above).
  static Tensor empty(const Shape& shape, DType dtype, Device device, Layout layout);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = kCPU);
  /// 0-d tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = kCPU);
  /// Copies `values` (numel(shape) of them) into a new tensor of T's dtype.
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = kCPU) {
    return from_data(values.data(), values.size(), dtype_v<T>, shape, device);
  }
  static Tensor from_data(const void* data, size_t count, DType dtype, const Shape& shape,
                          Device device = kCPU);
  /// A view over existing storage (used by view ops and readers).
  static Tensor make_view(std::shared_ptr<Storage> storage, int64_t offset, const Shape& shape,
                          const Strides& strides, DType dtype);
  /// Same dtype/device/shape as `like`, uninitialised (or filled).
  static Tensor empty_like(const Tensor& like);
  static Tensor zeros_like(const Tensor& like);

  // --- metadata ---------------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  /// Strides in elements; refuses a non-strided tensor (they would be meaningless).
  const Strides& strides() const {
    if (!impl_->layout.is_strided()) [[unlikely]] refuse_layout("strides()");
    return impl_->strides;
  }
  Layout layout() const { return impl_->layout; }
  bool is_strided() const { return impl_->layout.is_strided(); }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  int dim() const { return impl_->shape.size(); }
  /// Extent of dimension d (negative counts from the end).
  int64_t size(int64_t d) const;
  int64_t numel() const { return unravel::numel(impl_->shape); }
  /// Logical size numel · size_of(dtype); a non-strided tensor's storage may be larger.
  size_t nbytes() const { return static_cast<size_t>(numel()) * size_of(dtype()); }
  /// Dense row-major strided; false for every non-strided layout.
  bool is_contiguous() const {
    return is_strided() && unravel::is_contiguous(impl_->shape, impl_->strides);
  }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  /// "f32[64, 1, 64, 64]"; a non-strided layout is named: "f32[2, 16, 8, 8]{cpu:nChw8c}".
  std::string desc() const;

  // --- data access (CPU) -------------------------------------------------------------------------
  /// Pointer to the first element (the storage start for a non-strided layout); the tensor must
  /// be strided and on the CPU for typed access.
  void* raw_data() const;
  template <class T> T* data() const {
    check_typed_access(dtype_v<T>);
    return static_cast<T*>(raw_data());
  }
  /// The single element of a one-element tensor, converted to double (copies from devices).
  double item() const;
  /// All elements in row-major order converted to T (copies from devices / strided layouts;
  /// a backend layout is converted to its logical values first).
  template <class T> std::vector<T> to_vector() const;
  /// Kernel-facing view of a strided tensor. Refuses a non-strided one, naming it and the fix:
  /// this is the one check that keeps generic ops from misreading a backend layout.
  TensorView view() const;
  /// Kernel-facing view in any layout (the view's layout says which), for layout-aware code
  /// only: convert_layout, kernels that accept backend formats (engine/layout.h).
  TensorView layout_view() const;
  /// This tensor in layout `to`: *this when it already has it, else a copy converted by its
  /// backend's convert_layout (a strided result is contiguous). No autograd: ops/layout.h's
  /// to_layout / to_strided are the differentiable form.
  Tensor with_layout(Layout to) const;

  // --- autograd ---------------------------------------------------------------------------------
  /// True for leaves marked with set_requires_grad and for results of recorded ops.
  bool requires_grad() const;
  /// Marks a leaf as needing gradients (returns *this for chaining).
  Tensor& set_requires_grad(bool on = true);
  /// True when no recorded op produced this tensor.
  bool is_leaf() const;
  /// Accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  /// Drops the accumulated gradient (set to undefined).
  void zero_grad();
  /// Reverse-mode from this tensor: a scalar, or any shape with an explicit `seed` of the same
  /// shape. Accumulates into leaves' grad(); frees the tape unless retain_graph.
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false) const;
  /// Same data, no autograd history.
  Tensor detach() const;

  // --- versioning (in-place writes) -------------------------------------------------------------
  uint64_t version() const { return impl_->storage->version(); }
  /// Call after writing into this tensor's memory in place.
  void bump_version() const { impl_->storage->bump_version(); }

 private:
  void check_typed_access(DType t) const;
  [[noreturn]] void refuse_layout(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace unravel
