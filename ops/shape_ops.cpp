// View ops (no copy: new shape/strides over the same storage) and copying layout ops.
#include "ops/shape_ops.h"

#include <algorithm>

#include "ops/binary.h"
#include "ops/broadcast.h"
#include "ops/detail.h"
#include "ops/layout.h"
#include "ops/reduce.h"

namespace unravel {

namespace {

// Backward of a view op: a function from the output gradient to the input gradient.
template <class F> struct LambdaBackward final : Node {
  const char* op;
  F f;
  LambdaBackward(const char* o, F fn) : op(o), f(std::move(fn)) {}
  const char* name() const override { return op; }
  TensorList backward(const TensorList& g) override { return {f(g[0])}; }
};

template <class F> void record_unary_view(const char* op, const Tensor& x, const Tensor& y, F f) {
  if (Tape::needs_grad({&x})) record<LambdaBackward<F>>({x}, {y}, op, std::move(f));
}

Tensor view_of(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  return Tensor::make_view(x.storage(), offset, shape, strides, x.dtype());
}

// Strides for viewing x as `shape` without a copy, if its layout allows (PyTorch's
// computeStride): each run of merged input dims must be contiguous within itself.
bool view_strides(const Shape& old_shape, const Strides& old_strides, const Shape& shape,
                  Strides* out) {
  *out = Dims::filled(shape.size(), 1);
  if (numel(old_shape) == 0) {
    *out = contiguous_strides(shape);
    return true;
  }
  int view_d = shape.size() - 1;
  int64_t chunk_base_stride = old_strides.size() ? old_strides.back() : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = old_shape.size() - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        (*out)[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor contiguous(const Tensor& x) {
  detail::check_defined(x, "contiguous", "input");
  if (x.is_contiguous()) return x;
  return clone(x);
}

Tensor clone(const Tensor& x) {
  detail::check_defined(x, "clone", "input");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).copy(x.view(), y.view());
  record_unary_view("clone", x, y, [](const Tensor& g) { return g; });
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  detail::check_defined(x, "reshape", "input");
  Shape shape = shape_in;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      UNRAVEL_CHECK(infer < 0, "reshape: more than one -1 in {}", shape_in.str());
      infer = i;
    } else {
      UNRAVEL_CHECK(shape[i] >= 0, "reshape: negative extent in {}", shape_in.str());
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    UNRAVEL_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot view {} as {}", x.desc(),
                  shape_in.str());
    shape[infer] = x.numel() / known;
  }
  UNRAVEL_CHECK(numel(shape) == x.numel(), "reshape: {} has {} elements, shape {} has {}", x.desc(),
                x.numel(), shape.str(), numel(shape));
  if (shape == x.shape()) return x;
  Strides st;
  Tensor y;
  if (view_strides(x.shape(), x.strides(), shape, &st)) {
    y = view_of(x, shape, st, x.offset());
  } else {
    NoGradGuard ng;
    Tensor c = clone(x);
    y = view_of(c, shape, contiguous_strides(shape), 0);
  }
  Shape in_shape = x.shape();
  record_unary_view("reshape", x, y, [in_shape](const Tensor& g) { return reshape(g, in_shape); });
  return y;
}

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  detail::check_defined(x, "flatten", "input");
  if (x.dim() == 0) return reshape(x, Shape{1});
  int s = normalize_axis(start, x.dim(), "flatten"), e = normalize_axis(end, x.dim(), "flatten");
  UNRAVEL_CHECK(s <= e, "flatten: start {} after end {}", start, end);
  Shape shape;
  for (int i = 0; i < s; ++i) shape.push_back(x.shape()[i]);
  int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= x.shape()[i];
  shape.push_back(m);
  for (int i = e + 1; i < x.dim(); ++i) shape.push_back(x.shape()[i]);
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  detail::check_defined(x, "permute", "input");
  UNRAVEL_CHECK(static_cast<int>(dims.size()) == x.dim(), "permute: {} axes given for {}",
                dims.size(), x.desc());
  Shape shape;
  Strides st;
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_axis(dims[i], x.dim(), "permute");
    UNRAVEL_CHECK(inverse[d] < 0, "permute: axis {} repeated", d);
    inverse[d] = static_cast<int64_t>(i);
    shape.push_back(x.shape()[d]);
    st.push_back(x.strides()[d]);
  }
  Tensor y = view_of(x, shape, st, x.offset());
  record_unary_view("permute", x, y, [inverse](const Tensor& g) { return permute(g, inverse); });
  return y;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  detail::check_defined(x, "transpose", "input");
  std::vector<int64_t> dims(x.dim());
  for (int i = 0; i < x.dim(); ++i) dims[i] = i;
  std::swap(dims[normalize_axis(d0, x.dim(), "transpose")], dims[normalize_axis(d1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor expand(const Tensor& x, const Shape& shape_in) {
  detail::check_defined(x, "expand", "input");
  UNRAVEL_CHECK(shape_in.size() >= x.dim(), "expand: {} has more dims than target {}", x.desc(),
                shape_in.str());
  Shape shape = shape_in;
  int lead = shape.size() - x.dim();
  for (int i = 0; i < x.dim(); ++i) {
    if (shape[i + lead] == -1) shape[i + lead] = x.shape()[i];
    UNRAVEL_CHECK(x.shape()[i] == shape[i + lead] || x.shape()[i] == 1,
                  "expand: {} cannot be expanded to {}", x.desc(), shape_in.str());
  }
  if (shape == x.shape()) return x;
  Tensor y = view_of(x, shape, broadcast_strides(x.shape(), x.strides(), shape), x.offset());
  Shape in_shape = x.shape();
  record_unary_view("expand", x, y, [in_shape](const Tensor& g) { return sum_to(g, in_shape); });
  return y;
}

namespace {
struct SliceBackward final : Node {
  Shape in_shape;
  int axis;
  int64_t start, step;
  const char* name() const override { return "slice"; }
  TensorList backward(const TensorList& g) override {
    Tensor out = Tensor::zeros(in_shape, g[0].dtype(), g[0].device());
    Tensor region = slice(out, axis, start, start + step * g[0].shape()[axis], step);
    backend(out.device()).copy(g[0].view(), region.view());
    return {out};
  }
};
}  // namespace

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  detail::check_defined(x, "slice", "input");
  int a = normalize_axis(axis, x.dim(), "slice");
  UNRAVEL_CHECK(step > 0, "slice: step must be positive, got {}", step);
  int64_t n = x.shape()[a];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape();
  Strides st = x.strides();
  shape[a] = (end - start + step - 1) / step;
  st[a] *= step;
  Tensor y = view_of(x, shape, st, x.offset() + start * x.strides()[a]);
  if (Tape::needs_grad({&x})) {
    auto* node = record<SliceBackward>({x}, {y});
    node->in_shape = x.shape();
    node->axis = a;
    node->start = start;
    node->step = step;
  }
  return y;
}

Tensor squeeze(const Tensor& x, int64_t axis) {
  detail::check_defined(x, "squeeze", "input");
  int a = normalize_axis(axis, x.dim(), "squeeze");
  UNRAVEL_CHECK(x.shape()[a] == 1, "squeeze: axis {} of {} has extent {}, not 1", axis, x.desc(),
                x.shape()[a]);
  Shape s = x.shape();
  s.erase(a);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x) {
  detail::check_defined(x, "squeeze", "input");
  Shape s;
  for (int64_t d : x.shape())
    if (d != 1) s.push_back(d);
  return reshape(x, s);
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  detail::check_defined(x, "unsqueeze", "input");
  int a = normalize_axis(axis, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(a, 1);
  return reshape(x, s);
}

namespace {
struct ConcatBackward final : Node {
  int axis;
  std::vector<int64_t> sizes;
  const char* name() const override { return "concat"; }
  TensorList backward(const TensorList& g) override {
    TensorList out;
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (needs_input_grad(i)) out.push_back(slice(g[0], axis, at, at + sizes[i]));
      else out.emplace_back();
      at += sizes[i];
    }
    return out;
  }
};
}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  UNRAVEL_CHECK(!xs.empty(), "concat: no tensors given");
  for (size_t i = 0; i < xs.size(); ++i) detail::check_defined(xs[i], "concat", "an input");
  const Tensor& x0 = xs[0];
  int a = normalize_axis(axis, x0.dim(), "concat");
  Shape shape = x0.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    detail::check_same(x0, xs[i], "concat");
    UNRAVEL_CHECK(xs[i].dim() == x0.dim(), "concat: input {} is {} but input 0 is {}", i,
                  xs[i].desc(), x0.desc());
    for (int d = 0; d < x0.dim(); ++d)
      UNRAVEL_CHECK(d == a || xs[i].shape()[d] == shape[d],
                    "concat: input {} is {}, input 0 is {} (only axis {} may differ)", i,
                    xs[i].desc(), x0.desc(), a);
    total += xs[i].shape()[a];
  }
  shape[a] = total;
  Tensor y = Tensor::empty(shape, x0.dtype(), x0.device());
  int64_t at = 0;
  std::vector<int64_t> sizes;
  {
    NoGradGuard ng;
    for (const Tensor& x : xs) {
      Tensor region = slice(y, a, at, at + x.shape()[a]);
      backend(y.device()).copy(x.view(), region.view());
      at += x.shape()[a];
      sizes.push_back(x.shape()[a]);
    }
  }
  if (Tape::needs_grad(xs)) {
    auto* n = record<ConcatBackward>(xs, {y});
    n->axis = a;
    n->sizes = sizes;
  }
  return y;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  UNRAVEL_CHECK(!xs.empty(), "stack: no tensors given");
  int a = normalize_axis(axis, xs[0].dim() + 1, "stack");
  std::vector<Tensor> ys;
  ys.reserve(xs.size());
  for (const Tensor& x : xs) ys.push_back(unsqueeze(x, a));
  return concat(ys, a);
}

namespace {
struct PadBackward final : Node {
  std::vector<std::pair<int64_t, int64_t>> ranges;  // per dim: [begin, end) of the input
  const char* name() const override { return "pad"; }
  TensorList backward(const TensorList& g) override {
    Tensor r = g[0];
    for (size_t d = 0; d < ranges.size(); ++d) r = slice(r, d, ranges[d].first, ranges[d].second);
    return {r};
  }
};
}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  detail::check_defined(x, "pad", "input");
  UNRAVEL_CHECK(pads.size() % 2 == 0 && static_cast<int>(pads.size()) / 2 <= x.dim(),
                "pad: {} pad values for {} (need pairs, at most two per dim)", pads.size(), x.desc());
  Shape shape = x.shape();
  std::vector<std::pair<int64_t, int64_t>> ranges(x.dim());
  for (int d = 0; d < x.dim(); ++d) ranges[d] = {0, x.shape()[d]};
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    int d = x.dim() - 1 - static_cast<int>(k);
    int64_t before = pads[2 * k], after = pads[2 * k + 1];
    UNRAVEL_CHECK(before >= 0 && after >= 0, "pad: negative padding ({}, {}) for dim {}", before,
                  after, d);
    shape[d] += before + after;
    ranges[d] = {before, before + x.shape()[d]};
  }
  Tensor y = Tensor::full(shape, value, x.dtype(), x.device());
  {
    NoGradGuard ng;
    Tensor region = y;
    for (int d = 0; d < x.dim(); ++d) region = slice(region, d, ranges[d].first, ranges[d].second);
    backend(y.device()).copy(x.view(), region.view());
  }
  if (Tape::needs_grad({&x})) record<PadBackward>({x}, {y})->ranges = ranges;
  return y;
}

Tensor to(const Tensor& x, DType dtype) {
  detail::check_defined(x, "to", "input");
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype, x.device());
  backend(x.device()).copy(x.view(), y.view());
  if (is_floating(dtype) && is_floating(x.dtype())) {
    DType from = x.dtype();
    record_unary_view("to", x, y, [from](const Tensor& g) { return to(g, from); });
  }
  return y;
}

Tensor to(const Tensor& x, Device device) {
  detail::check_defined(x, "to", "input");
  if (x.device() == device) return x;
  // Format ids are per backend (engine/layout.h): a backend layout moves as its logical values.
  if (!x.is_strided()) return to(to_strided(x), device);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  Backend& from_be = backend(x.device());
  Backend& to_be = backend(device);
  if (x.nbytes()) {
    if (&from_be == &to_be) {
      from_be.copy(x.view(), y.view());  // two devices of one backend: a peer copy, any strides
    } else if (device.is_cpu()) {
      Tensor src = contiguous(x.detach());
      from_be.copy_to_host(src.raw_data(), y.raw_data(), x.nbytes());
    } else if (x.device().is_cpu()) {
      Tensor src = contiguous(x.detach());
      to_be.copy_from_host(src.raw_data(), y.raw_data(), x.nbytes());
    } else {  // between backends: through the host
      Tensor host = to(x.detach(), kCPU);
      to_be.copy_from_host(host.raw_data(), y.raw_data(), x.nbytes());
    }
  }
  Device from = x.device();
  record_unary_view("to_device", x, y, [from](const Tensor& g) { return to(g, from); });
  return y;
}

}  // namespace unravel
