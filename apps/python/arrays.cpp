// NumPy / DLPack ↔ Tensor (see arrays.h). DLPack 0.6 (Debian's libdlpack-dev): a producer's
// `__dlpack__()` returns a capsule named "dltensor" holding a DLManagedTensor; the consumer
// renames it "used_dltensor" and calls its deleter when done. We are both.
#include "apps/python/arrays.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/check.h"
#include "ops/ops.h"

#if UNRAVEL_HAVE_DLPACK
#include <dlpack/dlpack.h>
#endif

namespace unravel::python {

namespace {

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

std::string shape_str(const Shape& s) { return s.str(); }

/// NumPy's name of a dtype, as a Python user reads it.
const char* numpy_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::bf16: return "bfloat16";
  }
  return "?";
}

/// Storage over memory owned by a Python object: holds a reference until the storage dies.
std::shared_ptr<Storage> storage_over(void* data, size_t nbytes, Device dev, py::handle owner) {
  PyObject* o = owner.ptr();
  Py_INCREF(o);
  return std::make_shared<Storage>(data, nbytes, dev, [o](void*) {
    py::gil_scoped_acquire gil;
    Py_DECREF(o);
  });
}

/// Refuses NaN / Inf: host arrays are scanned (the message names the flat position and its
/// index); device arrays are summed after multiplying by 0 (one scalar read: 0 unless a value
/// is NaN or ±Inf).
void check_finite(const Tensor& t, const ArraySpec& spec) {
  if (!spec.finite || (t.dtype() != DType::f32 && t.dtype() != DType::f64) || t.numel() == 0)
    return;
  if (!t.device().is_cpu()) {
    double s = sum(t * 0.0).item();
    if (!std::isfinite(s))
      value_error(fmt::format("{} hold NaN or Inf (on {}); every value must be finite", spec.what,
                              t.device().str()));
    return;
  }
  auto scan = [&](const auto* v) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (std::isfinite(v[i])) continue;
      std::vector<int64_t> idx(static_cast<size_t>(t.dim()));
      int64_t r = i;
      for (int d = t.dim() - 1; d >= 0; --d) {
        idx[static_cast<size_t>(d)] = r % t.size(d);
        r /= t.size(d);
      }
      value_error(fmt::format("{} hold {} at index [{}] (every value must be finite)", spec.what,
                              std::isnan(v[i]) ? "NaN" : "Inf", fmt::join(idx, ", ")));
    }
  };
  if (t.dtype() == DType::f32) scan(t.data<float>());
  else scan(t.data<double>());
}

void check_spec(const Tensor& t, const ArraySpec& spec) {
  if (!spec.any_dtype && t.dtype() != spec.dtype)
    type_error(fmt::format("{} must be {} (got {}); convert first: x.astype(np.{})", spec.what,
                           numpy_name(spec.dtype), numpy_name(t.dtype()), numpy_name(spec.dtype)));
  if (t.dim() < spec.min_dim || t.dim() > spec.max_dim)
    value_error(fmt::format("{} must have {} dimensions, got shape {}", spec.what,
                            spec.min_dim == spec.max_dim ? fmt::format("{}", spec.min_dim)
                                                         : fmt::format("{} to {}", spec.min_dim, spec.max_dim),
                            shape_str(t.shape())));
}

Tensor from_numpy(const py::array& a, const ArraySpec& spec) {
  DType dt;
  const py::dtype d = a.dtype();
  if (d.is(py::dtype::of<float>())) dt = DType::f32;
  else if (d.is(py::dtype::of<double>())) dt = DType::f64;
  else if (d.is(py::dtype::of<int32_t>())) dt = DType::i32;
  else if (d.is(py::dtype::of<int64_t>())) dt = DType::i64;
  else if (d.is(py::dtype::of<uint8_t>())) dt = DType::u8;
  else
    type_error(fmt::format("{} must be {} (got numpy dtype {}); convert first: x.astype(np.{})",
                           spec.what, numpy_name(spec.dtype),
                           py::str(static_cast<const py::handle&>(d)).cast<std::string>(),
                           numpy_name(spec.dtype)));
  Shape shape(std::vector<int64_t>(a.shape(), a.shape() + a.ndim()));
  if (!(a.flags() & py::array::c_style))
    value_error(fmt::format("{} must be C-contiguous (got shape {} with strides {} bytes); pass "
                            "np.ascontiguousarray(x)", spec.what, shape_str(shape),
                            fmt::join(std::vector<py::ssize_t>(a.strides(), a.strides() + a.ndim()), ", ")));
  auto st = storage_over(const_cast<void*>(a.data()), static_cast<size_t>(a.nbytes()), kCPU, a);
  return Tensor::make_view(st, 0, shape, contiguous_strides(shape), dt);
}

#if UNRAVEL_HAVE_DLPACK
const char* kCapsule = "dltensor";
const char* kUsedCapsule = "used_dltensor";

Tensor from_dlpack_object(py::handle obj, const ArraySpec& spec) {
  py::object cap = obj.attr("__dlpack__")();
  if (!PyCapsule_IsValid(cap.ptr(), kCapsule))
    type_error(fmt::format("{}: __dlpack__() returned no valid 'dltensor' capsule (already used?)",
                           spec.what));
  auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), kCapsule));
  // From here we own it: the deleter runs when our storage dies (or now, on an error).
  PyCapsule_SetName(cap.ptr(), kUsedCapsule);
  auto release = [mt] {
    if (mt->deleter) mt->deleter(mt);
  };
  const DLTensor& t = mt->dl_tensor;
  DType dt;
  const int code = t.dtype.code, bits = t.dtype.bits;
  if (t.dtype.lanes != 1) { release(); type_error(fmt::format("{}: vector dtypes (lanes {}) are not supported", spec.what, t.dtype.lanes)); }
  if (code == kDLFloat && bits == 32) dt = DType::f32;
  else if (code == kDLFloat && bits == 64) dt = DType::f64;
  else if (code == kDLInt && bits == 32) dt = DType::i32;
  else if (code == kDLInt && bits == 64) dt = DType::i64;
  else if (code == kDLUInt && bits == 8) dt = DType::u8;
  else if (code == kDLBfloat && bits == 16) dt = DType::bf16;
  else {
    release();
    type_error(fmt::format("{} must be {} (got DLPack type code {} with {} bits)", spec.what,
                           numpy_name(spec.dtype), code, bits));
  }
  Device dev;
  switch (t.device.device_type) {
    case kDLCPU: case kDLCUDAHost: dev = kCPU; break;
    case kDLCUDA: dev = Device{DeviceKind::cuda, static_cast<int>(t.device.device_id)}; break;
    default:
      release();
      type_error(fmt::format("{} lives on DLPack device type {}; unravel takes CPU or CUDA memory",
                             spec.what, static_cast<int>(t.device.device_type)));
  }
  Shape shape(std::vector<int64_t>(t.shape, t.shape + t.ndim));
  if (t.strides) {
    Strides want = contiguous_strides(shape);
    for (int d = 0; d < t.ndim; ++d)
      if (t.shape[d] > 1 && t.strides[d] != want[d]) {
        release();
        value_error(fmt::format("{} must be contiguous (got shape {} with strides [{}] elements); "
                                "pass a contiguous copy (x.contiguous() / np.ascontiguousarray)",
                                spec.what, shape_str(shape),
                                fmt::join(std::vector<int64_t>(t.strides, t.strides + t.ndim), ", ")));
      }
  }
  size_t nbytes = static_cast<size_t>(std::max<int64_t>(numel(shape), 0)) * size_of(dt);
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  auto st = std::make_shared<Storage>(data, nbytes, dev, [mt](void*) {
    py::gil_scoped_acquire gil;
    if (mt->deleter) mt->deleter(mt);
  });
  return Tensor::make_view(st, 0, shape, contiguous_strides(shape), dt);
}

/// What a capsule we made owns: the tensor (its storage stays alive) and the shape/strides
/// arrays DLPack points at.
struct ExportCtx {
  Tensor t;
  std::vector<int64_t> shape, strides;
};

void capsule_destructor(PyObject* cap) {
  if (PyCapsule_IsValid(cap, kUsedCapsule)) return;  // a consumer took it and will call deleter
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, kCapsule));
  if (mt && mt->deleter) mt->deleter(mt);
  PyErr_Restore(type, value, tb);
}

std::pair<int, int> dlpack_device(const Tensor& t) {
  if (t.device().is_cpu()) return {kDLCPU, 0};
  if (t.device().is_cuda()) return {kDLCUDA, t.device().index};
  throw py::buffer_error(fmt::format("a tensor on {} (the stand-in device) cannot be exported "
                                     "through DLPack; use .to('cpu') first", t.device().str()));
}

py::capsule to_dlpack(const Tensor& src) {
  Tensor t = src.is_contiguous() ? src : contiguous(src);
  auto dev = dlpack_device(t);
  if (t.device().is_cuda()) backend(t.device()).synchronize();  // the consumer's stream sees it
  auto* ctx = new ExportCtx{t, t.shape().vec(), contiguous_strides(t.shape()).vec()};
  auto* mt = new DLManagedTensor{};
  mt->manager_ctx = ctx;
  mt->deleter = [](DLManagedTensor* self) {
    delete static_cast<ExportCtx*>(self->manager_ctx);
    delete self;
  };
  DLTensor& d = mt->dl_tensor;
  d.data = t.numel() > 0 ? t.raw_data() : nullptr;
  d.device = DLDevice{static_cast<DLDeviceType>(dev.first), dev.second};
  d.ndim = t.dim();
  static const std::pair<uint8_t, uint8_t> codes[] = {
      {kDLFloat, 32}, {kDLFloat, 64}, {kDLInt, 32}, {kDLInt, 64}, {kDLUInt, 8}, {kDLBfloat, 16}};
  auto [code, bits] = codes[static_cast<int>(t.dtype())];
  d.dtype = DLDataType{code, bits, 1};
  d.shape = ctx->shape.data();
  d.strides = ctx->strides.data();
  d.byte_offset = 0;
  return py::reinterpret_steal<py::capsule>(PyCapsule_New(mt, kCapsule, capsule_destructor));
}
#endif

}  // namespace

Tensor tensor_from_python(py::handle obj, const ArraySpec& spec) {
  if (py::isinstance<Tensor>(obj)) {
    Tensor t = obj.cast<Tensor>();
    check_spec(t, spec);
    check_finite(t, spec);
    return t;
  }
  Tensor t;
  if (py::isinstance<py::array>(obj)) {
    t = from_numpy(py::reinterpret_borrow<py::array>(obj), spec);
  } else if (py::hasattr(obj, "__dlpack__")) {
#if UNRAVEL_HAVE_DLPACK
    t = from_dlpack_object(obj, spec);
#else
    type_error(fmt::format("{}: this build has no DLPack support (libdlpack-dev was not found); "
                           "pass a NumPy array", spec.what));
#endif
  } else {
    type_error(fmt::format("{} must be a NumPy array (or a DLPack tensor), got {}; use "
                           "np.asarray(x, dtype=np.float32)", spec.what,
                           py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
  }
  check_spec(t, spec);
  check_finite(t, spec);
  return t;
}

py::array numpy_from_tensor(const Tensor& src) {
  if (src.device().is_cuda())
    throw py::buffer_error(fmt::format("a tensor on {} is not host memory; use .to('cpu') (or "
                                       "torch/cupy.from_dlpack) instead of numpy()", src.device().str()));
  Tensor t = src;
  if (!t.device().is_cpu()) t = to(t, kCPU);
  if (t.dtype() == DType::bf16) t = to(t, DType::f32);  // NumPy has no bfloat16
  if (!t.is_contiguous()) t = contiguous(t);
  py::dtype dt;
  switch (t.dtype()) {
    case DType::f32: dt = py::dtype::of<float>(); break;
    case DType::f64: dt = py::dtype::of<double>(); break;
    case DType::i32: dt = py::dtype::of<int32_t>(); break;
    case DType::i64: dt = py::dtype::of<int64_t>(); break;
    default: dt = py::dtype::of<uint8_t>(); break;
  }
  std::vector<py::ssize_t> shape, strides;
  for (int d = 0; d < t.dim(); ++d) {
    shape.push_back(t.size(d));
    strides.push_back(static_cast<py::ssize_t>(t.strides()[d] * size_of(t.dtype())));
  }
  py::capsule base(new Tensor(t), [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.numel() > 0 ? t.raw_data() : nullptr, base);
}

py::object result(const Tensor& t) {
  if (t.device().is_cuda()) return py::cast(t);
  return numpy_from_tensor(t);
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor",
                     "An unravel tensor: host or device memory, exported without copies through "
                     "DLPack (torch.from_dlpack(t), np.from_dlpack(t), cupy.from_dlpack(t)).")
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape().vec())); })
      .def_property_readonly("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def("numpy", &numpy_from_tensor, "A NumPy array over this (host) tensor's memory, no copy.")
      .def("to", [](const Tensor& t, const std::string& device) {
             Compute compute;
             return to(t, Device::parse(device));
           }, py::arg("device"), "A copy on `device` (\"cpu\", \"cuda:N\", \"sim\").")
      .def("__array__", [](const Tensor& t, py::object dtype) {
             py::array a = numpy_from_tensor(t);
             return dtype.is_none() ? py::object(a) : a.attr("astype")(dtype);
           }, py::arg("dtype") = py::none())
#if UNRAVEL_HAVE_DLPACK
      .def("__dlpack__", [](const Tensor& t, py::object /*stream*/) { return to_dlpack(t); },
           py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const Tensor& t) { return py::make_tuple(dlpack_device(t).first, dlpack_device(t).second); })
#endif
      .def("__repr__", [](const Tensor& t) {
        return fmt::format("unravel.Tensor(shape={}, dtype={}, device={})", t.shape().str(),
                           dtype_name(t.dtype()), t.device().str());
      });
  m.def("from_dlpack", [](py::object obj) {
        ArraySpec spec{"from_dlpack: the argument"};
        spec.any_dtype = true;
        spec.finite = false;
        spec.min_dim = 0;
        return tensor_from_python(obj, spec);
      }, py::arg("obj"),
      "Wraps an object with __dlpack__ (a torch tensor, NumPy array, CuPy/JAX array) as an "
      "unravel.Tensor without copying: both share the memory.");
}

}  // namespace unravel::python
