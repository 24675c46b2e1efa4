// `unravel reproduce FIGURE --out DIR --budget smoke|quick|paper`: trains the runs of one paper
// figure in-process (DIR/runs/NAME), evaluates them, draws the PNGs into DIR and writes
// DIR/FIGURE.md (command, budget, time, images with captions, table) and DIR/FIGURE.csv.
// Budgets: smoke = a few steps (seconds, for tests), quick = minutes on 2 CPU cores, paper = the
// presets' step counts. Finished runs are reused when the command is repeated, and an
// interrupted one resumes from its last checkpoint (kill it at any point and run it again).
// `--executor local|slurm` trains the figure's runs as a sweep first (a pool of pinned workers,
// or a Slurm job array whose gather job draws); `--collect` only draws from finished runs.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/commands.h"
#include "apps/common/progress.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_lock.h"
#include "apps/figures/reproduce_common.h"
#include "apps/sweep/sweep.h"
#include "apps/train.h"
#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;

std::string ReproduceContext::eval_budget() const {
  return budget == "paper" ? "full" : budget;
}

int64_t ReproduceContext::steps(int64_t smoke, int64_t quick, int64_t paper) const {
  return budget == "smoke" ? smoke : budget == "quick" ? quick : paper;
}

void ReproduceContext::add_image(const std::string& file, const std::string& caption) {
  markdown.push_back(fmt::format("![{}]({})\n\n*{}*\n", file, file, caption));
}

TrainConfig budget_config(const ReproduceContext& ctx, const std::string& preset_name, int64_t steps) {
  TrainConfig c = preset(preset_name).config;
  if (ctx.budget != "paper") {
    double f = static_cast<double>(steps) / static_cast<double>(c.steps);
    for (const char* k : {"C_stop", "period", "t_max"}) {
      auto it = c.controller_params.find(k);
      if (it != c.controller_params.end()) it->second = std::max(1.0, std::round(it->second * f));
    }
    c.steps = steps;
    if (ctx.budget == "smoke") c.batch = std::min<int64_t>(c.batch, 32);
  }
  c.seed = ctx.seed;
  c.device = ctx.device;
  c.precision = ctx.precision;
  c.checkpoint_every = std::max<int64_t>(c.steps / 4, 1);
  c.log_every = std::max<int64_t>(1, c.steps / 600);  // ~600 rows: the traces bin to 1000
  return c;
}

std::string ensure_run(const ReproduceContext& ctx, const std::string& name, TrainConfig c) {
  fs::path dir = fs::path(ctx.out) / "runs" / name;
  c.out = dir.string();
  resolve(c);
  validate(c);
  if (ctx.planning()) {
    for (const auto& [n, planned] : *ctx.plan)
      UNRAVEL_CHECK(n != name, "reproduce {}: two runs named '{}'", ctx.figure, name);
    ctx.plan->emplace_back(name, c);
    return c.out;
  }
  const bool exists = fs::exists(dir / "config.json");
  bool same = false;
  if (exists) {
    // The same configuration whatever device trained it (every device computes the same run).
    TrainConfig old = config_from_json(read_text((dir / "config.json").string()), c.out);
    old.device = c.device;
    old.graph = c.graph;
    forget_data_resolved_params(old, c);  // e.g. DC-IGN's factors, which training recorded
    same = to_json(old) == to_json(c);
  }
  if (same && fs::exists(dir / "summary.json")) {
    std::fprintf(stderr, "reproduce: reusing the finished run %s\n", c.out.c_str());
    return c.out;
  }
  UNRAVEL_CHECK(!ctx.collect_only, "reproduce {} --collect: run '{}' ({}) is not finished with this "
                "figure's configuration; `unravel sweep status {}` shows every run, and the same "
                "command with --executor (or without --collect) trains what is missing", ctx.figure,
                name, c.out, ctx.out);
  if (exists) {
    if (same && fs::exists(last_checkpoint_path(c.out))) {
      // An interrupted run continues from its last checkpoint: the same result as an
      // uninterrupted one (train_resume replays the generator and batcher streams).
      std::fprintf(stderr, "reproduce: resuming the unfinished run %s\n", c.out.c_str());
      int rc = train_resume(c.out, 0);
      UNRAVEL_CHECK(rc == 0, "reproduce {}: resuming run '{}' failed (exit code {}); see its log in {}",
                    ctx.figure, name, rc, c.out);
      return c.out;
    }
    UNRAVEL_CHECK(!RunLock::held_by_live_writer(c.out), "reproduce: run directory '{}' is being "
                  "written by another process ({})", c.out, RunLock::holder(c.out));
    std::fprintf(stderr, "reproduce: %s is %s; training it from the start\n", c.out.c_str(),
                 same ? "unfinished without a checkpoint" : "from another configuration");
    fs::remove_all(dir);
  }
  int rc = train_new(c);
  UNRAVEL_CHECK(rc == 0, "reproduce {}: training run '{}' failed (exit code {}); see its log in {}",
                ctx.figure, name, rc, c.out);
  return c.out;
}

std::map<std::string, double> final_terms(const std::string& run) {
  auto j = nlohmann::json::parse(read_text((fs::path(run) / "summary.json").string()));
  std::map<std::string, double> m;
  if (j.contains("final"))
    for (auto& [k, v] : j["final"].items()) m[k] = v.get<double>();
  m["beta"] = j.value("beta", 0.0);
  m["capacity"] = j.value("capacity", 0.0);
  m["seconds"] = j.value("seconds", 0.0);
  return m;
}

double tail_mean(const std::string& run, const std::string& column, double fraction) {
  std::ifstream in(log_path(run));
  std::string line;
  UNRAVEL_CHECK(static_cast<bool>(std::getline(in, line)), "reproduce: {} is empty", log_path(run));
  std::vector<std::string> names;
  std::stringstream hs(line);
  for (std::string t; std::getline(hs, t, ',');) names.push_back(t);
  auto it = std::find(names.begin(), names.end(), column);
  UNRAVEL_CHECK(it != names.end(), "reproduce: {} has no column '{}'", log_path(run), column);
  size_t col = static_cast<size_t>(it - names.begin());
  std::vector<double> v;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string t;
    for (size_t i = 0; i <= col && std::getline(ss, t, ','); ++i)
      if (i == col) v.push_back(std::strtod(t.c_str(), nullptr));
  }
  UNRAVEL_CHECK(!v.empty(), "reproduce: {} has no rows", log_path(run));
  size_t n = std::max<size_t>(1, static_cast<size_t>(std::ceil(fraction * v.size())));
  double s = 0;
  for (size_t i = v.size() - n; i < v.size(); ++i) s += v[i];
  return s / double(n);
}

std::map<std::string, double> evaluate(const ReproduceContext& ctx, const std::string& run,
                                       const std::string& metrics) {
  EvalOptions o;
  o.run = run;
  o.metrics = metrics;
  o.budget = ctx.eval_budget();
  o.seed = ctx.seed;
  return evaluate_run(o, false).values;
}

std::string fmt_value(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "n/a" : fmt::format("{:.4f}", it->second);
}

namespace {

struct FigureEntry {
  std::string name, description;
  void (*run)(ReproduceContext&);
};

const std::vector<FigureEntry>& entries() {
  static const std::vector<FigureEntry> e = {
      {"higgins-traversal", "Higgins et al. 2017: latent traversals of beta-VAE (beta=4) vs VAE on dSprites", reproduce_higgins_traversal},
      {"burgess-capacity", "Burgess et al. 2018: traversals, reconstructions and traces of the capacity-annealed beta-VAE", reproduce_burgess_capacity},
      {"chen-tcvae", "Chen et al. 2018: beta-TCVAE on dSprites: traversals, reconstructions, traces, which latent carries which factor (the main job)", reproduce_chen_tcvae},
      {"controlvae-linear-vs-adaptive", "PI controller with linear vs adaptive C(t): traces, reconstructions, traversals, MIG table", reproduce_controlvae},
      {"mathieu-pinwheel", "Mathieu et al. 2019: pinwheel aggregate posteriors over (alpha, beta), 4-component mixture prior", reproduce_mathieu_pinwheel},
      {"higgins-metric", "Higgins et al. 2017: beta-VAE score of beta-VAE vs DC-IGN, InfoGAN, VAE, PCA and ICA on dSprites", reproduce_higgins_metric},
      {"mathieu-priors", "Mathieu et al. 2019: disentanglement and reconstruction vs beta for iso/aniso/Student-t priors", reproduce_mathieu_priors},
      {"higgins-celeba", "Higgins et al. 2017: latent traversals of a beta-VAE on CelebA 64x64 (needs --data: the folder holding img_align_celeba/)", reproduce_higgins_celeba},
      {"mathieu-sparsity", "Mathieu et al. 2019: Hoyer sparsity and log-likelihood vs alpha on Fashion-MNIST (gamma 0 vs 0.8), class magnitudes", reproduce_mathieu_sparsity},
  };
  return e;
}

/// --executor: the figure's runs (planned by its own code, ensure_run recording) as a sweep in
/// OUT (plan.json; runs in OUT/runs/NAME as in-process), trained by the local pool or submitted
/// as a Slurm job array whose gather job draws the figure (`reproduce ... --collect`).
int run_figure_sweep(const FigureEntry& entry, ReproduceContext& ctx, const ReproduceOptions& o) {
  std::vector<std::pair<std::string, TrainConfig>> planned;
  ctx.plan = &planned;
  entry.run(ctx);
  ctx.plan = nullptr;
  ctx.markdown.clear();
  ctx.csv_header.clear();
  ctx.csv_rows.clear();
  Sweep s;
  s.name = "reproduce-" + o.figure;
  s.out = o.out;
  s.file = o.out;  // `unravel sweep run|status OUT` read OUT/plan.json
  s.axes = {"run"};
  for (auto& [name, config] : planned) s.runs.push_back({name, {{"run", name}}, config});
  std::string gather = fmt::format("reproduce {} --out {} --budget {} --seed {} --device {} "
                                   "--precision {} --collect", shell_quote(o.figure),
                                   shell_quote(fs::absolute(o.out).string()), o.budget, o.seed,
                                   shell_quote(ctx.device), ctx.precision);
  if (!o.data.empty()) gather += " --data " + shell_quote(fs::absolute(o.data).string());
  s.gather = gather;
  s.gather_time = o.budget == "paper" ? "1-00:00:00" : "0-02:00:00";  // evaluation and drawing
  write_plan(s);
  SweepOptions so = o.sweep;
  so.executor = o.executor;
  std::fprintf(stderr, "reproduce %s: %zu runs as a sweep (%s executor; plan in %s/plan.json)\n",
               o.figure.c_str(), s.runs.size(), o.executor.c_str(), o.out.c_str());
  if (o.executor == "slurm") {
    const int rc = run_slurm(s, so, measure_costs(s, so.threads, so.measure));
    if (rc == 0 && !so.dry_run && !so.wait)
      std::printf("reproduce %s: the gather job draws the figure into %s when the array is done; "
                  "`unravel sweep status %s` follows the runs, and `unravel reproduce %s --out %s "
                  "--budget %s --collect` draws it by hand\n", o.figure.c_str(), o.out.c_str(),
                  o.out.c_str(), o.figure.c_str(), o.out.c_str(), o.budget.c_str());
    return rc;
  }
  UNRAVEL_CHECK(o.executor == "local", "reproduce: unknown --executor '{}' (local | slurm)",
                o.executor);
  const int rc = run_local(s, so);
  if (rc != 0)
    std::fprintf(stderr, "reproduce %s: not every run finished (exit code %d); `unravel sweep "
                 "status %s` names them and their logs; the same command continues\n",
                 o.figure.c_str(), rc, o.out.c_str());
  return rc;
}

}  // namespace

std::vector<RegistryEntry> reproduce_figures() {
  std::vector<RegistryEntry> v;
  for (const auto& e : entries()) v.push_back({e.name, e.description});
  return v;
}

int reproduce_command(const ReproduceOptions& o) {
  const FigureEntry* entry = nullptr;
  for (const auto& e : entries())
    if (e.name == o.figure) entry = &e;
  UNRAVEL_CHECK(entry, "reproduce: unknown figure '{}' (valid: {})", o.figure,
                fmt::join(names_of(reproduce_figures()), ", "));
  UNRAVEL_CHECK(o.budget == "smoke" || o.budget == "quick" || o.budget == "paper",
                "reproduce: unknown --budget '{}' (valid: smoke, quick, paper)", o.budget);
  UNRAVEL_CHECK(!o.out.empty(), "reproduce: --out DIR is required");
  require_writable_dir(o.out, "reproduce");
  ReproduceContext ctx;
  ctx.figure = o.figure;
  ctx.out = o.out;
  ctx.budget = o.budget;
  ctx.seed = o.seed;
  ctx.device = Device::parse(o.device).str();
  ctx.precision = precision_name(parse_precision(o.precision));
  ctx.data = o.data;
  auto t0 = std::chrono::steady_clock::now();
  UNRAVEL_CHECK(o.executor.empty() || !o.collect, "reproduce: --executor trains the runs and "
                "--collect only draws from finished ones: give one of them");
  if (!o.executor.empty()) {
    const int rc = run_figure_sweep(*entry, ctx, o);
    if (o.executor == "slurm" || rc != 0) return rc;
    ctx.collect_only = true;  // every run is finished: draw
  }
  ctx.collect_only = ctx.collect_only || o.collect;
  entry->run(ctx);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string md = fmt::format("# {}\n\n{}\n\nCommand: `unravel reproduce {} --out {} --budget {} "
                               "--seed {}{}` — took {} (training, evaluation and drawing).\n\n",
                               o.figure, entry->description, o.figure, o.out, o.budget, o.seed,
                               o.data.empty() ? "" : " --data " + o.data, format_duration(secs));
  if (o.budget != "paper")
    md += fmt::format("Budget '{}' shortens the papers' runs (steps and time-like schedule "
                      "parameters scaled together) and the metrics' sample counts; numbers are "
                      "not the papers'.\n\n", o.budget);
  for (const auto& l : ctx.markdown) md += l + "\n";
  if (!ctx.csv_header.empty()) {
    std::string csv, table;
    // RFC 4180: a cell holding a comma, quote or line break is quoted, quotes doubled.
    auto csv_line = [](const std::vector<std::string>& cells) {
      std::string line;
      for (size_t i = 0; i < cells.size(); ++i) {
        const std::string& c = cells[i];
        if (i) line += ',';
        if (c.find_first_of(",\"\n\r") == std::string::npos) {
          line += c;
          continue;
        }
        line += '"';
        for (char ch : c) line += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        line += '"';
      }
      return line + "\n";
    };
    csv = csv_line(ctx.csv_header);
    table = fmt::format("| {} |\n|", fmt::join(ctx.csv_header, " | "));
    for (size_t i = 0; i < ctx.csv_header.size(); ++i) table += "---|";
    table += "\n";
    for (const auto& r : ctx.csv_rows) {
      csv += csv_line(r);
      table += fmt::format("| {} |\n", fmt::join(r, " | "));
    }
    write_text_atomic((fs::path(o.out) / (o.figure + ".csv")).string(), csv);
    md += "\n## Table\n\n" + table + fmt::format("\n(also in {}.csv)\n", o.figure);
  }
  write_text_atomic((fs::path(o.out) / (o.figure + ".md")).string(), md);
  std::printf("reproduce %s (%s budget) done in %s: %s\n", o.figure.c_str(), o.budget.c_str(),
              format_duration(secs).c_str(), (fs::path(o.out) / (o.figure + ".md")).c_str());
  return 0;
}

}  // namespace unravel::apps
