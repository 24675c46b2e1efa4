// What a kernel receives: a pointer, shape, strides (in elements), dtype, device and layout. It
// holds no reference count and no autograd state, so a kernel cannot touch the tape. Views from
// Tensor::view() are always strided; only Tensor::layout_view() hands a layout-aware kernel a
// non-strided one (engine/layout.h), whose strides are empty and must not be used.
#pragma once
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/layout.h"
#include "engine/shape.h"

namespace unravel {

struct TensorView {
  void* data = nullptr;  ///< first element (storage base + offset)
  Shape shape;
  Strides strides;
  DType dtype = DType::f32;
  Device device;
  Layout layout;  ///< strided unless handed out by Tensor::layout_view()

  int rank() const { return shape.size(); }
  int64_t numel() const { return unravel::numel(shape); }
  bool strided() const { return layout.is_strided(); }
  /// Dense row-major; false for every non-strided layout.
  bool contiguous() const { return strided() && is_contiguous(shape, strides); }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace unravel
