// Arrays between Python and the engine, without copies where the layout allows:
//  * in:  NumPy arrays (buffer protocol) and any object with `__dlpack__` (PyTorch, JAX, CuPy,
//         NumPy ≥ 1.22) become Tensors that wrap the caller's memory and keep the Python object
//         alive until the last Tensor view is gone;
//  * out: host Tensors become NumPy arrays over the Tensor's own storage, and `unravel.Tensor`
//         exports any Tensor (device memory included) through `__dlpack__`.
// Inputs are checked here, before any computation, with messages naming the argument: the dtype
// (exactly the one asked for: no silent casts), the shape, C-contiguity and finite values.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/pybind11.h>

#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/tensor.h"

namespace unravel::python {

namespace py = pybind11;

/// Around every computation: the GIL released (other Python threads run meanwhile) and the
/// engine's float mode (FTZ + DAZ) on this thread only until the call returns, so NumPy's
/// arithmetic in the same thread keeps IEEE subnormals.
struct Compute {
  py::gil_scoped_release nogil;
  DenormalsFlushedScope fp;
};

/// What an argument must be: its dtype, and where it must hold only finite values.
struct ArraySpec {
  const char* what;            ///< "encode: images" — the prefix of every message
  DType dtype = DType::f32;
  bool any_dtype = false;      ///< take any dtype as it comes (from_dlpack)
  bool finite = true;          ///< refuse NaN / Inf (float arrays)
  int min_dim = 1, max_dim = 8;
};

/// A Tensor over `obj`'s memory (NumPy array, unravel.Tensor, or a `__dlpack__` producer).
/// Raises TypeError for an unusable object or dtype, ValueError for a non-contiguous array or a
/// non-finite value. Python lists and scalars are refused (pass np.asarray(...)).
Tensor tensor_from_python(py::handle obj, const ArraySpec& spec);

/// A NumPy array viewing host Tensor `t` (made contiguous on the CPU first if it is not);
/// the array keeps the storage alive.
py::array numpy_from_tensor(const Tensor& t);

/// The Python type `unravel.Tensor`: shape, dtype, device, numpy(), __array__, __dlpack__,
/// __dlpack_device__; and `unravel.from_dlpack(obj)`.
void bind_tensor(py::module_& m);

/// A Python object for a result: a NumPy array for host tensors, an `unravel.Tensor` for device
/// memory (which NumPy cannot hold; torch.from_dlpack / cupy.from_dlpack take it without copy).
py::object result(const Tensor& t);

}  // namespace unravel::python
