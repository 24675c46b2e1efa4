// Neural-network ops: batch norm (fused backend kernel in training, affine map in eval),
// inverted dropout, and losses with numerically stable forms.
//   bce_with_logits:  ℓ = softplus(x) − x·t = max(x, 0) − x·t + log1p(e^{−|x|});
//                     ∂ℓ/∂x = σ(x) − t, ∂ℓ/∂t = −x               (fused Node)
//   log_softmax:      y = x − logsumexp(x);  ∂/∂x: g − e^y · Σ g  (fused Node)
//   softmax:          s = e^{log_softmax(x)};  ∂/∂x: s · (g − Σ g·s) (fused Node)
//   cross_entropy:    −log_softmax(logits)[n, target[n]]
//   mse_loss:         (x − t)²
//   batch_mean_clamp: y = m·z + (1 − m)·z̄ (z̄ the batch mean); ∂/∂z: m·g + (1 − m)·s·(z − z̄)
//                     (DC-IGN's replaced gradient, not the forward's derivative; fused Node)
// Every loss takes a Reduction (none / sum / mean over all elements).
#include "ops/nn_ops.h"

#include <cmath>
#include <limits>

#include "ops/binary.h"
#include "ops/creation.h"
#include "ops/detail.h"
#include "ops/random_ops.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"

namespace unravel {

namespace {

Tensor reduce_loss(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    default: return mean(loss);
  }
}

void check_channel_tensor(const Tensor& t, const Tensor& x, int64_t C, const char* what) {
  if (!t.defined()) return;
  detail::check_same(x, t, "batch_norm");
  UNRAVEL_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm: {} must be [{}] for input {}, got {}",
                what, C, x.desc(), t.desc());
}

TensorView opt_view(const Tensor& t) { return t.defined() ? t.view() : TensorView{}; }

struct BatchNormBackward final : Node {
  SavedTensor x, gamma;
  Tensor save_mean, save_invstd;  // produced by the op itself, never modified
  int gamma_index = -1, beta_index = -1;
  const char* name() const override { return "batch_norm"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    const Tensor& X = x.get(name());
    TensorList out(next.size());
    Tensor dx, dgamma, dbeta;
    if (needs_input_grad(0)) dx = Tensor::empty(X.shape(), X.dtype(), X.device());
    const int64_t C = X.size(1);
    if (gamma_index >= 0 && needs_input_grad(gamma_index))
      dgamma = Tensor::empty({C}, X.dtype(), X.device());
    if (beta_index >= 0 && needs_input_grad(beta_index))
      dbeta = Tensor::empty({C}, X.dtype(), X.device());
    Tensor gm = gamma_index >= 0 ? gamma.get(name()) : Tensor();
    backend(X.device()).batch_norm_backward(g.view(), X.view(), opt_view(gm), save_mean.view(),
                                            save_invstd.view(), opt_view(dx), opt_view(dgamma),
                                            opt_view(dbeta));
    out[0] = dx;
    if (gamma_index >= 0) out[gamma_index] = dgamma;
    if (beta_index >= 0) out[beta_index] = dbeta;
    return out;
  }
};

struct BceWithLogitsBackward final : Node {
  SavedTensor x, t;
  const char* name() const override { return "bce_with_logits"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    const Tensor& X = x.get(name());
    TensorList out(2);
    if (needs_input_grad(0)) out[0] = g * (sigmoid(X) - t.get(name()));
    if (needs_input_grad(1)) out[1] = neg(g * X);
    return out;
  }
};

struct LogSoftmaxBackward final : Node {
  SavedTensor y;
  int64_t axis = 0;
  const char* name() const override { return "log_softmax"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    return {g - exp(y.get(name())) * sum(g, {axis}, true)};
  }
};

struct SoftmaxBackward final : Node {
  SavedTensor s;
  int64_t axis = 0;
  const char* name() const override { return "softmax"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& g = grads[0];
    const Tensor& S = s.get(name());
    return {S * (g - sum(g * S, {axis}, true))};
  }
};

struct BatchMeanClampBackward final : Node {
  SavedTensor z, m;
  double scale = 1.0;
  const char* name() const override { return "batch_mean_clamp"; }
  TensorList backward(const TensorList& grads) override {
    const Tensor& Z = z.get(name());
    const Tensor& M = m.get(name());
    Tensor dev = Z - mean(Z, {Z.dim() - 2}, true);
    return {M * grads[0] + (1.0 - M) * dev * scale};
  }
};

// log_softmax without recording; axis already normalised.
Tensor log_softmax_values(const Tensor& x, int64_t axis) {
  NoGradGuard ng;
  return x - logsumexp(x, {axis}, true);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  detail::check_defined(x, "batch_norm", "input");
  detail::check_floating(x, "batch_norm");
  UNRAVEL_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: input must be (N, C) or (N, C, H, W), got {}",
                x.desc());
  UNRAVEL_CHECK(eps > 0, "batch_norm: eps must be > 0, got {}", eps);
  const int64_t C = x.size(1);
  check_channel_tensor(gamma, x, C, "weight (gamma)");
  check_channel_tensor(beta, x, C, "bias (beta)");
  check_channel_tensor(running_mean, x, C, "running_mean");
  check_channel_tensor(running_var, x, C, "running_var");
  UNRAVEL_CHECK(running_mean.defined() == running_var.defined(),
                "batch_norm: give both running_mean and running_var or neither");
  const Shape cshape = x.dim() == 4 ? Shape{1, C, 1, 1} : Shape{1, C};

  if (!training) {
    UNRAVEL_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
    // y = x·scale + shift with scale = γ/√(var+ε), shift = β − mean·scale: an affine map,
    // differentiable in x, γ and β through ordinary ops.
    Tensor scale = rsqrt(running_var + eps);
    if (gamma.defined()) scale = scale * gamma;
    Tensor shift = neg(running_mean * scale);
    if (beta.defined()) shift = shift + beta;
    return x * reshape(scale, cshape) + reshape(shift, cshape);
  }

  const int64_t M = x.numel() / std::max<int64_t>(C, 1);
  UNRAVEL_CHECK(M > 1, "batch_norm: training needs more than one value per channel, input {}",
                x.desc());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({C}, x.dtype(), x.device());
  backend(x.device()).batch_norm_forward(x.view(), opt_view(gamma), opt_view(beta), TensorView{},
                                         TensorView{}, true, eps, y.view(), save_mean.view(),
                                         save_invstd.view());
  if (running_mean.defined()) {
    NoGradGuard ng;
    // Batch variance from invstd: σ² = 1/r² − ε, made unbiased with M/(M−1) as PyTorch does.
    Tensor unbiased = (reciprocal(square(save_invstd)) - eps) *
                      (static_cast<double>(M) / static_cast<double>(M - 1));
    mul_(running_mean, 1.0 - momentum);
    add_(running_mean, save_mean, momentum);
    mul_(running_var, 1.0 - momentum);
    add_(running_var, unbiased, momentum);
  }
  if (Tape::needs_grad({&x, &gamma, &beta})) {
    TensorList inputs{x};
    int gi = -1, bi = -1;
    if (gamma.defined()) {
      gi = static_cast<int>(inputs.size());
      inputs.push_back(gamma);
    }
    if (beta.defined()) {
      bi = static_cast<int>(inputs.size());
      inputs.push_back(beta);
    }
    auto* n = record<BatchNormBackward>(inputs, {y});
    n->x = SavedTensor(x);
    if (gamma.defined()) n->gamma = SavedTensor(gamma);
    n->save_mean = save_mean;
    n->save_invstd = save_invstd;
    n->gamma_index = gi;
    n->beta_index = bi;
  }
  return y;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  detail::check_defined(x, "dropout", "input");
  detail::check_floating(x, "dropout");
  UNRAVEL_CHECK(p >= 0.0 && p <= 1.0, "dropout: p = {} is not a probability", p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return x * 0.0;
  // Keep mask (1 with probability 1 − p) pre-scaled by 1/(1 − p); y = x · mask.
  Tensor mask = bernoulli(x.shape(), 1.0 - p, gen, x.dtype(), x.device());
  mul_(mask, 1.0 / (1.0 - p));
  return x * mask;
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction) {
  const char* op = "bce_with_logits";
  detail::check_defined(logits, op, "logits");
  detail::check_defined(target, op, "target");
  detail::check_same(logits, target, op);
  detail::check_floating(logits, op);
  UNRAVEL_CHECK(logits.shape() == target.shape(), "{}: logits {} and target {} differ in shape", op,
                logits.desc(), target.desc());
  Tensor loss;
  {
    NoGradGuard ng;
    loss = softplus(logits) - logits * target;
  }
  if (Tape::needs_grad({&logits, &target})) {
    auto* n = record<BceWithLogitsBackward>({logits, target}, {loss});
    n->x = SavedTensor(logits);
    n->t = SavedTensor(target);
  }
  return reduce_loss(loss, reduction);
}

Tensor log_softmax(const Tensor& x, int64_t axis) {
  detail::check_defined(x, "log_softmax", "input");
  detail::check_floating(x, "log_softmax");
  UNRAVEL_CHECK(x.dim() >= 1, "log_softmax: needs at least one dimension, got {}", x.desc());
  const int64_t ax = normalize_axis(axis, x.dim(), "log_softmax");
  Tensor y = log_softmax_values(x, ax);
  if (Tape::needs_grad({&x})) {
    auto* n = record<LogSoftmaxBackward>({x}, {y});
    n->y = SavedTensor(y);
    n->axis = ax;
  }
  return y;
}

Tensor batch_mean_clamp(const Tensor& z, const Tensor& mask, double grad_scale) {
  const char* op = "batch_mean_clamp";
  detail::check_defined(z, op, "z");
  detail::check_defined(mask, op, "mask");
  detail::check_same(z, mask, op);
  detail::check_floating(z, op);
  UNRAVEL_CHECK(z.dim() >= 2, "{}: z must be (..., B, D), got {}", op, z.desc());
  UNRAVEL_CHECK(mask.dim() == 1 && mask.size(0) == z.size(-1),
                "{}: mask must be ({}) for z {}, got {}", op, z.size(-1), z.desc(), mask.desc());
  UNRAVEL_CHECK(std::isfinite(grad_scale), "{}: grad_scale must be finite, got {}", op, grad_scale);
  Tensor y;
  {
    NoGradGuard ng;
    y = mask * z + (1.0 - mask) * mean(z, {z.dim() - 2}, true);
  }
  if (Tape::needs_grad({&z})) {
    auto* n = record<BatchMeanClampBackward>({z}, {y});
    n->z = SavedTensor(z);
    n->m = SavedTensor(mask.detach());
    n->scale = grad_scale;
  }
  return y;
}

Tensor softmax(const Tensor& x, int64_t axis) {
  detail::check_defined(x, "softmax", "input");
  detail::check_floating(x, "softmax");
  UNRAVEL_CHECK(x.dim() >= 1, "softmax: needs at least one dimension, got {}", x.desc());
  const int64_t ax = normalize_axis(axis, x.dim(), "softmax");
  Tensor s;
  {
    NoGradGuard ng;
    s = exp(log_softmax_values(x, ax));
  }
  if (Tape::needs_grad({&x})) {
    auto* n = record<SoftmaxBackward>({x}, {s});
    n->s = SavedTensor(s);
    n->axis = ax;
  }
  return s;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  const char* op = "cross_entropy";
  detail::check_defined(logits, op, "logits");
  detail::check_defined(target, op, "target");
  detail::check_floating(logits, op);
  UNRAVEL_CHECK(logits.dim() == 2, "{}: logits must be (N, C), got {}", op, logits.desc());
  UNRAVEL_CHECK(target.dtype() == DType::i64 && target.dim() == 1 && target.size(0) == logits.size(0),
                "{}: target must be i64 [{}] class indices for logits {}, got {}", op,
                logits.size(0), logits.desc(), target.desc());
  const int64_t N = logits.size(0), C = logits.size(1);
  if (target.device().is_cpu()) {  // host memory: a clear error costs no device read
    const int64_t* cls = contiguous(target).data<int64_t>();
    for (int64_t i = 0; i < N; ++i)
      UNRAVEL_CHECK(cls[i] >= 0 && cls[i] < C, "{}: target[{}] = {} is out of range [0, {})", op,
                    i, cls[i], C);
  }
  // One-hot selector made on the device; on a device an out-of-range class gives a zero row,
  // whose loss is set to NaN below (checked there without a host read).
  Tensor sel = one_hot(target, C, logits.dtype());
  Tensor loss = neg(sum(log_softmax(logits, 1) * sel, {1}));
  if (!target.device().is_cpu()) {
    Tensor hit = gt(sum(sel.detach(), {1}), 0.5);
    loss = where(hit, loss, scalar_like(std::numeric_limits<double>::quiet_NaN(), loss));
  }
  return reduce_loss(loss, reduction);
}

Tensor mse_loss(const Tensor& x, const Tensor& target, Reduction reduction) {
  detail::check_defined(x, "mse_loss", "input");
  detail::check_defined(target, "mse_loss", "target");
  detail::check_same(x, target, "mse_loss");
  UNRAVEL_CHECK(x.shape() == target.shape(), "mse_loss: input {} and target {} differ in shape",
                x.desc(), target.desc());
  return reduce_loss(square(x - target), reduction);
}

}  // namespace unravel
