// `unravel sweep`: the pieces shared by the commands (sweep.cpp), the local executor
// (sweep_local.cpp) and the Slurm executor (sweep_slurm.cpp).
//
// A sweep's output folder:
//   OUT/plan.json            every run: name, axis values, effective config (written by plan/run;
//                            what `sweep task OUT I` trains: a compute node needs only this)
//   OUT/runs/NAME/           each run's directory (`unravel train`'s layout) plus task.log (the
//                            task's output) and task.json (exit code, host, code version, time)
//   OUT/collect.csv          `sweep collect`: one row per run, axes, final loss terms, metrics
//   OUT/slurm/               the sbatch scripts, the tasks' Slurm logs, jobs.json (submitted ids)
#pragma once
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/sweep/sweep_file.h"

namespace unravel::apps {

/// The sweep of a sweep file, or of an output folder's plan.json.
Sweep load_sweep_target(const std::string& target);
/// Writes OUT/plan.json (atomically).
void write_plan(const Sweep& s);

enum class RunState { pending, partial, running, failed, done };
const char* state_name(RunState s);

struct RunStatus {
  RunState state = RunState::pending;
  int64_t step = 0;    ///< newest logged step
  std::string detail;  ///< holder of the lock, exit code and log of a failure, ...
};
/// What the run's directory says (the lock, summary.json, task.json, log.csv).
RunStatus run_status(const Sweep& s, const SweepRun& r);

/// Measured training speed of a run's model on this machine with `threads` threads.
struct Cost {
  double steps_per_second = 0;
  double rss_gib = 0;  ///< peak resident memory of the measuring process
};
/// One measurement per distinct model (the config without seed/steps/out/log settings), reused
/// for every run that shares it. Empty when `measure` is false.
std::vector<Cost> measure_costs(const Sweep& s, int64_t threads, bool measure);

/// "beta=4, seed=1": a run's axis values.
std::string run_label(const SweepRun& r);

/// `s` as one POSIX shell word ('...', quotes escaped).
std::string shell_quote(const std::string& s);

/// The running program's absolute path (/proc/self/exe).
std::string self_exe();
/// "1h02m", "3m10s", "12.3 s".
std::string human_seconds(double s);

/// `sweep run --executor local`: a pool of `jobs` workers, each pinned to `threads` cores.
int run_local(const Sweep& s, const SweepOptions& o);
/// `sweep run --executor slurm`: an sbatch job array of the unfinished runs and a gather job.
int run_slurm(const Sweep& s, const SweepOptions& o, const std::vector<Cost>& costs);
/// squeue lines for the jobs recorded in OUT/slurm/jobs.json ("" when none or no squeue).
std::string slurm_queue(const Sweep& s);

}  // namespace unravel::apps
