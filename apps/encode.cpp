// `unravel encode RUN --out DIR`: the posterior parameters of every item of the run's dataset
// (train split), for people's own analysis in NumPy:
//   DIR/mu.npy       f32 [N, latents]  posterior means
//   DIR/logvar.npy   f32 [N, latents]  posterior log-variances
//   DIR/factors.npy  i64 [N, factors]  factor class indices (datasets with factors: dSprites)
//   DIR/labels.npy   i64 [N]           class labels (datasets with labels: MNIST, pinwheel arms)
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
  fs::create_directories(o.out);
  Encoded e = encode_items(*r.vae, data, iota_indices(n), 256, "encode");
  save_npy((fs::path(o.out) / "mu.npy").string(), e.mu);
  save_npy((fs::path(o.out) / "logvar.npy").string(), e.logvar);
  std::string extra;
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
