// to_layout / to_strided and their backward (see ops/layout.h and engine/layout.h).
#include "ops/layout.h"

#include "ops/detail.h"

namespace unravel {

namespace {

// dx = dy converted back to the input's layout (dy may arrive in any layout).
struct ToLayoutBackward final : Node {
  Layout from;
  explicit ToLayoutBackward(Layout f) : from(f) {}
  const char* name() const override { return "to_layout"; }
  TensorList backward(const TensorList& g) override { return {to_layout(g[0], from)}; }
};

}  // namespace

Layout find_layout(Device device, std::string_view name) {
  Backend& be = backend(device);
  const uint32_t id = be.find_layout(name);
  UNRAVEL_CHECK(id != 0, "find_layout: the {} backend has no memory layout '{}'{}", be.name(),
                name, be.supports(Kernel::layout_convert) ? "" : " (it has no layouts: "
                "layout_convert is not implemented)");
  return Layout::opaque(device.kind, id);
}

Tensor to_layout(const Tensor& x, Layout to) {
  detail::check_defined(x, "to_layout", "input");
  if (x.layout() == to) return x;
  UNRAVEL_CHECK(to.is_strided() || to.backend == x.device().kind,
                "to_layout: {} is on {}, but the layout's format {} belongs to the {} backend",
                x.desc(), x.device().str(), to.format, device_kind_name(to.backend));
  Tensor y = x.with_layout(to);
  if (Tape::needs_grad({&x})) record<ToLayoutBackward>({x}, {y}, x.layout());
  return y;
}

Tensor to_strided(const Tensor& x) { return to_layout(x, kStrided); }

Layout conv_chain_layout(Device device, int64_t channels, DType dtype) {
  const uint32_t id = backend(device).conv_chain_format(channels, dtype);
  return id == 0 ? kStrided : Layout::opaque(device.kind, id);
}

}  // namespace unravel
