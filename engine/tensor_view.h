// What a kernel receives: a pointer, shape, strides (in elements), dtype and device. It holds
// no reference count and no autograd state, so a kernel cannot touch the tape.
#pragma once
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace unravel {

struct TensorView {
  void* data = nullptr;  ///< first element (storage base + offset)
  Shape shape;
  Strides strides;
  DType dtype = DType::f32;
  Device device;

  int rank() const { return shape.size(); }
  int64_t numel() const { return unravel::numel(shape); }
  bool contiguous() const { return is_contiguous(shape, strides); }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace unravel
