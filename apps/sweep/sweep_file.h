// Sweep files (TOML): a base training config plus axes, expanded into runs named by a short hash
// of their effective config.
//
//   name = "beta-pinwheel"            # optional (default: the file's stem)
//   out = "sweeps/beta-pinwheel"      # optional (default: sweeps/<name>), relative to the file
//   [base]                            # config.json field names (see a run's config.json), plus
//   preset = "mathieu-pinwheel"       #   `preset` (applied first) and `beta` (= constant β)
//   steps = 200
//   [grid]                            # the cartesian product of every list
//   beta = [1.0, 2.0, 4.0]
//   seed = [1, 2]
//   [[zip]]                           # lists of one length advanced together (several groups
//   prior = ["iso", "student-t"]      #   allowed; each multiplies the grid by its length)
//   lr = [1e-3, 5e-4]
//   [[override]]                      # per-run changes where the axis values match `where`
//   where = { beta = 4.0 }
//   steps = 400
//   [eval]                            # optional: each task then runs `unravel eval` on its run
//   metrics = "mig_histogram,sap"
//   budget = "smoke"
//
// Parameter maps take dotted keys: `controller_params.beta = 4`, `prior_params.df = 3`, and a grid
// axis `prior_params.df = [3, 5]`. Every error names the file and line.
//
// The hash covers the effective TrainConfig except `out`, `device` and `graph` (every device
// computes the same run) and not the code version: rebuilding the program does not retrain a
// sweep. Each task records the code version in its task.json. A field added to TrainConfig after
// sweeps existed (lr_schedule) leaves the key when it keeps its default, so run names persist.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/config.h"

namespace unravel::apps {

/// One run of a sweep.
struct SweepRun {
  std::string name;                                         ///< short hash of the config
  std::vector<std::pair<std::string, std::string>> values;  ///< axis → value, in axis order
  TrainConfig config;                                       ///< resolved, validated; out set
};

struct SweepEval {
  std::string metrics;  ///< "" = no evaluation
  std::string budget = "quick";
};

struct Sweep {
  std::string name, out, file;
  std::vector<std::string> axes;  ///< grid axes, then zip groups' axes
  std::vector<SweepRun> runs;
  SweepEval eval;
  /// The Slurm gather job (after the array succeeds): unravel's arguments, shell-quoted ("" =
  /// `sweep collect OUT`; `unravel reproduce` puts its figure's drawing here), and its time limit.
  std::string gather;
  std::string gather_time = "0-00:30:00";
};

/// The most runs one sweep file may expand to (disentanglement_lib's whole study is 12 800).
inline constexpr size_t kMaxSweepRuns = 100000;

/// Parses and expands a sweep file; throws naming the file and line of the first problem.
Sweep load_sweep(const std::string& path);

/// The run's hash key: the config without out/device/graph.
std::string sweep_config_key(const TrainConfig& c);

/// Applies one config field (a config.json name, a dotted `*_params.key`, `preset` or `beta`;
/// `value_json` a JSON value) to `c`; throws a message without location on an unknown key or a
/// wrong type.
void apply_config_field(TrainConfig& c, const std::string& key, const std::string& value_json);

}  // namespace unravel::apps
