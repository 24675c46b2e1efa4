// SGD update (formula in sgd.h): one fused loop over raw memory for dense CPU tensors, public
// in-place ops elsewhere.
#include "models/optim/sgd.h"

#include "engine/check.h"
#include "ops/binary.h"

namespace unravel::optim {

namespace {
template <class T>
void sgd_loop(T* p, const T* g, T* buf, int64_t n, const SGDOptions& o, double lr_d, bool first) {
  const T lr = T(lr_d), wd = T(o.weight_decay), mu = T(o.momentum), damp = T(1 - o.dampening);
  for (int64_t j = 0; j < n; ++j) {
    T d = g[j];
    if (o.weight_decay != 0) d += wd * p[j];
    if (buf) {
      buf[j] = first ? d : mu * buf[j] + damp * d;
      d = o.nesterov ? d + mu * buf[j] : buf[j];
    }
    p[j] -= lr * d;
  }
}
}  // namespace

SGD::SGD(TensorList params, const SGDOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  UNRAVEL_CHECK(opt.momentum >= 0 && opt.weight_decay >= 0,
                "SGD: momentum and weight_decay must be >= 0, got {} and {}", opt.momentum,
                opt.weight_decay);
  UNRAVEL_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
                "SGD: Nesterov momentum needs momentum > 0 and dampening 0, got {} and {}",
                opt.momentum, opt.dampening);
  if (opt_.momentum != 0) add_state("momentum_buffer");
}

void SGD::update(size_t i, const Tensor& p, const Tensor& g, int64_t t) {
  Tensor buf = opt_.momentum != 0 ? state(i, "momentum_buffer") : Tensor();
  TensorList states;
  if (buf.defined()) states.push_back(buf);
  if (fused_ok(p, g, states)) {
    dispatch_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>)
        sgd_loop<T>(p.data<T>(), g.data<T>(), buf.defined() ? buf.data<T>() : nullptr, p.numel(),
                    opt_, lr(), t == 1);
    });
    if (buf.defined()) buf.bump_version();
    return;
  }
  Tensor d = opt_.weight_decay != 0 ? g + p * opt_.weight_decay : g;
  if (buf.defined()) {
    if (t == 1) {
      copy_(buf, d);
    } else {
      mul_(buf, opt_.momentum);
      add_(buf, d, 1 - opt_.dampening);
    }
    d = opt_.nesterov ? d + buf * opt_.momentum : buf;
  }
  add_(p, d, -lr());
}

}  // namespace unravel::optim
