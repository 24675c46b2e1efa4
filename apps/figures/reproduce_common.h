// Shared machinery of `unravel reproduce`: budgets (how a paper preset is shortened), training
// or reusing the runs of a figure in-process, evaluating them, and collecting the markdown and
// CSV tables written beside the PNGs.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/config.h"
#include "apps/eval.h"

namespace unravel::apps {

/// One figure's output folder, budget and accumulated report.
struct ReproduceContext {
  std::string figure, out, budget;  ///< budget: smoke | quick | paper
  uint64_t seed = 1;
  std::string device = "cpu";  ///< where the runs train (and so are evaluated)
  std::string precision = "fp32";  ///< the runs' --precision
  std::string data;  ///< --data: the user's dataset folder (higgins-celeba)
  /// Planning (--executor): ensure_run only records each run here and returns its folder; the
  /// figure stops reading runs (each figure returns after its ensure_run calls when planning()).
  std::vector<std::pair<std::string, TrainConfig>>* plan = nullptr;
  /// --collect: every run must be finished already; nothing is trained in this process.
  bool collect_only = false;
  bool planning() const { return plan != nullptr; }
  std::vector<std::string> markdown;  ///< lines after the title
  std::vector<std::string> csv_header;
  std::vector<std::vector<std::string>> csv_rows;
  /// The eval budget matching the reproduce budget (smoke, quick, full).
  std::string eval_budget() const;
  /// Steps of a run at this budget: smoke/quick values, or the preset's at paper.
  int64_t steps(int64_t smoke, int64_t quick, int64_t paper) const;
  /// Adds a PNG (relative to out) with its caption to the markdown.
  void add_image(const std::string& file, const std::string& caption);
};

/// The preset `name` shortened to `steps` (time-like controller parameters C_stop, period, t_max
/// scaled by steps / preset steps; smoke also caps the batch at 32), with the seed set.
TrainConfig budget_config(const ReproduceContext& ctx, const std::string& preset_name, int64_t steps);

/// Trains run OUT/runs/NAME from `config` (in-process), or reuses it when it already finished
/// with the same configuration (or resumes it when it stopped after a checkpoint). Returns the
/// run directory. When planning, records (NAME, config) instead; with collect_only, refuses a
/// run that is not finished.
std::string ensure_run(const ReproduceContext& ctx, const std::string& name, TrainConfig config);

/// The final logged loss terms of a finished run (summary.json "final").
std::map<std::string, double> final_terms(const std::string& run);
/// Mean of a log.csv column over the last `fraction` of the logged rows.
double tail_mean(const std::string& run, const std::string& column, double fraction = 0.1);

/// Evaluates a run with the listed metrics at the context's budget (writes RUN/metrics.json).
std::map<std::string, double> evaluate(const ReproduceContext& ctx, const std::string& run,
                                       const std::string& metrics);

/// "0.1234" (or "n/a" for a missing key).
std::string fmt_value(const std::map<std::string, double>& m, const std::string& key);

// The paper figures (apps/figures/paper_*.cpp); each fills ctx and writes PNGs into ctx.out.
void reproduce_higgins_traversal(ReproduceContext& ctx);
void reproduce_higgins_metric(ReproduceContext& ctx);
void reproduce_burgess_capacity(ReproduceContext& ctx);
void reproduce_chen_tcvae(ReproduceContext& ctx);
void reproduce_controlvae(ReproduceContext& ctx);
void reproduce_mathieu_priors(ReproduceContext& ctx);
void reproduce_mathieu_pinwheel(ReproduceContext& ctx);
void reproduce_mathieu_sparsity(ReproduceContext& ctx);
void reproduce_higgins_celeba(ReproduceContext& ctx);  // apps/figures/paper_celeba.cpp

}  // namespace unravel::apps
