// The evaluation behind `unravel eval`, as functions reproduce can call: the metrics of a run
// (or of a representation given as arrays) at a budget, returned as a name -> value map.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "objectives/metrics/metrics.h"

namespace unravel::apps {

/// Sample counts of one budget ("smoke" | "quick" | "full"; "paper" = "full").
struct EvalBudget {
  std::string name;
  MetricOptions metrics;     ///< the metrics' settings (full = the papers' defaults)
  int64_t table_rows = 0;    ///< rows of the factor grid encoded for the table (0 = all)
  int64_t heldout = 10000;   ///< held-out items for reconstruction / ELBO / IWAE
  int64_t iwae_samples = 1000;  ///< K of the IWAE bound
  int64_t stats_items = 10000;  ///< items encoded for sparsity / magnitudes / MMD (no factors)
};

/// The settings of a budget; throws listing the valid names.
EvalBudget eval_budget(const std::string& name);

/// What an evaluation produced: scalar metrics plus per-class magnitudes where computed.
struct EvalResult {
  std::map<std::string, double> values;
  std::vector<std::vector<double>> class_magnitudes;  ///< [classes][latents]
  std::vector<std::string> class_names;
};

/// Evaluates the trained run in `o.run` (metrics filtered by o.metrics, sizes by o.budget,
/// held-out size overridable by o.heldout); writes the JSON to o.out (default RUN/metrics.json).
EvalResult evaluate_run(const EvalOptions& o, bool print_table = true);

/// A representation given as arrays, with the names its errors use ("--codes Z.npy", "codes").
struct ArrayScoreInputs {
  Tensor codes;     ///< [N, D] float32/float64
  Tensor factors;   ///< [N, K] or [N] integer class indices
  Tensor logvar;    ///< [N, D] float, or undefined
  std::string codes_name = "codes", factors_name = "factors", logvar_name = "logvar";
};

/// Validates the arrays (shapes, dtypes, alignment, finite values, non-negative classes: each
/// refused up front naming the array and the place) and scores them with the metrics and budget
/// of `o` (o.metrics, o.budget, o.seed). The one path behind `eval --codes` and Python's
/// unravel.metrics.
EvalResult score_arrays(const ArrayScoreInputs& in, const EvalOptions& o);

/// Scores arrays Z [N, D] (+ LV [N, D]) against factor classes F [N, K].
EvalResult evaluate_arrays(const EvalOptions& o, bool print_table = true);

}  // namespace unravel::apps
