// Which latent carries which ground-truth factor, as a figure: the normalised mutual information
// of every factor with every latent's posterior mean (disentanglement_lib's histogram estimator:
// objectives/metrics/mig.h), drawn as a heat map and written as CSV. `unravel figure factors`
// and the chen-tcvae reproduction (the main job) draw it; the latter also reads its table rows.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "apps/common/encoding.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/figures/figures.h"
#include "engine/check.h"
#include "objectives/metrics/factor_source.h"
#include "objectives/metrics/mig.h"

namespace unravel::apps {

namespace fs = std::filesystem;

FactorLatentMi factor_latent_mi(Run& run, uint64_t seed, int64_t n) {
  UNRAVEL_CHECK(run.data->num_factors() > 0,
                "factor-latent mutual information: dataset '{}' has no ground-truth factors "
                "(dSprites, 3dshapes, mpi3d, smallnorb and the dSprites variants have them)",
                run.data->name());
  DatasetFactorSource source(*run.data);
  Encoder enc = vae_encoder(*run.vae, run.device);
  EncoderSampler sampler(source, enc, 256);
  Generator g(seed + 17);
  MigHistogramOptions o;
  o.num_train = n;
  MigResult m = mig_histogram(sampler, g, o);
  const auto names = run.data->factor_names();
  FactorLatentMi r;
  r.latents = run.vae->latents();
  r.points = n;
  r.kl = latent_kl(*run.vae, *run.data);
  for (size_t i = 0; i < m.factors.size(); ++i) {
    const int k = m.factors[i];
    r.factors.push_back(k < static_cast<int>(names.size()) ? names[k]
                                                     : fmt::format("factor {}", k));
    for (int64_t j = 0; j < r.latents; ++j)
      r.nmi.push_back(m.mutual_info[i * r.latents + j] / m.factor_entropies[i]);
  }
  return r;
}

std::vector<FactorLatentRow> factor_rows(const FactorLatentMi& m) {
  std::vector<FactorLatentRow> rows;
  for (size_t i = 0; i < m.factors.size(); ++i) {
    FactorLatentRow r;
    r.factor = m.factors[i];
    for (int64_t j = 0; j < m.latents; ++j) {
      const double v = m.nmi[i * m.latents + j];
      if (r.best < 0 || v > r.best_nmi) {
        r.second = r.best;
        r.second_nmi = r.best_nmi;
        r.best = static_cast<int>(j);
        r.best_nmi = v;
      } else if (r.second < 0 || v > r.second_nmi) {
        r.second = static_cast<int>(j);
        r.second_nmi = v;
      }
    }
    rows.push_back(r);
  }
  return rows;
}

std::map<int64_t, std::string> latent_factor_names(const FactorLatentMi& m) {
  std::map<int64_t, std::string> names;
  for (const FactorLatentRow& r : factor_rows(m))
    if (r.best >= 0 && r.best_nmi > 0 && r.best_nmi >= 2 * r.second_nmi &&
        m.kl[static_cast<size_t>(r.best)] > kActiveLatentKl)
      names.try_emplace(r.best, r.factor);
  return names;
}

std::string draw_factor_mi(const FactorLatentMi& m, const std::string& png,
                           const std::string& title) {
  const int64_t nf = static_cast<int64_t>(m.factors.size()), d = m.latents;
  UNRAVEL_CHECK(nf > 0 && d > 0 && m.nmi.size() == static_cast<size_t>(nf * d) &&
                    m.kl.size() == static_cast<size_t>(d),
                "figure factors: {} values for {} factors x {} latents ({} KLs)", m.nmi.size(), nf,
                d, m.kl.size());
  plot::Density h;
  h.title = title.empty() ? "normalised mutual information of factor and latent" : title;
  h.nx = static_cast<int>(d);
  h.ny = static_cast<int>(nf);
  h.x0 = -0.5;
  h.x1 = d - 0.5;
  h.y0 = -0.5;
  h.y1 = nf - 0.5;
  for (int64_t iy = 0; iy < nf; ++iy)  // the first factor in the top row (iy = 0 is the bottom)
    for (int64_t j = 0; j < d; ++j)
      h.values.push_back(m.kl[j] > kActiveLatentKl ? m.nmi[(nf - 1 - iy) * d + j]
                                                    : std::numeric_limits<double>::quiet_NaN());
  for (int64_t k = nf - 1; k >= 0; --k) h.ytick_labels.push_back(m.factors[k]);
  std::vector<std::string> inactive;
  for (int64_t j = 0; j < d; ++j) {
    h.xtick_labels.push_back(fmt::format("z{}\n{:.2f}", j, m.kl[j]));
    if (m.kl[j] <= kActiveLatentKl) inactive.push_back(fmt::format("z{}", j));
  }
  h.xlabel = "latent (and its mean KL, nats)";
  h.ylabel = "factor";
  h.equal_axes = false;
  h.colorbar = true;
  h.colorbar_label = "I(z#dj#u; v#dk#u) / H(v#dk#u)";
  h.vmax = 1.0;  // normalised MI: white 0, darkest 1, comparable between runs
  fs::path p(png);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  plot::density_png(png, {h}, 1, 1100, 120 + 70 * static_cast<int>(nf));
  std::string csv = "factor";
  for (int64_t j = 0; j < d; ++j) csv += fmt::format(",z{}", j);
  csv += "\n";
  std::string best;
  for (int64_t k = 0; k < nf; ++k) {
    csv += m.factors[k];
    const auto row = m.nmi.begin() + k * d;
    for (int64_t j = 0; j < d; ++j) csv += fmt::format(",{:.4f}", row[j]);
    csv += "\n";
    int64_t j = -1;  // the largest among the active latents
    for (int64_t i = 0; i < d; ++i)
      if (m.kl[i] > kActiveLatentKl && (j < 0 || row[i] > row[j])) j = i;
    best += j < 0 ? fmt::format("{}{} → none", k ? ", " : "", m.factors[k])
                  : fmt::format("{}{} → z{} ({:.2f})", k ? ", " : "", m.factors[k], j, row[j]);
  }
  write_text_atomic(fs::path(png).replace_extension(".csv").string(), csv);
  const std::string grey =
      inactive.empty()
          ? "every latent is active"
          : fmt::format("grey: {} inactive (mean KL at most {} nats: the decoder receives prior "
                        "noise there, though the posterior mean may still vary with the image and "
                        "show information here; the CSV keeps their values)",
                        fmt::join(inactive, ", "), kActiveLatentKl);
  return fmt::format("Normalised mutual information I(z_j; v_k) / H(v_k) of each factor (rows) with "
                     "each latent's posterior mean (columns, with the latent's mean KL over 512 "
                     "random items), disentanglement_lib's histogram estimator (20 bins) on {} "
                     "random grid points; white 0, darkest 1; {}. Largest per factor: {}. Values "
                     "also in {}.",
                     m.points, grey, best,
                     fs::path(png).replace_extension(".csv").filename().string());
}

}  // namespace unravel::apps
