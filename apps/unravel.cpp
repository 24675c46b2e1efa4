// The `unravel` command line: subcommand parsing (the only translation unit with CLI11, which is
// slow to compile) and dispatch to the apps. Every flag is validated before any work starts.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "apps/commands.h"
#include "apps/common/config.h"
#include "apps/common/stop_signals.h"
#include "apps/eval.h"
#include "apps/train.h"
#include "datasets/registry.h"
#include "engine/anomaly.h"
#include "engine/check.h"
#include "engine/dist/communicator.h"
#include "models/optim/registry.h"
#include "models/vae.h"
#include "ops/likelihoods.h"
#include "objectives/metrics/metrics.h"
#include "objectives/registry.h"

using namespace unravel;
using namespace unravel::apps;

namespace {

void add_params(CLI::App* cmd, const std::string& flag, std::vector<std::string>& store,
                const std::string& what) {
  cmd->add_option(flag, store, what + " parameter as key=value (repeatable)");
}

/// "a | b | c": the names of a registry, for a flag's help text.
std::string choices(const std::vector<RegistryEntry>& entries) {
  return fmt::format("{}", fmt::join(names_of(entries), " | "));
}

ParamMap merge_params(ParamMap base, const std::vector<std::string>& tokens, const std::string& flag) {
  for (const auto& t : tokens) {
    auto [k, v] = parse_param(t, flag);
    base[k] = v;
  }
  return base;
}

// CLI11 reads "-1" into an unsigned option as 2^64 - 1; seeds are refused instead.
const CLI::Validator kUnsigned(
    [](std::string& v) {
      return v.find('-') == std::string::npos ? std::string()
                                               : "must be a whole number >= 0, got " + v;
    },
    "", "unsigned");

}  // namespace

int main(int argc, char** argv) {
  install_stop_signals();  // first: before any thread starts
  // A file-size limit (ulimit -f) makes writes fail with EFBIG, reported with the file's name,
  // instead of killing the process mid-write (SIGXFSZ's default).
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"unravel: VAEs for disentanglement research on a from-scratch autodiff engine"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  // --- train -----------------------------------------------------------------------------------
  TrainConfig tc;
  std::string preset_name, resume;
  std::vector<std::string> obj_params, prior_params, ctl_params, lr_params;
  double beta = -1;
  auto* train = app.add_subcommand("train", "train a VAE (writes config.json, log.csv, checkpoints, TensorBoard events in RUN/tb)");
  train->add_option("--preset", preset_name, "start from a paper configuration (see `unravel list`)");
  train->add_option("--resume", resume, "continue the run in this directory from its last checkpoint");
  train->add_option("--dataset", tc.dataset, choices(dataset_entries()))->capture_default_str();
  train->add_option("--data", tc.data, "dataset path: dSprites .npz, MNIST IDX folder, PNG/JPEG folder, CelebA or 3D chairs folder, 3dshapes.h5, mpi3d_*.npz, SmallNORB folder, dsprites-scream background image");
  train->add_option("--arch", tc.arch, "architecture (default: the dataset's)");
  train->add_option("--latents", tc.latents, "latent dimensions (default: the architecture's)");
  train->add_option("--likelihood", tc.likelihood, choices(likelihood_entries()) + " (default: the architecture's)");
  train->add_option("--likelihood-scale", tc.likelihood_scale, "fixed scale of a gaussian/laplace likelihood");
  train->add_option("--objective", tc.objective, choices(objective_entries()))->capture_default_str();
  add_params(train, "--objective-param", obj_params, "objective");
  train->add_option("--prior", tc.prior, choices(prior_entries()))->capture_default_str();
  add_params(train, "--prior-param", prior_params, "prior");
  train->add_option("--divergence", tc.divergence, "D estimator for mathieu: " + choices(divergence_entries()))->capture_default_str();
  train->add_option("--controller", tc.controller, choices(controller_entries()))->capture_default_str();
  add_params(train, "--controller-param", ctl_params, "controller");
  train->add_option("--beta", beta, "shorthand for --controller constant --controller-param beta=B");
  train->add_option("--samples", tc.samples, "posterior samples K per datapoint")->capture_default_str();
  train->add_option("--precision", tc.precision, "fp32 | bf16: convolutions and GEMMs on bf16-rounded inputs with fp32 accumulation (mixed precision; needs AVX512-BF16 or AMX on a CPU)")->capture_default_str();
  train->add_option("--batch", tc.batch, "batch size")->capture_default_str();
  train->add_option("--steps", tc.steps, "optimisation steps")->capture_default_str();
  train->add_option("--optimizer", tc.optimizer, choices(optim::optimizer_entries()))->capture_default_str();
  train->add_option("--lr", tc.lr, "learning rate")->capture_default_str();
  train->add_option("--lr-schedule", tc.lr_schedule, choices(optim::lr_schedule_entries()) + " (see `unravel list`)")->capture_default_str();
  add_params(train, "--lr-param", lr_params, "lr schedule (cosine: total, min; step: step_size, gamma; exponential: gamma; all: warmup)");
  train->add_option("--seed", tc.seed, "seed of every random stream (initialisation, sampling noise, and the batch order unless --data-seed)")->capture_default_str()->check(kUnsigned);
  train->add_option("--data-seed", tc.data_seed, "seed of the batch order alone (default: --seed; the same value gives the same batches as --seed of it)")->check(kUnsigned);
  train->add_option("--device", tc.device, "cpu | cuda[:N] | sim (the stand-in device that checks device rules)")->capture_default_str();
  train->add_flag("--graph", tc.graph, "record the step once and replay it (a CUDA graph; cuda and sim): equal results, no per-step host work");
  train->add_option("--micro-shards", tc.micro_shards, "data-parallel training (mpirun -np N unravel train): the batch is cut into M micro-shards whose gradients are summed in a fixed order, so results depend on M, never on N (N must divide M; default N)");
  train->add_option("--grad-reduce", tc.grad_reduce, "ordered (reduce-scatter in micro-shard order and all-gather: bits independent of N) | sum (an all-reduce: MPI's or NCCL's order, bits depend on N)")->capture_default_str();
  train->add_option("--out", tc.out, "run directory to create");
  train->add_option("--checkpoint-every", tc.checkpoint_every, "steps between checkpoints")->capture_default_str();
  bool no_tensorboard = false;
  train->add_flag("--no-tensorboard", no_tensorboard, "do not write TensorBoard event files to RUN/tb (scalars of log.csv, KL per latent, images and histograms at checkpoints)");
  bool detect_anomaly = false;
  train->add_flag("--detect-anomaly", detect_anomaly, "check every op's forward output and gradients for NaN/Inf and stop at the first, naming the op and its module (slow: a host read per op)");
  train->add_option("--log-every", tc.log_every, "steps between log rows (a step that logs nothing reads nothing back from the device)")->capture_default_str();

  // --- other subcommands ------------------------------------------------------------------------
  auto* list = app.add_subcommand("list", "every architecture, dataset, objective, prior, divergence, controller, likelihood, optimiser, metric, preset and figure, with its meaning");

  std::string require_device;
  auto* devices = app.add_subcommand("devices", "the devices this build can use (cpu, sim, cuda), or why one cannot be used");
  devices->add_option("--require", require_device, "exit with status 1 unless this device (e.g. cuda) can be used");

  EvalOptions eo;
  auto* eval = app.add_subcommand("eval", "disentanglement metrics of a run (or of codes given as .npy files)");
  eval->add_option("run", eo.run, "run directory");
  eval->add_option("--codes", eo.codes, "Z.npy: codes (N x D) of every point of a factor grid");
  eval->add_option("--factors", eo.factors, "F.npy: factor class indices (N x K), rows aligned with Z");
  eval->add_option("--logvar", eo.logvar, "LV.npy: log-variances (N x D), for the estimators that need them");
  eval->add_option("--out", eo.out, "metrics JSON path (default RUN/metrics.json)");
  eval->add_option("--metrics", eo.metrics, "comma-separated subset, or all")->capture_default_str();
  eval->add_option("--budget", eo.budget, "full | quick | smoke (sample counts)")->capture_default_str()
      ->check(CLI::IsMember({"full", "quick", "smoke", "paper"}));
  eval->add_option("--seed", eo.seed, "seed of the metrics' sampling")->capture_default_str()->check(kUnsigned);
  eval->add_option("--heldout", eo.heldout, "held-out items for reconstruction / ELBO / IWAE (default: the budget's)");
  eval->add_option("--device", eo.device, "cpu | cuda[:N] | sim (default: the run's)");

  EncodeOptions no;
  auto* encode = app.add_subcommand("encode", "write mu.npy, logvar.npy (and factors.npy, labels.npy) for a run's dataset");
  encode->add_option("run", no.run, "run directory")->required();
  encode->add_option("--out", no.out, "output folder")->required();
  encode->add_option("--limit", no.limit, "encode only the first N items (0 = all)")->capture_default_str();
  encode->add_option("--device", no.device, "cpu | cuda[:N] | sim (default: the run's)");
  encode->add_flag("--items", no.items, "also write x.npy: the items as the encoder saw them");
  encode->add_flag("--recon", no.recon, "also write recon.npy: the decoder's output at mu (logits or means; log_scale.npy with a learned scale)");

  ExportOptions xo;
  auto* exporter = app.add_subcommand("export", "write a run's VAE for another framework: --to torch "
                                 "gives model.py (torch.nn), model.safetensors and config.json");
  exporter->add_option("run", xo.run, "run directory")->required();
  exporter->add_option("--to", xo.to, "target framework: torch")->required();
  exporter->add_option("dir", xo.out, "output folder (created; must be empty unless --force)")->required();
  exporter->add_flag("--force", xo.force, "overwrite the export files in a non-empty folder");

  FigureOptions fo;
  auto* figure = app.add_subcommand("figure", "draw a PNG figure from one or more runs");
  figure->add_option("kind", fo.kind, choices(figure_kinds()))->required();
  figure->add_option("runs", fo.runs, "run directories (traces overlays several)")->required();
  figure->add_option("--out", fo.out, "PNG path (default RUN/figures/KIND.png)");
  figure->add_option("--seed", fo.seed, "seed for image choice and sampling")->capture_default_str()->check(kUnsigned);
  figure->add_option("--range", fo.range, "traversal range (+/-)")->capture_default_str();
  figure->add_option("--steps", fo.steps, "traversal steps")->capture_default_str();
  figure->add_option("--device", fo.device, "cpu | cuda[:N] | sim (default: each run's)");
  figure->add_option("--count", fo.count, "number of images: reconstructions/samples (default 8/16), traversal seed images (default 1; dSprites with --seed 0: fixed seeds, one per shape); factors: grid points (default 10000)");

  ReproduceOptions ro;
  auto* reproduce = app.add_subcommand("reproduce", "train, evaluate and draw one paper figure");
  reproduce->add_option("figure", ro.figure, "figure name (see `unravel list`)")->required();
  reproduce->add_option("--out", ro.out, "output folder")->required();
  reproduce->add_option("--budget", ro.budget, "smoke | quick | paper")->capture_default_str()
      ->check(CLI::IsMember({"smoke", "quick", "paper"}));
  reproduce->add_option("--seed", ro.seed, "seed")->capture_default_str()->check(kUnsigned);
  reproduce->add_option("--device", ro.device, "cpu | cuda[:N] | sim: where the runs train")->capture_default_str();
  reproduce->add_option("--precision", ro.precision, "fp32 | bf16: the runs' matrix-kernel precision")->capture_default_str();
  reproduce->add_option("--data", ro.data, "dataset folder for figures on downloaded data (higgins-celeba: the folder holding img_align_celeba/)");
  reproduce->add_option("--executor", ro.executor, "local | slurm: train the figure's runs as a sweep "
                        "(a pool of workers, or a Slurm job array whose gather job draws); default: "
                        "one after another in this process")->check(CLI::IsMember({"local", "slurm"}));
  reproduce->add_flag("--collect", ro.collect, "only draw the figure: every run must be finished");
  reproduce->add_option("--jobs", ro.sweep.jobs, "--executor local: concurrent runs (default: cores / threads)");
  reproduce->add_option("--threads", ro.sweep.threads, "--executor: threads per run")->capture_default_str();
  reproduce->add_flag("!--no-measure", ro.sweep.measure, "--executor slurm: skip timing a few steps of each model");
  reproduce->add_option("--partition", ro.sweep.partition, "slurm: partition");
  reproduce->add_option("--account", ro.sweep.account, "slurm: account");
  reproduce->add_option("--time", ro.sweep.time, "slurm: time limit per task (default: from the measured plan)");
  reproduce->add_option("--mem", ro.sweep.mem, "slurm: memory per task (default: from the measured plan)");
  reproduce->add_option("--max-parallel", ro.sweep.max_parallel, "slurm: at most this many tasks at once");
  reproduce->add_option("--sbatch", ro.sweep.sbatch_args, "slurm: an extra #SBATCH line (repeatable)");
  reproduce->add_option("--unravel", ro.sweep.unravel_exe, "slurm: the program path the nodes run");
  reproduce->add_flag("--dry-run", ro.sweep.dry_run, "slurm: write and print the sbatch script, submit nothing");
  reproduce->add_flag("--wait", ro.sweep.wait, "slurm: wait until the jobs (the drawing included) leave the queue");

  SweepOptions so;
  auto* sweep = app.add_subcommand("sweep", "sweeps of runs from a TOML file: plan | run (local "
                                   "cores or Slurm) | status | collect (README: Sweeps)");
  sweep->require_subcommand(1);
  auto* sw_plan = sweep->add_subcommand("plan", "list the runs, what is done and the measured cost");
  auto* sw_run = sweep->add_subcommand("run", "train every unfinished run (local worker pool or a Slurm job array)");
  auto* sw_status = sweep->add_subcommand("status", "each run's state (and the Slurm queue)");
  auto* sw_collect = sweep->add_subcommand("collect", "every run's final numbers and metrics into OUT/collect.csv (+ a figure)");
  auto* sw_task = sweep->add_subcommand("task", "train run INDEX of a planned sweep (what the executors start)");
  for (auto* c : {sw_plan, sw_run, sw_status, sw_collect, sw_task})
    c->add_option("sweep", so.target, "the sweep file (TOML), or its output folder")->required();
  sw_task->add_option("index", so.index, "run index in OUT/plan.json")->required();
  for (auto* c : {sw_plan, sw_run}) {
    c->add_option("--threads", so.threads, "threads per run")->capture_default_str();
    c->add_flag("!--no-measure", so.measure, "skip timing a few steps of each model");
  }
  sw_plan->add_option("--jobs", so.jobs, "concurrent runs assumed by the estimate (default: cores / threads)");
  sw_run->add_option("--executor", so.executor, "local | slurm")->capture_default_str()
      ->check(CLI::IsMember({"local", "slurm"}));
  sw_run->add_option("--jobs", so.jobs, "local: concurrent runs (default: cores / (threads · processes))");
  sw_run->add_option("--processes", so.processes, "MPI processes per run (data-parallel; every run's micro_shards must be a multiple of it)")->capture_default_str();
  sw_run->add_option("--mpi-launcher", so.mpi_launcher, "with --processes > 1: the command that starts a run's processes (default: mpirun locally, srun --mpi=pmix under Slurm)");
  sw_run->add_option("--partition", so.partition, "slurm: partition");
  sw_run->add_option("--account", so.account, "slurm: account");
  sw_run->add_option("--time", so.time, "slurm: time limit per task (default: from the measured plan)");
  sw_run->add_option("--mem", so.mem, "slurm: memory per task, e.g. 4G (default: from the measured plan)");
  sw_run->add_option("--max-parallel", so.max_parallel, "slurm: at most this many tasks at once (array %)");
  sw_run->add_option("--sbatch", so.sbatch_args, "slurm: an extra #SBATCH line, e.g. --sbatch=--qos=short (repeatable)");
  sw_run->add_option("--unravel", so.unravel_exe, "slurm: the program path the nodes run (default: this one)");
  sw_run->add_flag("--dry-run", so.dry_run, "slurm: write and print the sbatch script, submit nothing");
  sw_run->add_flag("--wait", so.wait, "slurm: wait until the jobs leave the queue and report");
  sw_collect->add_option("--plot", so.plot_metric, "also draw this column against --x (mean ± std over seeds)");
  sw_collect->add_option("--x", so.plot_x, "the axis on the figure's x axis");

  if (argc == 1) {  // no subcommand: show what there is rather than CLI11's one-line complaint
    app.name("unravel");
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // One of N processes started by mpirun: only training runs data-parallel; any other command
  // would do the same work N times (and write the same files).
  auto report = [](const char* what) {
    if (dist::world_is_parallel()) {
      // The other processes may wait in a collective for this one: end them all.
      std::fprintf(stderr, "error (process %d of %d): %s\n", dist::world().rank(),
                   dist::world().size(), what);
      dist::world().abort(2);
    }
    std::fprintf(stderr, "error: %s\n", what);
    return 2;
  };
  try {
    if (const int n = dist::launched_size(); n > 1 && !train->parsed() && !sw_task->parsed())
      UNRAVEL_CHECK(false, "this is one of {} processes started by an MPI launcher; only `unravel "
                    "train` runs data-parallel (and `unravel sweep task`, which trains), so run "
                    "`unravel {}` without mpirun", n,
                    app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name());
    if (train->parsed()) {
      set_anomaly_mode(detect_anomaly);
      // 0 and a negative --beta are the "not given" values of these; refuse them when given.
      UNRAVEL_CHECK(train->count("--latents") == 0 || tc.latents >= 1,
                    "--latents must be at least 1, got {}", tc.latents);
      UNRAVEL_CHECK(train->count("--micro-shards") == 0 || tc.micro_shards >= 1,
                    "--micro-shards must be at least 1, got {}", tc.micro_shards);
      UNRAVEL_CHECK(train->count("--beta") == 0 || (std::isfinite(beta) && beta >= 0),
                    "--beta must be a finite number >= 0, got {}", beta);
      if (!resume.empty()) {
        // A resumed run keeps its config.json: every flag but --steps (and --detect-anomaly,
        // which only checks) would be ignored, so it is refused instead.
        for (const auto* opt : train->get_options()) {
          const std::string f = opt->get_name();
          if (opt->count() == 0 || f == "--resume" || f == "--steps" || f == "--detect-anomaly")
            continue;
          UNRAVEL_CHECK(false, "--resume continues a run as configured; {} cannot be combined with "
                        "it (only --steps can)", f);
        }
        return train_resume(resume, train->count("--steps") ? tc.steps : 0);
      }
      TrainConfig c = tc;
      if (!preset_name.empty()) {
        c = preset(preset_name).config;
        // Explicit flags override the preset.
        for (const auto* opt : train->get_options()) {
          if (opt->count() == 0) continue;
          const std::string n = opt->get_name();
          if (n == "--dataset") c.dataset = tc.dataset;
          else if (n == "--data") c.data = tc.data;
          else if (n == "--arch") c.arch = tc.arch;
          else if (n == "--latents") c.latents = tc.latents;
          else if (n == "--likelihood") c.likelihood = tc.likelihood;
          else if (n == "--likelihood-scale") c.likelihood_scale = tc.likelihood_scale;
          else if (n == "--objective") c.objective = tc.objective;
          else if (n == "--prior") c.prior = tc.prior;
          else if (n == "--divergence") c.divergence = tc.divergence;
          else if (n == "--controller") c.controller = tc.controller;
          else if (n == "--samples") c.samples = tc.samples;
          else if (n == "--precision") c.precision = tc.precision;
          else if (n == "--batch") c.batch = tc.batch;
          else if (n == "--steps") c.steps = tc.steps;
          else if (n == "--optimizer") c.optimizer = tc.optimizer;
          else if (n == "--lr") c.lr = tc.lr;
          else if (n == "--lr-schedule") c.lr_schedule = tc.lr_schedule;
          else if (n == "--seed") c.seed = tc.seed;
          else if (n == "--data-seed") c.data_seed = tc.data_seed;
          else if (n == "--device") c.device = tc.device;
          else if (n == "--graph") c.graph = tc.graph;
          else if (n == "--micro-shards") c.micro_shards = tc.micro_shards;
          else if (n == "--grad-reduce") c.grad_reduce = tc.grad_reduce;
          else if (n == "--checkpoint-every") c.checkpoint_every = tc.checkpoint_every;
          else if (n == "--log-every") c.log_every = tc.log_every;
        }
        c.out = tc.out;
      }
      c.tensorboard = !no_tensorboard;
      c.objective_params = merge_params(c.objective_params, obj_params, "--objective-param");
      c.prior_params = merge_params(c.prior_params, prior_params, "--prior-param");
      c.lr_schedule_params = merge_params(c.lr_schedule_params, lr_params, "--lr-param");
      c.controller_params = merge_params(c.controller_params, ctl_params, "--controller-param");
      if (train->count("--beta")) {
        UNRAVEL_CHECK(c.controller == "constant", "--beta sets a constant beta; the controller is '{}'",
                      c.controller);
        c.controller_params["beta"] = beta;
      }
      resolve(c);
      validate(c);
      return train_new(c);
    }
    if (devices->parsed()) return list_devices(require_device);
    if (list->parsed()) {
      // One section: a title, then "  name  meaning" lines with the names in one column.
      auto section = [](const char* title, const std::vector<RegistryEntry>& entries) {
        size_t width = 0;
        for (const auto& e : entries) width = std::max(width, e.name.size());
        std::printf("\n%s\n", title);
        for (const auto& e : entries)
          std::printf("  %-*s  %s\n", static_cast<int>(width), e.name.c_str(), e.meaning.c_str());
      };
      std::vector<RegistryEntry> archs, preset_list;
      for (const auto& a : models::architectures()) archs.push_back({a.name, a.description});
      for (const auto& p : presets()) preset_list.push_back({p.name, p.description});
      section("architectures (--arch)", archs);
      section("datasets (--dataset)", dataset_entries());
      section("objectives (--objective)", objective_entries());
      section("priors (--prior)", prior_entries());
      section("divergences (--divergence, the D of the mathieu objective)", divergence_entries());
      section("controllers (--controller)", controller_entries());
      section("likelihoods (--likelihood)", likelihood_entries());
      section("optimisers (--optimizer)", optim::optimizer_entries());
      section("learning-rate schedules (--lr-schedule, parameters by --lr-param; warmup=N adds a linear warm-up)", optim::lr_schedule_entries());
      section("metrics (unravel eval --metrics)", metric_entries());
      section("presets (--preset)", preset_list);
      section("figures (unravel figure KIND)", figure_kinds());
      section("paper figures (unravel reproduce FIGURE)", reproduce_figures());
      return 0;
    }
    if (sweep->parsed()) {
      for (auto* c : {sw_plan, sw_run, sw_status, sw_collect, sw_task})
        if (c->parsed()) so.action = c->get_name();
      UNRAVEL_CHECK(so.action != "collect" || so.plot_metric.empty() == so.plot_x.empty(),
                    "sweep collect: --plot and --x go together");
      return sweep_command(so);
    }
    if (eval->parsed()) {
      UNRAVEL_CHECK(eval->count("--heldout") == 0 || eo.heldout >= 0,
                    "eval: --heldout must be >= 0 (0: no held-out metrics), got {}", eo.heldout);
      return eval_command(eo);
    }
    if (encode->parsed()) return encode_command(no);
    if (exporter->parsed()) return export_command(xo);
    if (figure->parsed()) return figure_command(fo);
    if (reproduce->parsed()) return reproduce_command(ro);
    return 1;
  } catch (const Error& e) {
    return report(e.what());
  } catch (const std::exception& e) {
    return report(e.what());
  }
}
