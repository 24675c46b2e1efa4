// `unravel figure KIND RUN...`: draws one figure from trained runs into a PNG (default
// RUN/figures/KIND.png) and prints its caption. The drawing lives in apps/figures/.
#include <filesystem>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>

#include "apps/commands.h"
#include "apps/common/run_dir.h"
#include "apps/figures/figures.h"
#include "engine/check.h"

namespace unravel::apps {

std::vector<RegistryEntry> figure_kinds() {
  return {
      {"traversals", "latent traversals: rows = latents by KL, columns = -range..+range"},
      {"reconstructions", "inputs above, reconstructions (decoded posterior means) below"},
      {"samples", "decoded samples from the prior"},
      {"traces", "reconstruction, KL, beta(t), C(t) against steps; several runs overlaid"},
      {"density", "aggregate posterior density on [-2,2]^2 (2-latent runs) beside the prior's"},
      {"magnitudes", "per-class mean |z| per latent dimension as a heat map (labelled data)"},
      {"factors", "normalised mutual information of each ground-truth factor with each latent, a heat map (+ CSV)"},
  };
}

int figure_command(const FigureOptions& o) {
  const auto kinds = names_of(figure_kinds());
  UNRAVEL_CHECK(std::find(kinds.begin(), kinds.end(), o.kind) != kinds.end(),
                "figure: unknown kind '{}' (valid: {})", o.kind, fmt::join(kinds, ", "));
  UNRAVEL_CHECK(!o.runs.empty(), "figure {}: give at least one run directory", o.kind);
  UNRAVEL_CHECK(o.count >= 0, "figure {}: --count must be >= 0, got {}", o.kind, o.count);
  const bool multi = o.kind == "traces" || o.kind == "density";
  UNRAVEL_CHECK(multi || o.runs.size() == 1,
                "figure {}: draws one run, got {} (only traces and density overlay several)",
                o.kind, o.runs.size());
  UNRAVEL_CHECK(o.out.empty() || std::filesystem::path(o.out).extension() == ".png",
                "figure {}: --out '{}' must name a .png file (figures are written as PNG)", o.kind,
                o.out);
  for (const auto& r : o.runs) load_config(r);  // every run directory is checked first
  const std::string png = o.out.empty() ? default_figure_path(o.runs[0], o.kind) : o.out;
  require_writable_dir(std::filesystem::path(png).parent_path().string(), "figure " + o.kind);
  std::string caption;
  if (o.kind == "traces") {
    caption = draw_traces(o.runs, {}, png);
  } else if (o.kind == "density") {
    caption = draw_density(o.runs, {}, png, 0, 5000, o.seed, o.device);
  } else if (o.kind == "magnitudes") {
    caption = draw_magnitudes(o.runs[0], png, 10000, o.seed, "", o.device);
  } else if (o.kind == "factors") {
    Run run = load_trained(o.runs[0], true, nullptr, o.device);
    caption = draw_factor_mi(factor_latent_mi(run, o.seed, o.count > 0 ? o.count : 10000), png,
                             fmt::format("which latent carries which factor ({})",
                                         std::filesystem::path(o.runs[0]).filename().string()));
  } else {
    Run run = load_trained(o.runs[0], true, nullptr, o.device);
    ImageFigureOptions io{o.seed, o.range, o.steps, o.count, {}};
    if (o.kind == "traversals") caption = draw_traversals(run, png, io);
    else if (o.kind == "reconstructions") caption = draw_reconstructions(run, png, io);
    else caption = draw_samples(run, png, io);
  }
  std::printf("%s\n%s\n", png.c_str(), caption.c_str());
  return 0;
}

}  // namespace unravel::apps
