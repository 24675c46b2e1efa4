// Plot figures: training traces read from RUN/log.csv, aggregate posterior densities of 2-latent
// runs, and per-class latent magnitudes.
//
// Traces: the columns "recon", "kl", "beta" and "C" of each run's log against "step". Long logs
// are reduced to at most 1000 points by averaging consecutive rows (a light smoothing that keeps
// the trend of per-step noisy losses).
// Density (Mathieu et al.'s vis code): q(z) = (1/N) Σ_n N(z; μ_n, diag σ_n²) evaluated at the
// centres of a 300 × 300 grid over [-2, 2]², N = the dataset (at most `max_points` random items).
// Magnitudes: mean_n |μ_nd| over the items of each class (Mathieu et al.'s plot_latent_magnitude).
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "apps/common/encoding.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/figures/figures.h"
#include "datasets/mnist.h"
#include "engine/check.h"
#include "objectives/metrics/representation_stats.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;

namespace {

/// Columns of a CSV with a header row, as numbers.
std::map<std::string, std::vector<double>> read_csv(const std::string& path) {
  std::ifstream in(path);
  UNRAVEL_CHECK(in.good(), "figure traces: cannot read '{}' (is the directory a run made by "
                "`unravel train`?)", path);
  std::string line;
  UNRAVEL_CHECK(static_cast<bool>(std::getline(in, line)), "figure traces: '{}' is empty", path);
  std::vector<std::string> names;
  {
    std::stringstream ss(line);
    std::string t;
    while (std::getline(ss, t, ',')) names.push_back(t);
  }
  std::map<std::string, std::vector<double>> cols;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string t;
    for (size_t i = 0; i < names.size() && std::getline(ss, t, ','); ++i)
      cols[names[i]].push_back(std::strtod(t.c_str(), nullptr));
  }
  return cols;
}

/// Averages consecutive points so at most `max_points` remain.
void reduce_points(std::vector<double>& x, std::vector<double>& y, size_t max_points) {
  if (x.size() <= max_points) return;
  const size_t bin = (x.size() + max_points - 1) / max_points;
  std::vector<double> xs, ys;
  for (size_t s = 0; s < x.size(); s += bin) {
    size_t e = std::min(x.size(), s + bin);
    double sx = 0, sy = 0;
    for (size_t i = s; i < e; ++i) {
      sx += x[i];
      sy += y[i];
    }
    xs.push_back(sx / double(e - s));
    ys.push_back(sy / double(e - s));
  }
  x = std::move(xs);
  y = std::move(ys);
}

std::string run_label(const std::string& run) {
  fs::path p = fs::path(run).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

std::string draw_traces(const std::vector<std::string>& runs, const std::vector<std::string>& labels,
                        const std::string& png) {
  UNRAVEL_CHECK(!runs.empty(), "figure traces: no run given");
  UNRAVEL_CHECK(labels.empty() || labels.size() == runs.size(),
                "figure traces: {} labels for {} runs", labels.size(), runs.size());
  struct Spec {
    const char* column;
    const char* title;
    const char* ylabel;
  };
  const Spec specs[] = {{"recon", "Reconstruction loss", "-log p(x|z) (nats / image)"},
                        {"kl", "KL(q(z|x) || p(z))", "KL (nats)"},
                        {"beta", "#gb(t)", "#gb"},
                        {"C", "C(t): capacity / KL set-point", "C (nats)"}};
  std::vector<plot::Panel> panels;
  for (const Spec& sp : specs) panels.push_back({sp.title, "training step", sp.ylabel, {}, false});
  for (size_t i = 0; i < runs.size(); ++i) {
    load_config(runs[i]);  // a clear error when it is not a run directory
    auto cols = read_csv(log_path(runs[i]));
    UNRAVEL_CHECK(cols.count("step") && !cols["step"].empty(),
                  "figure traces: {} has no logged steps yet", log_path(runs[i]));
    std::string label = labels.empty() ? run_label(runs[i]) : labels[i];
    for (size_t p = 0; p < panels.size(); ++p) {
      std::string col = specs[p].column;
      if (!cols.count(col)) continue;
      std::vector<double> x = cols["step"], y = cols[col];
      reduce_points(x, y, 1000);
      plot::Series s;
      s.label = label;
      s.x = std::move(x);
      s.y = std::move(y);
      panels[p].series.push_back(std::move(s));
    }
  }
  fs::path p(png);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  plot::line_plots_png(png, panels, 2, 1200, 850);
  std::string names;
  for (size_t i = 0; i < runs.size(); ++i)
    names += (i ? ", " : "") + (labels.empty() ? run_label(runs[i]) : labels[i]);
  return fmt::format("Training traces of {}: reconstruction loss, KL, β(t) and C(t) against steps "
                     "(logs with more than 1000 rows are averaged in consecutive bins).", names);
}

std::string draw_density(const std::vector<std::string>& runs, const std::vector<std::string>& labels,
                         const std::string& png, int cols, int64_t max_points, uint64_t seed,
                         const std::string& device) {
  UNRAVEL_CHECK(!runs.empty(), "figure density: no run given");
  UNRAVEL_CHECK(labels.empty() || labels.size() == runs.size(),
                "figure density: {} labels for {} runs", labels.size(), runs.size());
  const int G = 300;
  const double lo = -2, hi = 2, step = (hi - lo) / G;
  std::vector<float> gx(static_cast<size_t>(G) * G * 2);
  for (int iy = 0; iy < G; ++iy)
    for (int ix = 0; ix < G; ++ix) {
      gx[(static_cast<size_t>(iy) * G + ix) * 2] = static_cast<float>(lo + (ix + 0.5) * step);
      gx[(static_cast<size_t>(iy) * G + ix) * 2 + 1] = static_cast<float>(lo + (iy + 0.5) * step);
    }
  std::vector<plot::Density> panels;
  std::shared_ptr<Prior> first_prior;
  std::string prior_name;
  for (size_t r = 0; r < runs.size(); ++r) {
    Run run = load_trained(runs[r], true, nullptr, device);
    UNRAVEL_CHECK(run.vae->latents() == 2,
                  "figure density: run '{}' has {} latents; the density figure needs 2", runs[r],
                  run.vae->latents());
    Generator g(seed + 31);
    Encoded e = encode_items(*run.vae, *run.data, subset_indices(run.data->size(), max_points, g),
                             256, "");
    std::vector<float> mu = e.mu.to_vector<float>(), lv = e.logvar.to_vector<float>();
    const int64_t n = e.mu.size(0);
    plot::Density d;
    d.title = labels.empty() ? run_label(runs[r]) : labels[r];
    d.nx = d.ny = G;
    d.x0 = d.y0 = lo;
    d.x1 = d.y1 = hi;
    d.values.assign(static_cast<size_t>(G) * G, 0.0);
    // Per point: a = -1/(2σ²), b = -log(2πσ²)/2 per dim.
    std::vector<double> a(n * 2), b(n * 2);
    for (int64_t i = 0; i < n * 2; ++i) {
      a[i] = -0.5 * std::exp(-double(lv[i]));
      b[i] = -0.5 * (std::log(2 * M_PI) + double(lv[i]));
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < int64_t(G) * G; ++k) {
      const double x = gx[k * 2], y = gx[k * 2 + 1];
      double s = 0;
      for (int64_t i = 0; i < n; ++i) {
        double dx = x - mu[i * 2], dy = y - mu[i * 2 + 1];
        s += std::exp(a[i * 2] * dx * dx + b[i * 2] + a[i * 2 + 1] * dy * dy + b[i * 2 + 1]);
      }
      d.values[k] = s / double(n);
    }
    panels.push_back(std::move(d));
    if (r == 0) {
      first_prior = std::move(run.prior);
      prior_name = run.config.prior;
    }
  }
  {
    NoGradGuard ng;
    Tensor z = Tensor::from_vector(gx, Shape{int64_t(G) * G, 2}, first_prior->device());
    std::vector<double> lp = to(first_prior->log_prob_sum(z), DType::f64).to_vector<double>();
    plot::Density d;
    d.title = fmt::format("prior p(z) ({})", prior_name);
    d.nx = d.ny = G;
    d.x0 = d.y0 = lo;
    d.x1 = d.y1 = hi;
    for (double v : lp) d.values.push_back(std::exp(v));
    panels.push_back(std::move(d));
  }
  if (cols <= 0) cols = std::min<int>(4, static_cast<int>(panels.size()));
  int rows = (static_cast<int>(panels.size()) + cols - 1) / cols;
  fs::path p(png);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  plot::density_png(png, panels, cols, 360 * cols, 380 * rows);
  return fmt::format("Aggregate posterior densities mean_n q(z|x_n) on a {}x{} grid of [-2, 2]^2 "
                     "(at most {} items per run), with the prior's density in the last panel; each panel's "
                     "colours run from white at 0 to dark blue at its own maximum.",
                     G, G, max_points);
}

std::string draw_magnitudes(const std::string& run_dir, const std::string& png, int64_t max_items,
                            uint64_t seed, const std::string& title, const std::string& device) {
  TrainConfig c = load_config(run_dir);
  Run run = load_trained(run_dir, false, nullptr, device);
  std::unique_ptr<Dataset> test = make_dataset(c, c.dataset == "fashion-mnist" || c.dataset == "mnist");
  UNRAVEL_CHECK(test->has_labels() && test->num_classes() > 0,
                "figure magnitudes: dataset '{}' of run '{}' has no class labels", c.dataset, run_dir);
  Generator g(seed + 5);
  std::vector<int64_t> items = subset_indices(test->size(), max_items, g);
  Encoded e = encode_items(*run.vae, *test, items, 256, "encode");
  std::vector<int64_t> labels;
  for (int64_t i : items) labels.push_back(test->label(i));
  HostMatrix mu = to_host_matrix(e.mu, "figure magnitudes");
  std::vector<double> m = class_mean_magnitude(mu, labels, test->num_classes());
  plot::Density d;
  d.title = title.empty() ? fmt::format("mean |z| per class ({})", run_label(run_dir)) : title;
  d.nx = static_cast<int>(mu.cols);
  d.ny = static_cast<int>(test->num_classes());
  d.x0 = -0.5;
  d.x1 = mu.cols - 0.5;
  d.y0 = -0.5;
  d.y1 = test->num_classes() - 0.5;
  // Class 0 in the top row (values[iy * nx + ix] with iy = 0 the bottom row).
  const int64_t nc = test->num_classes();
  for (int64_t iy = 0; iy < nc; ++iy)
    d.values.insert(d.values.end(), m.begin() + (nc - 1 - iy) * mu.cols,
                    m.begin() + (nc - iy) * mu.cols);
  d.xlabel = "latent dimension";
  d.ylabel = "class";
  d.equal_axes = false;
  // Rows named by class: Fashion-MNIST's names, else the class number (MNIST's digits).
  const bool fashion = c.dataset == "fashion-mnist" &&
                       test->num_classes() == static_cast<int64_t>(fashion_mnist_classes().size());
  for (int64_t k = nc - 1; k >= 0; --k)
    d.ytick_labels.push_back(fashion ? fashion_mnist_classes()[k] : std::to_string(k));
  d.colorbar = true;
  d.colorbar_label = "mean |z#dd#u|";
  fs::path p(png);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  plot::density_png(png, {d}, 1, 1100, 500);
  double mx = 0;
  for (double v : m) mx = std::max(mx, v);
  return fmt::format("Per-class mean |z_d| over {} items of {} (colour bar: white 0 to dark {:.2f}).",
                     items.size(), test->name(), mx);
}

}  // namespace unravel::apps
