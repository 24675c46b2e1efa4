// `unravel encode RUN --out DIR`: the posterior parameters of every item of the run's dataset
// (train split), for people's own analysis in NumPy:
//   DIR/mu.npy       f32 [N, latents]  posterior means
//   DIR/logvar.npy   f32 [N, latents]  posterior log-variances
//   DIR/factors.npy  i64 [N, factors]  factor class indices (datasets with factors: dSprites)
//   DIR/labels.npy   i64 [N]           class labels (datasets with labels: MNIST, pinwheel arms)
//   DIR/x.npy        f32 [N, item...]  with --items: the items exactly as the encoder saw them
//                                      (resized, clamped), e.g. to run an exported model on them
//   DIR/recon.npy    f32 [N, item...]  with --recon: the decoder's output at mu (Bernoulli
//                                      logits or means), and DIR/log_scale.npy with a learned
//                                      scale (Vae::decode)
// Rows are the dataset's items in order (dSprites: the official index order); --limit N keeps
// the first N.
#include <filesystem>

#include "apps/commands.h"
#include "apps/common/encoding.h"
#include "apps/common/run_dir.h"
#include "engine/check.h"
#include "engine/io/npy.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;

int encode_command(const EncodeOptions& o) {
  UNRAVEL_CHECK(o.limit >= 0, "encode: --limit must be >= 0 (0 = all), got {}", o.limit);
  UNRAVEL_CHECK(!o.out.empty(), "encode: --out DIR is required");
  Run r = load_trained(o.run, true, nullptr, o.device);
  const Dataset& data = *r.data;
  const int64_t n = o.limit > 0 ? std::min(o.limit, data.size()) : data.size();
  if (o.items || o.recon) {
    // Both are N items large; the whole of dSprites would be 12 GB per file.
    const double gib = static_cast<double>(n) * numel(data.item_shape()) * 4 / (1 << 30);
    UNRAVEL_CHECK(gib <= 1.0, "encode: --items / --recon for {} items of {} would write {:.1f} GiB "
                  "per file; keep the first few with --limit N", n, data.name(), gib);
  }
  require_writable_dir(o.out, "encode");  // before encoding, not after
  Encoded e = encode_items(*r.vae, data, iota_indices(n), 256, "encode");
  save_npy((fs::path(o.out) / "mu.npy").string(), e.mu);
  save_npy((fs::path(o.out) / "logvar.npy").string(), e.logvar);
  std::string extra;
  if (o.items) {
    save_npy((fs::path(o.out) / "x.npy").string(), gather_items(data, iota_indices(n)));
    extra += " x.npy";
  }
  if (o.recon) {
    // Batches of 256 codes, without the tape, on the model's device.
    NoGradGuard ng;
    std::vector<Tensor> means, scales;
    for (int64_t s = 0; s < n; s += 256) {
      Tensor z = to(slice(e.mu, 0, s, std::min(n, s + 256)), r.vae->device());
      Tensor log_scale;
      means.push_back(to(to(r.vae->decode(z, &log_scale), DType::f32), kCPU));
      if (log_scale.defined()) scales.push_back(to(to(log_scale, DType::f32), kCPU));
    }
    save_npy((fs::path(o.out) / "recon.npy").string(), contiguous(concat(means, 0)));
    extra += " recon.npy";
    if (!scales.empty()) {
      save_npy((fs::path(o.out) / "log_scale.npy").string(), contiguous(concat(scales, 0)));
      extra += " log_scale.npy";
    }
  }
  if (data.num_factors() > 0) {
    Tensor f = data.factor_class_table();
    save_npy((fs::path(o.out) / "factors.npy").string(), contiguous(slice(f, 0, 0, n)));
    extra += " factors.npy";
  }
  if (data.has_labels()) {
    Tensor l = data.label_table();
    save_npy((fs::path(o.out) / "labels.npy").string(), contiguous(slice(l, 0, 0, n)));
    extra += " labels.npy";
  }
  std::printf("encoded %lld items of %s into %s: mu.npy logvar.npy%s (%lld latents)\n",
              static_cast<long long>(n), data.name().c_str(), o.out.c_str(), extra.c_str(),
              static_cast<long long>(r.vae->latents()));
  return 0;
}

}  // namespace unravel::apps
