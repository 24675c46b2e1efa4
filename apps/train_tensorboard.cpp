// `unravel train`'s TensorBoard summaries (see train_tensorboard.h). A checkpoint's summaries
// encode the fixed items in one batch and decode the reconstructions and the traversal grid in
// one more, without the tape: a few tens of milliseconds on a CPU for the 64 x 64 architectures,
// small against the time between checkpoints. Nothing here draws from the run's random streams
// or changes its state, so a run writes the same checkpoints with or without TensorBoard.
#include "apps/train_tensorboard.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "apps/common/encoding.h"
#include "apps/figures/figures.h"
#include "datasets/png.h"
#include "engine/check.h"
#include "objectives/metrics/code_table.h"

namespace unravel::apps {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kItems = 256;           // items of the posterior-mean histograms
constexpr int64_t kReconstructions = 8;   // the first of them, drawn with their reconstructions
constexpr int64_t kTraversalSteps = 9;    // traversal columns, as `unravel figure traversals`
constexpr double kTraversalRange = 2.0;

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// The grid as a PNG image summary; tiles under 48 px are doubled.
void add_grid(TbSummary& s, const std::string& tag, const TileGrid& g) {
  Image8 img = compose_tile_grid(g, g.h < 48 ? 2 : 1, "TensorBoard " + tag);
  s.image(tag, img.height, img.width, img.channels,
          encode_png(img.width, img.height, img.channels, img.data.data()));
}

}  // namespace

std::string tensorboard_dir(const std::string& run) { return (fs::path(run) / "tb").string(); }

TrainBoard::TrainBoard(const std::string& run, Run& r, int64_t resumed_from)
    : run_(r), writer_(tensorboard_dir(run)) {
  if (resumed_from > 0) writer_.session_start(resumed_from + 1);
  if (r.data) {
    // Fixed by the run's seed (a generator of its own: the run's streams are untouched).
    Generator g(r.config.seed + 0x7b0a4d);
    items_ = sample_without_replacement(r.data->size(), std::min(kItems, r.data->size()), g);
  }
}

void TrainBoard::log(int64_t step, const std::vector<std::pair<std::string, double>>& row,
                     const std::vector<double>& kl_per_latent) {
  const auto t0 = Clock::now();
  TbSummary s;
  for (const auto& [name, value] : row) s.scalar(name, value);
  for (size_t d = 0; d < kl_per_latent.size(); ++d)
    s.scalar(fmt::format("kl/z{}", d), kl_per_latent[d]);
  writer_.write(step, s);
  seconds_ += since(t0);
}

void TrainBoard::checkpoint(int64_t step) {
  if (items_.empty()) return;
  const auto t0 = Clock::now();
  models::Vae& vae = *run_.vae;
  const Dataset& data = *run_.data;
  Encoded e = encode_items(vae, data, items_, kItems, "");
  const int64_t n = static_cast<int64_t>(items_.size()), D = vae.latents();
  const std::vector<float> mu = e.mu.to_vector<float>();
  TbSummary s;
  for (int64_t d = 0; d < D; ++d) {
    std::vector<double> col(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) col[i] = mu[i * D + d];
    s.histogram(fmt::format("posterior_mean/z{}", d), col);
  }

  const Shape& shape = vae.data_shape();
  if (shape.size() == 3) {
    const int c = static_cast<int>(data.item_shape()[0]);
    const int h = static_cast<int>(shape[1]), w = static_cast<int>(shape[2]);
    const int64_t rec = std::min(kReconstructions, n);
    // One decode: the reconstructions' means, then the traversal rows (latent d of item 0's
    // mean set to each value).
    std::vector<float> z(mu.begin(), mu.begin() + rec * D);
    const std::vector<double> values = linspace(-kTraversalRange, kTraversalRange, kTraversalSteps);
    for (int64_t d = 0; d < D; ++d)
      for (double v : values) {
        z.insert(z.end(), mu.begin(), mu.begin() + D);
        z[z.size() - D + d] = static_cast<float>(v);
      }
    const int64_t rows = rec + D * kTraversalSteps;
    const std::vector<float> decoded =
        decode_to_images(vae, Tensor::from_vector(z, Shape{rows, D})).to_vector<float>();
    const std::vector<float> originals =
        gather_items(data, std::vector<int64_t>(items_.begin(), items_.begin() + rec))
            .to_vector<float>();
    const size_t per = static_cast<size_t>(c) * h * w;
    UNRAVEL_CHECK(decoded.size() == rows * per && originals.size() == rec * per,
                  "TensorBoard images: decoder gave {} values for {} images of {}x{}x{}",
                  decoded.size(), rows, c, h, w);
    TileGrid recon{2, static_cast<int>(rec), h, w, c, originals, {}, {}, {}};
    recon.pixels.insert(recon.pixels.end(), decoded.begin(), decoded.begin() + rec * per);
    add_grid(s, "reconstructions", recon);
    TileGrid trav{static_cast<int>(D), static_cast<int>(kTraversalSteps), h, w, c,
                  std::vector<float>(decoded.begin() + rec * per, decoded.end()), {}, {}, {}};
    for (int64_t d = 0; d < D; ++d) trav.row_labels.push_back(fmt::format("z{}", d));
    add_grid(s, "traversals", trav);
  }
  writer_.write(step, s);
  seconds_ += since(t0);
}

}  // namespace unravel::apps
