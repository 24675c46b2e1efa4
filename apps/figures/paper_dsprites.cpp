// The dSprites figures of `unravel reproduce`:
//  * higgins-traversal — β-VAE (β = 4) vs VAE (β = 1), Higgins et al.'s MLP: for both, which
//    latent carries which factor (a heat map, and its MIG in the table), traversals with the
//    rows named from it, and reconstructions;
//  * higgins-metric — the β-VAE score (Higgins et al.'s protocol, disentanglement_lib settings)
//    of those two models, of DC-IGN and InfoGAN runs, and of PCA and FastICA codes with as many
//    components as latents;
//  * burgess-capacity — γ|KL − C| with C annealed linearly: the factor heat map (MIG in the
//    table), traversals, reconstructions, traces;
//  * controlvae-linear-vs-adaptive — the PI controller tracking a linear vs an adaptive C(t):
//    overlaid traces, factor heat maps, reconstructions and traversals of both, and a table of
//    MIG (Chen et al.'s estimator, shape excluded) and final reconstruction loss.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "apps/common/encoding.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/figures/figures.h"
#include "apps/figures/reproduce_common.h"
#include "engine/check.h"
#include "objectives/metrics/classifiers.h"
#include "objectives/metrics/linear_codes.h"
#include "objectives/metrics/mig.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;

namespace {

// The quick budget of chen-tcvae (the main job, scripts/run.sh): the spatial broadcast net at
// batch 64 with a cosine-decayed learning rate; beta = 2 on the TC keeps enough information in the
// code for the decoder to start drawing shapes, while the broadcast decoder puts x, y and scale
// in latents of their own (README, "The main job").
constexpr int64_t kQuickTcvaeSteps = 7000;
constexpr int64_t kQuickTcvaeBatch = 64;
constexpr double kQuickTcvaeLr = 1e-3;
constexpr double kQuickTcvaeBeta = 2;

// The quick budget of higgins-metric's DC-IGN and InfoGAN rows: a few CPU minutes each.
constexpr int64_t kQuickDcignSteps = 2000;
constexpr int64_t kQuickInfoganSteps = 600;

/// "<arch>; <steps> steps of batch <batch>" (no commas: a CSV cell).
std::string run_budget(const TrainConfig& c) {
  return fmt::format("{}; {} steps of batch {}", c.arch, c.steps, c.batch);
}

std::string png_path(const ReproduceContext& ctx, const std::string& file) {
  return (fs::path(ctx.out) / file).string();
}

/// The factor heat map of one run (`<tag>_factors.png` and `.csv`, on ctx.steps(500, 10 000,
/// 10 000) random grid points), its rows, the factor each active latent carries alone
/// (normalised MI at least twice the runner-up's; a latent named once, by the first such factor
/// in table order: the traversals' third label line), the MIG of the matrix (the mean gap over
/// the factors, every latent included, as disentanglement_lib computes it) and the number of
/// active latents (mean KL above kActiveLatentKl over 512 random items).
struct FactorMap {
  FactorLatentMi mi;
  std::vector<FactorLatentRow> rows;
  std::map<int64_t, std::string> notes;
  double mig = 0;
  int active = 0;
};

FactorMap draw_factor_map(ReproduceContext& ctx, Run& run, const std::string& tag,
                          const std::string& title) {
  FactorMap f;
  const int64_t n = ctx.steps(500, 10000, 10000);
  std::fprintf(stderr, "reproduce: %s: factor-latent mutual information on %lld random grid points\n",
               tag.c_str(), static_cast<long long>(n));
  f.mi = factor_latent_mi(run, ctx.seed, n);
  f.rows = factor_rows(f.mi);
  f.notes = latent_factor_names(f.mi);
  for (const auto& r : f.rows) f.mig += r.best_nmi - r.second_nmi;
  if (!f.rows.empty()) f.mig /= static_cast<double>(f.rows.size());
  for (double k : f.mi.kl) f.active += k > kActiveLatentKl;
  const std::string cap = draw_factor_mi(f.mi, png_path(ctx, tag + "_factors.png"),
                                         title + ": which latent carries which factor");
  ctx.add_image(tag + "_factors.png", title + ": " + cap);
  return f;
}

/// Traversals + reconstructions of one run into ctx.
void draw_run_images(ReproduceContext& ctx, Run& run, const std::string& tag,
                     const std::string& title,
                     const std::map<int64_t, std::string>& latent_notes = {}) {
  ImageFigureOptions io;
  io.latent_notes = latent_notes;
  std::string cap = draw_traversals(run, png_path(ctx, tag + "_traversals.png"), io);
  ctx.add_image(tag + "_traversals.png", title + ": " + cap);
  io.count = 12;
  cap = draw_reconstructions(run, png_path(ctx, tag + "_reconstructions.png"), io);
  ctx.add_image(tag + "_reconstructions.png", title + ": " + cap);
}

/// The factor heat map, then the traversals (rows named from it) and reconstructions of a run
/// on a dataset with factors; returns the heat map.
FactorMap draw_factor_run_images(ReproduceContext& ctx, const std::string& run_dir,
                                 const std::string& tag, const std::string& title) {
  Run run = load_trained(run_dir);
  FactorMap f = draw_factor_map(ctx, run, tag, title);
  draw_run_images(ctx, run, tag, title, f.notes);
  return f;
}

/// How much of each shape's orientation the code holds: on sprites of one shape in the upper
/// half of the scales (`n` random grid points per shape, the smaller half of them dropped), the
/// held-out R² of the cubic least-squares readout (cubic_readout_r2) of (cos kθ, sin kθ) from the
/// standardised posterior means of the (at most six) latents that vary most, for k = 1, 2, 4: the
/// angle over a full turn, a half turn and a quarter turn. A square looks the same after a
/// quarter turn and an ellipse after a half turn, so they are drawn right once the code holds
/// k = 4 and k = 2 (their k = 1, and the square's k = 2, no code can hold: ~0, a built-in
/// control); a heart needs k = 1, the way its point faces.
constexpr double kTurns[3] = {1, 2, 4};  // k: full, half and quarter turn
struct OrientationReadout {
  std::string shape;
  int64_t points = 0;        ///< sprites of the upper scales (half fit, half scored)
  double r2[3] = {0, 0, 0};  ///< per k of kTurns
};

std::vector<OrientationReadout> orientation_readout(Run& run, uint64_t seed, int64_t n) {
  const auto names = run.data->factor_names();
  auto index = [&](const char* f) {
    auto it = std::find(names.begin(), names.end(), f);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
  };
  const int ks = index("shape"), kc = index("scale"), ko = index("orientation");
  if (ks < 0 || kc < 0 || ko < 0) return {};
  DatasetFactorSource source(*run.data);
  Encoder enc = vae_encoder(*run.vae, run.device);
  EncoderSampler sampler(source, enc, 256);
  const auto& sizes = sampler.factor_sizes();
  const int64_t d = sampler.code_dim(), nf = static_cast<int64_t>(sizes.size());
  const int64_t shapes = sizes[static_cast<size_t>(ks)], scales = sizes[static_cast<size_t>(kc)];
  const int64_t angles = sizes[static_cast<size_t>(ko)];
  Generator g(seed + 29);
  std::vector<double> codes(static_cast<size_t>(shapes * n * d));
  std::vector<int64_t> classes(static_cast<size_t>(shapes * n * nf));
  for (int64_t s = 0; s < shapes; ++s)
    sampler.sample_fixed(n, ks, s, g, codes.data() + s * n * d, classes.data() + s * n * nf);
  // The latents that vary most over all shapes' points (at most six), standardised.
  const int64_t total = shapes * n;
  std::vector<double> mean(static_cast<size_t>(d), 0.0), var(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < total; ++i)
    for (int64_t j = 0; j < d; ++j) mean[j] += codes[i * d + j] / static_cast<double>(total);
  for (int64_t i = 0; i < total; ++i)
    for (int64_t j = 0; j < d; ++j)
      var[j] += (codes[i * d + j] - mean[j]) * (codes[i * d + j] - mean[j]) / static_cast<double>(total);
  std::vector<int64_t> cols(static_cast<size_t>(d));
  std::iota(cols.begin(), cols.end(), int64_t{0});
  std::stable_sort(cols.begin(), cols.end(), [&](int64_t a, int64_t b) { return var[a] > var[b]; });
  cols.resize(std::min<size_t>(cols.size(), 6));
  const double two_pi = 2 * std::acos(-1.0);
  static const char* const kShapes[] = {"square", "ellipse", "heart"};  // datasets/dsprites.h
  std::vector<OrientationReadout> out;
  for (int64_t s = 0; s < shapes; ++s) {
    HostMatrix x;
    std::vector<double> theta;
    x.cols = static_cast<int64_t>(cols.size());
    for (int64_t i = s * n; i < (s + 1) * n; ++i) {
      const int64_t* cl = classes.data() + i * nf;
      if (2 * cl[kc] < scales) continue;
      for (int64_t j : cols) x.data.push_back((codes[i * d + j] - mean[j]) / std::sqrt(var[j] + 1e-12));
      // dSprites' orientation classes are linspace(0, 2π, K): the last is the first's angle.
      theta.push_back(two_pi * static_cast<double>(cl[ko]) /
                      static_cast<double>(std::max<int64_t>(angles - 1, 1)));
    }
    x.rows = static_cast<int64_t>(theta.size());
    OrientationReadout r;
    r.shape = shapes == 3 ? std::string(kShapes[s]) : fmt::format("shape {}", s);
    r.points = x.rows;
    for (int t = 0; t < 3; ++t) {
      const double k = kTurns[t];
      HostMatrix y;
      y.rows = x.rows;
      y.cols = 2;
      for (double th : theta) {
        y.data.push_back(std::cos(k * th));
        y.data.push_back(std::sin(k * th));
      }
      r.r2[t] = cubic_readout_r2(x, y);
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

void reproduce_higgins_traversal(ReproduceContext& ctx) {
  const std::pair<const char*, const char*> runs[] = {{"beta-vae", "higgins-dsprites"},
                                                      {"vae", "higgins-vae-dsprites"}};
  ctx.csv_header = {"model", "beta", "steps", "final recon (nats)", "final KL (nats)", "active latents",
                    "MIG (histogram)"};
  for (auto [name, preset_name] : runs) {
    TrainConfig c = budget_config(ctx, preset_name, ctx.steps(20, 3000, preset(preset_name).config.steps));
    std::string dir = ensure_run(ctx, name, c);
    if (ctx.planning()) continue;
    const FactorMap f = draw_factor_run_images(
        ctx, dir, name, fmt::format("{} (beta = {})", name, c.controller_params["beta"]));
    ctx.csv_rows.push_back({name, fmt::format("{}", c.controller_params["beta"]), std::to_string(c.steps),
                            fmt::format("{:.2f}", tail_mean(dir, "recon")),
                            fmt::format("{:.2f}", tail_mean(dir, "kl")),
                            std::to_string(f.active), fmt::format("{:.3f}", f.mig)});
  }
  ctx.markdown.push_back("Expected (paper): the beta-VAE's few active latents each change one factor "
                         "(position, scale, rotation) while the VAE's latents mix them. MIG "
                         "(histogram) is the mean over the factors of the gap between the two "
                         "largest normalised MIs in each model's `_factors.csv`.\n");
}

void reproduce_burgess_capacity(ReproduceContext& ctx) {
  const char* p = "burgess-dsprites";
  TrainConfig c = budget_config(ctx, p, ctx.steps(20, 3000, preset(p).config.steps));
  std::string dir = ensure_run(ctx, "capacity", c);
  if (ctx.planning()) return;
  const FactorMap m = draw_factor_run_images(ctx, dir, "capacity", "capacity-annealed beta-VAE");
  std::string cap = draw_traces({dir}, {"gamma |KL - C|"}, png_path(ctx, "capacity_traces.png"));
  ctx.add_image("capacity_traces.png", cap);
  ctx.csv_header = {"gamma", "C_max", "C_stop (steps)", "steps", "final C", "final KL", "final recon",
                    "active latents", "MIG (histogram)"};
  auto f = final_terms(dir);
  ctx.csv_rows.push_back({fmt::format("{}", c.objective_params["gamma"]),
                          fmt::format("{}", c.controller_params["C_max"]),
                          fmt::format("{}", c.controller_params["C_stop"]), std::to_string(c.steps),
                          fmt::format("{:.2f}", f["capacity"]), fmt::format("{:.2f}", tail_mean(dir, "kl")),
                          fmt::format("{:.2f}", tail_mean(dir, "recon")),
                          std::to_string(m.active), fmt::format("{:.3f}", m.mig)});
  ctx.markdown.push_back("Expected (paper): the KL follows C(t); latents switch on one at a time as "
                         "capacity grows (position first, then scale, shape and rotation).\n");
}

void reproduce_chen_tcvae(ReproduceContext& ctx) {
  const char* p = "betatcvae-dsprites";
  const Preset& paper = preset(p);
  TrainConfig c = budget_config(ctx, p, ctx.steps(20, kQuickTcvaeSteps, paper.config.steps));
  // Below the paper budget: Burgess et al.'s encoder with a spatial broadcast decoder (Watters et
  // al. 2019) at batch 64 (many more updates per second on a CPU than the paper's MLP at batch
  // 2048), the stratified (MSS) estimator of the total correlation and a cosine-decayed rate.
  if (ctx.budget != "paper") {
    c.arch = "broadcast";
    c.batch = ctx.budget == "smoke" ? 16 : kQuickTcvaeBatch;
    c.lr = kQuickTcvaeLr;
    c.lr_schedule = "cosine";
    c.controller_params["beta"] = kQuickTcvaeBeta;
    c.objective_params["mss"] = 1;
  }
  std::string dir = ensure_run(ctx, "beta-tcvae", c);
  if (ctx.planning()) return;
  Run run = load_trained(dir);
  const int64_t n = ctx.steps(500, 10000, 10000);
  const std::string title = fmt::format("beta-TCVAE (beta = {})", c.controller_params["beta"]);
  const FactorMap f = draw_factor_map(ctx, run, "beta-tcvae", title);
  const auto& rows = f.rows;
  draw_run_images(ctx, run, "beta-tcvae", title, f.notes);
  std::string cap = draw_traces({dir}, {"beta-TCVAE"}, png_path(ctx, "beta-tcvae_traces.png"));
  ctx.add_image("beta-tcvae_traces.png", cap);
  ctx.csv_header = {"factor", "best latent", "normalised MI", "runner-up latent",
                    "normalised MI (runner-up)", "gap"};
  for (const auto& r : rows)
    ctx.csv_rows.push_back({r.factor, fmt::format("z{}", r.best), fmt::format("{:.3f}", r.best_nmi),
                            fmt::format("z{}", r.second), fmt::format("{:.3f}", r.second_nmi),
                            fmt::format("{:.3f}", r.best_nmi - r.second_nmi)});
  // The check a reader makes on the traversals, in numbers: position and scale each carried by
  // a latent of its own (normalised MI at least twice the runner-up's).
  std::vector<std::string> own;
  std::set<int> used;
  bool separate = true;
  for (const char* name : {"posX", "posY", "scale"}) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.factor == name; });
    if (it == rows.end()) continue;
    const bool clean = it->best_nmi >= 2 * it->second_nmi && used.insert(it->best).second;
    separate = separate && clean;
    own.push_back(fmt::format("{} → z{} ({:.2f} vs {:.2f}{})", name, it->best, it->best_nmi,
                              it->second_nmi, clean ? "" : ", not separate"));
  }
  ctx.markdown.push_back(fmt::format(
      "Factor ↔ latent (normalised mutual information of each factor with each latent's posterior "
      "mean; disentanglement_lib's histogram estimator, 20 bins, {} random grid points; MIG = "
      "{:.3f}): {}. Position and scale each in a latent of its own: **{}**.\n",
      n, f.mig, fmt::join(own, "; "),
      separate ? "yes" : "no"));
  // Why a shape is or is not drawn: how much of its orientation the code holds.
  const auto readout = orientation_readout(run, ctx.seed, ctx.steps(2000, 6000, 6000));
  if (!readout.empty()) {
    std::string csv = "shape,points,R2 full turn (k=1),R2 half turn (k=2),R2 quarter turn (k=4)\n";
    std::vector<std::string> parts;
    for (const auto& r : readout) {
      csv += fmt::format("{},{},{:.3f},{:.3f},{:.3f}\n", r.shape, r.points, r.r2[0], r.r2[1], r.r2[2]);
      parts.push_back(fmt::format("{} {:.2f} / {:.2f} / {:.2f}", r.shape, r.r2[0], r.r2[1], r.r2[2]));
    }
    write_text_atomic(png_path(ctx, "orientation_code.csv"), csv);
    ctx.markdown.push_back(fmt::format(
        "Orientation in the code (orientation_code.csv; held-out R² of a cubic least-squares fit of "
        "(cos kθ, sin kθ) from the posterior means, sprites of the upper three scales; full / half / "
        "quarter turn): {}. A square is drawn right once the code holds the quarter-turn angle and "
        "an ellipse the half-turn one; a heart needs the full turn, the way its point faces.\n",
        fmt::join(parts, "; ")));
  }
  ctx.markdown.push_back(fmt::format(
      "Run: {} net, batch {}, Adam lr {} ({} schedule), {} steps, beta = {} on the total correlation "
      "({} estimator). Paper (Chen et al. 2018, recollection): the MLP of Higgins et al., batch 2048, "
      "lr 1e-3, 50 epochs (18 000 steps), beta = 6, MWS.\n",
      c.arch, c.batch, c.lr, c.lr_schedule, c.steps, c.controller_params["beta"],
      c.objective_params.count("mss") && c.objective_params.at("mss") != 0 ? "MSS" : "MWS"));
}

void reproduce_controlvae(ReproduceContext& ctx) {
  const std::pair<const char*, const char*> runs[] = {{"linear", "controlvae-linear-dsprites"},
                                                      {"adaptive", "controlvae-adaptive-dsprites"}};
  std::vector<std::string> dirs, labels;
  ctx.csv_header = {"C(t)", "steps", "MIG (Chen)", "final recon loss (train, nats)",
                    "held-out recon NLL", "final KL", "mean beta"};
  for (auto [name, p] : runs) {
    TrainConfig c = budget_config(ctx, p, ctx.steps(20, 3000, preset(p).config.steps));
    std::string dir = ensure_run(ctx, name, c);
    if (ctx.planning()) continue;
    dirs.push_back(dir);
    labels.push_back(std::string(name) + " C(t)");
    draw_factor_run_images(ctx, dir, name, std::string(name) + " C(t)");
    auto m = evaluate(ctx, dir, "mig_chen,heldout");
    ctx.csv_rows.push_back({name, std::to_string(c.steps), fmt_value(m, "mig_chen"),
                            fmt::format("{:.2f}", tail_mean(dir, "recon")),
                            fmt_value(m, "heldout.recon_nll"), fmt::format("{:.2f}", tail_mean(dir, "kl")),
                            fmt::format("{:.3f}", tail_mean(dir, "beta", 1.0))});
  }
  if (ctx.planning()) return;
  std::string cap = draw_traces(dirs, labels, png_path(ctx, "traces.png"));
  ctx.add_image("traces.png", cap);
  ctx.markdown.push_back("Expected (course study): the adaptive C(t) holds capacity longer with a "
                         "higher average beta; MIG about the same, reconstruction worse.\n");
}

namespace {

/// The ground truth as a representation: each item is its factor class tuple (f32 [n, K]).
class FactorClassesAsItems final : public FactorSource {
 public:
  explicit FactorClassesAsItems(const FactorSource& inner) : inner_(inner) {}
  int num_factors() const override { return inner_.num_factors(); }
  std::vector<int64_t> factor_sizes() const override { return inner_.factor_sizes(); }
  Tensor images_for(const Tensor& classes) const override { return to(classes, DType::f32); }

 private:
  const FactorSource& inner_;
};

}  // namespace

// Rows as in Higgins et al.'s Table 1 that need no training besides the two VAEs: the ground
// truth factors (upper bound), raw pixels, an untrained VAE (the beta-VAE's net at its seeded
// initialisation), PCA and FastICA with as many components as latents.
void reproduce_higgins_metric(ReproduceContext& ctx) {
  const std::pair<const char*, const char*> runs[] = {{"beta-vae", "higgins-dsprites"},
                                                      {"vae", "higgins-vae-dsprites"}};
  EvalBudget eb = eval_budget(ctx.eval_budget());
  const BetaVaeScoreOptions& so = eb.metrics.beta_vae_options;
  ctx.csv_header = {"representation", "beta-VAE score (train)", "beta-VAE score (eval)",
                    "paper (UNVERIFIED recollection)", "our training"};
  std::vector<std::string> bar_names;
  std::vector<double> bar_values;
  // Scores `enc` on `source` with the same sampling seed for every representation; `budget`
  // says how the representation was trained or fit.
  auto score = [&](const std::string& name, const FactorSource& source, const Encoder& enc,
                   const char* paper, const std::string& budget) {
    std::fprintf(stderr, "reproduce: beta-VAE score of %s\n", name.c_str());
    EncoderSampler sampler(source, enc, 256);
    Generator g(ctx.seed + 101);
    AccuracyScore s = beta_vae_score(sampler, g, so);
    ctx.csv_rows.push_back({name, fmt::format("{:.4f}", s.train_accuracy),
                            fmt::format("{:.4f}", s.eval_accuracy), paper, budget});
    bar_names.push_back(name);
    bar_values.push_back(100.0 * s.eval_accuracy);
  };
  int64_t latents = 10;
  std::unique_ptr<Dataset> data;
  TrainConfig beta_config;
  const char* paper_trained[] = {"99.2%", "61.6%"};
  // Below the paper budget both VAEs use Burgess et al.'s conv net at lr 5e-4: Higgins et al.'s
  // MLP sits on a plateau for thousands of steps (~62% for beta = 4 and 1 alike at 3 000), while
  // the conv net's beta-VAE overtakes its VAE by 30 000 steps (README, higgins-metric).
  const bool conv = ctx.budget != "paper";
  for (int i = 0; i < 2; ++i) {
    auto [name, p] = runs[i];
    TrainConfig c = budget_config(ctx, p, ctx.steps(20, 30000, preset(p).config.steps));
    if (conv) {
      c.arch = "burgess";
      c.lr = 5e-4;
    }
    // Own run names: higgins-traversal keeps the MLP runs in the same --out folder.
    std::string dir = ensure_run(ctx, conv ? std::string(name) + "-burgess" : name, c);
    if (ctx.planning()) continue;
    Run run = load_trained(dir);
    if (i == 0) beta_config = run.config;  // resolved, as trained
    latents = run.vae->latents();
    DatasetFactorSource source(*run.data);
    score(fmt::format("{} (beta={})", name, c.controller_params["beta"]), source,
          vae_encoder(*run.vae, run.device), paper_trained[i], run_budget(run.config));
    if (!data) data = std::move(run.data);
  }
  // Higgins et al.'s two other learnt baselines, each at its own budget (quick: a few CPU
  // minutes each; paper: the presets' 300 000 steps).
  const struct {
    const char* label;
    const char* run;
    const char* preset;
    int64_t quick;
    const char* paper;
  } baselines[] = {{"DC-IGN", "dcign", "dcign-dsprites", kQuickDcignSteps, "99.3%"},
                   {"InfoGAN", "infogan", "infogan-dsprites", kQuickInfoganSteps, "73.0%"}};
  for (const auto& b : baselines) {
    TrainConfig c = budget_config(ctx, b.preset, ctx.steps(20, b.quick, preset(b.preset).config.steps));
    const std::string dir = ensure_run(ctx, b.run, c);
    if (ctx.planning()) continue;
    Run run = load_trained(dir);
    DatasetFactorSource source(*run.data);
    score(b.label, source, vae_encoder(*run.vae, run.device), b.paper, run_budget(run.config));
  }
  if (ctx.planning()) return;
  DatasetFactorSource source(*data);
  {
    Run untrained = build_run(beta_config, false);
    score("untrained VAE", source, vae_encoder(*untrained.vae, untrained.device), "44.1%",
          "none (" + beta_config.arch + " at its seeded init)");
  }
  const int64_t fit_n = ctx.steps(500, 5000, 10000);
  Generator fg(ctx.seed + 7);
  Tensor images = gather_items(*data, subset_indices(data->size(), fit_n, fg));
  for (const char* kind : {"PCA", "ICA"}) {
    std::fprintf(stderr, "reproduce: fitting %s (%lld components on %lld images)\n", kind,
                 static_cast<long long>(latents), static_cast<long long>(fit_n));
    Generator g(ctx.seed + 11);
    LinearCode code = std::string(kind) == "PCA" ? fit_pca(images, latents, g)
                                                 : fit_fastica(images, latents, g);
    Encoder enc = [&](const Tensor& imgs) { return EncodedBatch{apply_linear_code(code, imgs), Tensor()}; };
    score(fmt::format("{} ({} comp.)", kind, latents), source, enc,
          std::string(kind) == "PCA" ? "84.9%" : "42.0%",
          fmt::format("fit on {} random images", fit_n));
  }
  score("raw pixels", source, Encoder([](const Tensor& imgs) {
          return EncodedBatch{flatten(imgs, 1), Tensor()};
        }), "45.8%", "none");
  FactorClassesAsItems truth(source);
  score("ground truth", truth, Encoder([](const Tensor& f) { return EncodedBatch{f, Tensor()}; }),
        "100%", "none");
  plot::BarOptions bo;
  bo.reference = 20.0;  // chance: 1 of the 5 factors
  bo.reference_label = std::string("chance 20%");  // not = "…": GCC 12 -Wrestrict false positive
  bo.value_suffix = std::string("%");
  bo.y_max = 100.0;
  plot::bar_chart_png(png_path(ctx, "beta_vae_score.png"),
                      "Higgins et al. beta-VAE disentanglement metric on dSprites",
                      "held-out classifier accuracy (%)", bar_names, bar_values, bo, 1100, 600);
  ctx.add_image("beta_vae_score.png",
                fmt::format("Held-out accuracy of the linear classifier (chance 20%, 5 factors) with "
                            "{} training and {} evaluation points of L = {} pairs; PCA/ICA fit on {} "
                            "random images; the untrained VAE is the beta-VAE's net at its seeded "
                            "initialisation; ground truth = the factor classes themselves.",
                            so.num_train, so.num_eval, so.batch, fit_n));
  ctx.markdown.push_back("Paper (Table 1, recollection, UNVERIFIED): ground truth 100%, DC-IGN 99.3%, "
                         "beta-VAE 99.2%, PCA 84.9%, InfoGAN 73.0%, VAE 61.6%, raw pixels 45.8%, "
                         "untrained VAE 44.1%, ICA 42.0%. The paper's training budgets of its "
                         "baselines are not in our notes; ours are the table's last column (DC-IGN: "
                         "Burgess et al.'s conv net with one latent per factor; InfoGAN: the "
                         "infogan-dsprites networks, Q's posterior means scored).\n");
  ctx.markdown.push_back(
      conv ? fmt::format("Both VAEs: Burgess et al.'s conv net, Adam lr 5e-4, {} steps of batch {} "
                         "(the paper's MLP at the paper budget only).\n",
                         beta_config.steps, beta_config.batch)
           : std::string("Both VAEs: Higgins et al.'s MLP, as in the paper.\n"));
}

}  // namespace unravel::apps
