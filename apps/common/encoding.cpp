#include "apps/common/encoding.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/common/progress.h"
#include "engine/check.h"
#include "engine/device.h"
#include "objectives/metrics/code_table.h"
#include "ops/ops.h"

namespace unravel::apps {

std::vector<int64_t> iota_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

std::vector<int64_t> subset_indices(int64_t n, int64_t m, Generator& gen) {
  if (m <= 0 || m >= n) return iota_indices(n);
  std::vector<int64_t> v = sample_without_replacement(n, m, gen);
  std::sort(v.begin(), v.end());
  return v;
}

Tensor gather_items(const Dataset& data, const std::vector<int64_t>& indices) {
  Tensor out = data.make_batch_tensor(static_cast<int64_t>(indices.size()));
  data.get_batch(indices, out);
  return out;
}

Encoder vae_encoder(models::Vae& vae, Device device) {
  return Encoder([&vae, device](const Tensor& images) {
    NoGradGuard ng;
    vae.eval();
    return EncodedBatch{to(vae.encode(to(images, device)).mean(), kCPU), Tensor()};
  });
}

Encoded encode_items(models::Vae& vae, const Dataset& data, const std::vector<int64_t>& indices,
                     int64_t batch, const std::string& label) {
  UNRAVEL_CHECK(batch >= 1, "encode_items: batch must be at least 1, got {}", batch);
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t d = vae.latents();
  Encoded e{Tensor::empty({n, d}), Tensor::empty({n, d})};
  const Device dev = vae.device();
  NoGradGuard ng;
  vae.eval();
  Tensor buf = data.make_batch_tensor(std::min(batch, std::max<int64_t>(n, 1)));
  const int64_t batches = (n + batch - 1) / batch;
  std::unique_ptr<Progress> bar;
  if (!label.empty() && batches > 1) bar = std::make_unique<Progress>(label, n, 1.0, 10.0);
  float* mu_out = e.mu.data<float>();
  float* lv_out = e.logvar.data<float>();
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t b = std::min(batch, n - s);
    Tensor x = b == buf.size(0) ? buf : data.make_batch_tensor(b);
    data.get_batch(std::span<const int64_t>(indices.data() + s, static_cast<size_t>(b)), x);
    DiagonalGaussian q = vae.encode(to(x, dev));
    UNRAVEL_CHECK(q.mean().numel() == b * d,
                  "encode_items: encoder returned {} values for a batch of {} x {} latents",
                  q.mean().numel(), b, d);
    // Means and log-variances side by side: one transfer per batch.
    std::vector<float> both = to(concat({q.mean(), q.logvar()}, 1), DType::f32).to_vector<float>();
    for (int64_t i = 0; i < b; ++i) {
      std::copy(both.begin() + i * 2 * d, both.begin() + i * 2 * d + d, mu_out + (s + i) * d);
      std::copy(both.begin() + i * 2 * d + d, both.begin() + (i + 1) * 2 * d, lv_out + (s + i) * d);
    }
    if (bar) bar->update(s + b);
  }
  if (bar) bar->finish();
  return e;
}

Tensor decode_to_images(models::Vae& vae, const Tensor& z) {
  NoGradGuard ng;
  vae.eval();
  Tensor out = vae.decode(to(to(z, DType::f32), vae.device()));
  if (vae.likelihood().kind == LikelihoodKind::bernoulli) out = sigmoid(out);
  else out = clamp(out, 0.0, 1.0);
  return contiguous(to(to(out, DType::f32), kCPU));
}

std::vector<double> latent_kl(models::Vae& vae, const Dataset& data) {
  // Generator 4 and 512 items: the draw `reproduce` (seed 1) used for its heat maps before
  // every figure shared one, so their values are unchanged.
  Generator gen(4);
  const Encoded e = encode_items(vae, data, subset_indices(data.size(), 512, gen), 256, "");
  return kl_per_dim(e.mu, e.logvar);
}

std::vector<double> kl_per_dim(const Tensor& mu, const Tensor& logvar) {
  UNRAVEL_CHECK(mu.dim() == 2 && mu.shape() == logvar.shape(),
                "kl_per_dim: mu {} and logvar {} must both be [N, D]", mu.desc(), logvar.desc());
  std::vector<float> m = to(mu, DType::f32).to_vector<float>();
  std::vector<float> l = to(logvar, DType::f32).to_vector<float>();
  const int64_t n = mu.size(0), d = mu.size(1);
  std::vector<double> kl(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double a = m[i * d + j], b = l[i * d + j];
      kl[j] += 0.5 * (a * a + std::exp(b) - b - 1.0);
    }
  for (double& v : kl) v /= std::max<int64_t>(n, 1);
  return kl;
}

}  // namespace unravel::apps
