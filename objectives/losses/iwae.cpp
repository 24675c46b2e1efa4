// IWAE bound (see iwae.h).
#include "objectives/losses/iwae.h"

#include <algorithm>
#include <cmath>

#include "ops/ops.h"

namespace unravel {

Tensor iwae_log_weights(const VaeOutputs& out, const Prior& prior) {
  check_outputs(out, prior, "iwae");
  UNRAVEL_CHECK(out.z.dim() == 3, "iwae: z must be (K, B, D), got {}", out.z.desc());
  Tensor lpx = out.likelihood.log_prob(out.x, out.recon, out.recon_log_scale);  // (K, B)
  return lpx + prior.log_prob_sum(out.z) - out.posterior.log_prob_sum(out.z);
}

Tensor iwae_bound(const VaeOutputs& out, const Prior& prior) {
  Tensor lw = iwae_log_weights(out, prior);
  return logsumexp(lw, {0}) - std::log(static_cast<double>(lw.size(0)));
}

Tensor iwae_bound(const Tensor& x, const DiagonalGaussian& posterior, const Prior& prior,
                  const Likelihood& likelihood,
                  const std::function<Tensor(const Tensor&)>& decode, int64_t k, Generator& gen,
                  int64_t chunk) {
  UNRAVEL_CHECK(k >= 1 && chunk >= 1, "iwae_bound: K and chunk must be >= 1, got {} and {}", k,
                chunk);
  NoGradGuard ng;
  DiagonalGaussian q = posterior.detach();
  TensorList parts;
  for (int64_t done = 0; done < k; done += chunk) {
    const int64_t n = std::min(chunk, k - done);
    VaeOutputs o;
    o.x = x;
    o.z = q.rsample(gen, n);
    o.recon = decode(o.z);
    o.likelihood = likelihood;
    o.posterior = q;
    parts.push_back(iwae_log_weights(o, prior));
  }
  Tensor lw = parts.size() == 1 ? parts[0] : concat(parts, 0);
  return logsumexp(lw, {0}) - std::log(static_cast<double>(k));
}

}  // namespace unravel
