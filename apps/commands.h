// The subcommands other than train/list, as plain functions over option structs (apps/unravel.cpp
// parses the flags; each command lives in its own file).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "objectives/registry.h"

namespace unravel::apps {

struct EvalOptions {
  std::string run;                 ///< run directory, or empty with --codes/--factors
  std::string codes, factors, logvar;
  std::string out;                 ///< metrics JSON (default RUN/metrics.json)
  std::string metrics = "all";     ///< comma-separated subset
  std::string budget = "full";     ///< full | quick | smoke: sample counts of the metrics
  int64_t heldout = -1;            ///< held-out items for recon / ELBO / IWAE (-1 = budget's)
  uint64_t seed = 0;
  std::string device;              ///< "" = the run's own
  bool write = true;               ///< a run's metrics JSON is written (Python: only if asked)
};
/// `unravel eval`: metrics as a table on stdout and JSON.
int eval_command(const EvalOptions& o);

struct EncodeOptions {
  std::string run, out;
  int64_t limit = 0;  ///< 0 = the whole dataset
  std::string device;  ///< "" = the run's own
  bool items = false;  ///< also x.npy: the items encoded
  bool recon = false;  ///< also recon.npy (+ log_scale.npy): the decoder's output at mu
};
/// `unravel encode`: mu.npy, logvar.npy (+ factors.npy, labels.npy, x.npy, recon.npy).
int encode_command(const EncodeOptions& o);

struct ExportOptions {
  std::string run, to, out;  ///< run directory, target framework (torch), output folder
  bool force = false;        ///< overwrite the export files in a non-empty folder
};
/// `unravel export RUN --to torch DIR` (apps/export.cpp): model.py, model.safetensors,
/// config.json (+ prior.safetensors when the prior has tensors).
int export_command(const ExportOptions& o);

struct FigureOptions {
  std::string kind;
  std::vector<std::string> runs;
  std::string out;        ///< PNG path (default RUN/figures/<kind>.png)
  uint64_t seed = 0;
  double range = 2.0;     ///< traversal range ±
  int64_t steps = 9;      ///< traversal steps
  int64_t count = 0;      ///< images (reconstructions, samples, traversal seeds); 0 = kind's default
  std::string device;     ///< "" = each run's own
};
/// `unravel figure KIND RUN...`.
int figure_command(const FigureOptions& o);
/// Figure kinds with one-line descriptions.
std::vector<RegistryEntry> figure_kinds();

/// `unravel sweep plan|run|status|collect|task` (apps/sweep/).
struct SweepOptions {
  std::string action;           ///< plan | run | status | collect | task
  std::string target;           ///< the sweep file, or (status/collect/task) its output folder
  std::string executor = "local";  ///< run: local | slurm
  int64_t jobs = 0;             ///< local: concurrent runs (0 = cores / threads)
  int64_t threads = 1;          ///< threads per process of a run (local pinning; Slurm --cpus-per-task)
  /// Processes per run: data-parallel training over MPI inside each task (local: mpirun -np N
  /// on N·threads pinned cores; Slurm: --ntasks=N and the launcher below). Every run's
  /// micro_shards must be a multiple of N, so its results equal one process's.
  int64_t processes = 1;
  /// The command that starts a task's N processes; default "mpirun" locally and
  /// "srun --mpi=pmix" under Slurm.
  std::string mpi_launcher;
  bool measure = true;          ///< plan/run: time a few steps of each distinct model
  int64_t index = -1;           ///< task: which run
  // Slurm
  std::string partition, account, time, mem, unravel_exe;
  int64_t max_parallel = 0;     ///< the array's % throttle (0 = none)
  std::vector<std::string> sbatch_args;  ///< extra #SBATCH lines, e.g. --qos=short
  bool dry_run = false;         ///< write the sbatch script, do not submit
  bool wait = false;            ///< wait until the submitted jobs leave the queue
  // collect
  std::string plot_metric, plot_x;
};
int sweep_command(const SweepOptions& o);

struct ReproduceOptions {
  std::string figure, out, budget = "quick";
  uint64_t seed = 1;
  std::string device = "cpu";  ///< where the figure's runs train and are evaluated
  std::string precision = "fp32";  ///< the runs' matrix-kernel precision (fp32 | bf16)
  std::string data;  ///< the user's dataset folder, for figures on downloaded data (higgins-celeba)
  /// "" = train the runs in this process; local | slurm: train them as a sweep first (the figure's
  /// runs written to OUT/plan.json, `sweep.*` options as `sweep run`'s), then draw (local) or
  /// leave the drawing to the Slurm gather job.
  std::string executor;
  bool collect = false;  ///< only draw: every run must already be finished
  SweepOptions sweep;
};

/// `unravel reproduce FIGURE`.
int reproduce_command(const ReproduceOptions& o);
/// Reproducible paper figures with one-line descriptions.
std::vector<RegistryEntry> reproduce_figures();

/// `unravel devices [--require D]`: each device kind this build has and whether it can be used
/// here (with the reason when not); 1 when `require` is given and cannot be used.
int list_devices(const std::string& require);

}  // namespace unravel::apps
