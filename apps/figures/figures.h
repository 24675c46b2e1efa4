// The figures of `unravel figure` as functions (reproduce draws the paper figures with them):
// image grids from a trained run (latent traversals, reconstructions, prior samples) and plots
// (training traces from log.csv, aggregate posterior densities, per-class latent magnitudes).
// Each returns a caption describing what was drawn (row order, values), for the markdown.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/common/setup.h"
#include "datasets/png.h"

namespace unravel::apps {

/// Settings of the image figures.
struct ImageFigureOptions {
  uint64_t seed = 0;     ///< 0 with dSprites: fixed seed images (one per shape); else random
  double range = 2.0;    ///< traversal values from -range to +range
  int64_t steps = 9;     ///< traversal columns
  int64_t count = 0;     ///< images / seed images (0 = the figure's default)
  /// Traversals: a third label line for these latents (e.g. the factor a table found there).
  std::map<int64_t, std::string> latent_notes;
};

/// Latent traversals: per seed image a block whose rows are the latents ordered by their mean
/// KL (latent_kl, largest first) and whose columns set that latent of the seed's posterior
/// mean to values from -range to +range; blocks side by side. Writes `png`, returns the caption.
std::string draw_traversals(Run& run, const std::string& png, const ImageFigureOptions& o);
/// Reconstructions: inputs in the upper row of each pair, decoded posterior means below.
std::string draw_reconstructions(Run& run, const std::string& png, const ImageFigureOptions& o);
/// Prior samples z ~ p(z) decoded (sigmoid of the logits for a Bernoulli likelihood).
std::string draw_samples(Run& run, const std::string& png, const ImageFigureOptions& o);

/// Training traces of runs (reconstruction, KL, β(t), C(t) against steps) overlaid, one curve
/// per run named by `labels` (empty: the run directories' names).
std::string draw_traces(const std::vector<std::string>& runs, const std::vector<std::string>& labels,
                        const std::string& png);

/// Aggregate posterior density mean_n q(z|x_n) on a 300 x 300 grid of [-2, 2]^2 for each
/// 2-latent run (one panel each, titled by `labels`), plus the first run's prior density.
std::string draw_density(const std::vector<std::string>& runs, const std::vector<std::string>& labels,
                         const std::string& png, int cols = 0, int64_t max_points = 5000,
                         uint64_t seed = 0, const std::string& device = "");

/// Per-class mean |z_d| of a labelled dataset (test split) as a heat map (classes x latents).
std::string draw_magnitudes(const std::string& run, const std::string& png, int64_t max_items = 10000,
                            uint64_t seed = 0, const std::string& title = "",
                            const std::string& device = "");

/// The normalised mutual information I(z_j; v_k) / H(v_k) of every ground-truth factor with
/// every latent's posterior mean (disentanglement_lib's histogram estimator, 20 bins, `n` random
/// grid points; the dataset must have factors): row k of `nmi` is factor `factors[k]`. Also each
/// latent's mean KL (latent_kl: an inactive latent's posterior mean can still vary
/// with the image, and the estimator then finds information the decoder never receives).
struct FactorLatentMi {
  std::vector<std::string> factors;
  int64_t latents = 0;
  int64_t points = 0;
  std::vector<double> nmi;  ///< [factors, latents]
  std::vector<double> kl;   ///< [latents], nats
};
FactorLatentMi factor_latent_mi(Run& run, uint64_t seed, int64_t n);

/// Which latent carries which factor, one row per factor of the matrix: its best latent, the
/// runner-up and their normalised mutual information (every latent, as the MIG).
struct FactorLatentRow {
  std::string factor;
  int best = -1, second = -1;
  double best_nmi = 0, second_nmi = 0;
};
std::vector<FactorLatentRow> factor_rows(const FactorLatentMi& m);
/// The factor each active latent (mean KL above kActiveLatentKl) carries alone: its row's best
/// latent with at least twice the runner-up's normalised MI; a latent is named once, by the
/// first such factor in table order. The traversals' third label line.
std::map<int64_t, std::string> latent_factor_names(const FactorLatentMi& m);
/// The matrix as a heat map (factor rows, latent columns, white 0 to darkest 1; the columns of
/// inactive latents, mean KL at most kActiveLatentKl, grey) into `png` and as CSV beside it (the
/// same name with .csv; every value, inactive latents' included); returns the caption.
std::string draw_factor_mi(const FactorLatentMi& m, const std::string& png,
                           const std::string& title = "");

// --- helpers shared by the figure files -------------------------------------------------------

/// Tiles of one image grid: rows of images [N, C, H, W] in [0, 1], composed with thin
/// separators, group gaps after chosen rows/columns, and an integer upscale.
struct TileGrid {
  int rows = 0, cols = 0, h = 0, w = 0, c = 1;
  std::vector<float> pixels;           ///< [rows * cols][c][h][w], NaN-free, in [0, 1]
  std::vector<int> row_gap_after;      ///< thicker separators after these rows
  std::vector<int> col_gap_after;      ///< thicker separators after these columns
  /// Empty, or one label per row drawn in a white column on the left (lines split at '\n', at
  /// most kRowLabelChars characters each, of the label font: row_label_font_has): e.g. the latent and its KL.
  std::vector<std::string> row_labels;
};
inline constexpr int kRowLabelChars = 8;
/// Composes the grid (separators 2 px, gaps 8 px) upscaled by `scale` (0 = auto: tiles at least
/// 96 px) into a grey or RGB image, with the row labels if any; `what` names it in errors.
Image8 compose_tile_grid(const TileGrid& g, int scale = 0, const std::string& what = "");
/// compose_tile_grid written as a PNG; returns the image written.
Image8 write_tile_grid(const TileGrid& g, const std::string& png, int scale = 0);

/// A traversal row's label: "z<d>\nKL <kl>" (kl in nats, at most 5 characters), and `note` as a
/// third line when the label font has its characters (cut to kRowLabelChars with a '.').
std::string traversal_row_label(int64_t latent, double kl, const std::string& note = "");
/// True when the row-label font draws every character of `text`.
bool row_label_font_has(const std::string& text);

/// Default PNG path RUN/figures/KIND.png.
std::string default_figure_path(const std::string& run, const std::string& kind);

}  // namespace unravel::apps
