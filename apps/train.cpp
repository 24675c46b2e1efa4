// The training loop around the library's TrainStep (objectives/training/train_step.h): next
// batch → one step on the run's device. Every random draw comes from one Generator (seeded by
// --seed) and the batcher's own stream (seeded by --data-seed, which defaults to --seed); both
// positions go into each checkpoint, so a resumed run continues the exact same streams and equals
// an uninterrupted one.
//
// Host reads: a step reads nothing back unless it logs (every --log-every steps), checkpoints
// (every --checkpoint-every steps), is the last, or was interrupted; those read the step's
// terms, β, C, the controller's state, the KL per latent and the device's non-finite flag in
// one transfer. The progress line redraws every step from the values of the last read. A
// non-finite loss is therefore noticed at the next read (at most log_every − 1 steps late); the
// checkpoint written at a read step is written only after the flag was read clean, so the last
// good checkpoint stays the newest one. TensorBoard (apps/train_tensorboard.h) gets each log
// row's values; its checkpoint images encode and decode a few items without the tape.
//
// Data-parallel (`mpirun -np N unravel train`, engine/dist/communicator.h): every process runs
// this same loop on the same streams; its batcher assembles only its B/N rows of each batch and
// the step (objectives/training/train_step.h) exchanges what crosses processes. Process 0 alone
// writes: the run directory, config.json, log.csv, TensorBoard, checkpoints and summary.json.
// Every process reads the same checkpoint on resume, which holds nothing per process, so a run
// resumes under any N that divides its micro-shards. A stop request (Ctrl-C, SIGTERM) seen by
// any process stops all of them after the same step.
#include "apps/train.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "apps/common/progress.h"
#include "apps/common/provenance.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_lock.h"
#include "apps/common/setup.h"
#include "apps/common/stop_signals.h"
#include "apps/train_tensorboard.h"
#include "datasets/batcher.h"
#include "datasets/factor_batches.h"
#include "datasets/prefetch.h"
#include "engine/anomaly.h"
#include "engine/dist/collectives.h"
#include "engine/dist/communicator.h"
#include "engine/io/safetensors.h"
#include "engine/check.h"
#include "models/checkpoint.h"
#include "models/optim/registry.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;


namespace {


struct LoopState {
  int64_t step = 0;
  Generator gen{1};
  BatcherState batcher;
  double seconds = 0;  // training time before this process
  /// The values read at `step` (the checkpoint's): a run resumed at its last step trains
  /// nothing, and its summary's final values come from here.
  StepLog last;
};

std::string metadata(const LoopState& s, const StepLog& log) {
  json j = {{"step", s.step},
            {"gen_seed", s.gen.seed()},
            {"gen_offset", s.gen.offset()},
            {"batcher", {{"epoch", s.batcher.epoch}, {"position", s.batcher.position},
                         {"seed", s.batcher.seed}, {"offset", s.batcher.offset}}},
            {"controller", log.controller},
            {"beta", log.beta},
            {"capacity", log.capacity},
            {"terms", log.terms},  // [[name, value], ...] in the objective's order
            {"seconds", s.seconds}};
  return j.dump();
}

/// Saves step s (whose values `log` were read clean): the periodic file, then
/// `last.safetensors` re-pointed atomically.
void save(const std::string& run, Run& r, const LoopState& s, const StepLog& log) {
  fs::create_directories(fs::path(run) / "checkpoints");
  std::string path = checkpoint_path(run, s.step);
  TrainStep& t = *r.trainer;
  save_checkpoint(path, *r.state, &t.optimizer(), metadata(s, log), t.auxiliary_optimizers());
  std::string link = last_checkpoint_path(run), tmp = link + ".tmp";
  fs::remove(tmp);
  fs::create_symlink(fs::relative(path, fs::path(run)), tmp);
  fs::rename(tmp, link);
  // Keep the newest `keep` periodic checkpoints.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(run) / "checkpoints"))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int64_t excess = static_cast<int64_t>(files.size()) - std::max<int64_t>(r.config.keep_checkpoints, 1);
  for (int64_t i = 0; i < excess; ++i) fs::remove(files[i]);
}

/// The checkpoints a resume may start from, newest first: where last.safetensors points, then
/// the periodic files older than it.
std::vector<std::string> resume_candidates(const std::string& run) {
  std::vector<std::string> out;
  const fs::path last = last_checkpoint_path(run);
  std::error_code ec;
  fs::path target;
  if (fs::exists(last, ec)) {
    out.push_back(last.string());
    target = fs::weakly_canonical(last, ec);
  }
  std::vector<fs::path> files;
  if (fs::is_directory(fs::path(run) / "checkpoints", ec))
    for (const auto& e : fs::directory_iterator(fs::path(run) / "checkpoints"))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.rbegin(), files.rend());  // zero-padded step numbers: newest first
  const bool periodic = target.filename().string().rfind("step-", 0) == 0;
  for (const fs::path& f : files) {
    if (fs::weakly_canonical(f, ec) == target || (periodic && f.filename() > target.filename()))
      continue;  // last.safetensors itself, or newer than it (a save that never got linked)
    out.push_back(f.string());
  }
  return out;
}

/// Loads checkpoint `ckpt` into `r` and returns the loop state from its metadata, every field
/// checked (nlohmann's own messages name neither the file nor the run).
LoopState load_loop_state(const std::string& ckpt, Run& r) {
  // One read of the file; a checkpoint without the discriminator's state is refused by
  // load_checkpoint with "the file holds no FactorVAE discriminator optimiser state".
  const CheckpointCompat compat = r.state->v1_compat();
  const std::string meta_text = load_checkpoint(ckpt, *r.state, &r.trainer->optimizer(),
                                                r.trainer->auxiliary_optimizers(), &compat);
  LoopState s;
  try {
    const json meta = json::parse(meta_text);
    s.step = meta.at("step").get<int64_t>();
    s.gen = Generator(meta.at("gen_seed").get<uint64_t>(), meta.at("gen_offset").get<uint64_t>());
    const json& b = meta.at("batcher");
    s.batcher = BatcherState{b.at("epoch").get<int64_t>(), b.at("position").get<int64_t>(),
                             b.at("seed").get<uint64_t>(), b.at("offset").get<uint64_t>()};
    r.controller->load_state(meta.at("controller").get<ControllerState>());
    s.seconds = meta.value("seconds", 0.0);
    // Checkpoints written before the terms were recorded have none (a run resumed at its last
    // step then has no final values in its summary).
    if (meta.contains("terms"))
      s.last.terms = meta.at("terms").get<std::vector<std::pair<std::string, double>>>();
    s.last.beta = meta.value("beta", 0.0);
    s.last.capacity = meta.value("capacity", 0.0);
  } catch (const std::exception& e) {  // nlohmann's, and the controller's own checks
    throw_error(fmt::format("checkpoint '{}': its loop state (metadata 'metadata') is missing or "
                            "malformed: {}", ckpt, e.what()));
  }
  UNRAVEL_CHECK(s.step >= 0 && s.batcher.epoch >= 0 && s.batcher.position >= 0,
                "checkpoint '{}': negative step {} or batcher position {}/{}", ckpt, s.step,
                s.batcher.epoch, s.batcher.position);
  return s;
}

/// A log.csv cell: the epoch as an integer, seconds to the millisecond, the controller's state
/// to 9 digits, the rest to 6.
std::string csv_cell(const std::string& column, double v) {
  if (column == "epoch") return fmt::format("{}", static_cast<int64_t>(v));
  if (column == "seconds") return fmt::format("{:.3f}", v);
  if (column.rfind("ctl.", 0) == 0) return fmt::format("{:.9g}", v);
  return fmt::format("{:.6g}", v);
}

/// Keeps the log's header and rows with step <= `upto` (a resumed run rewrites what followed).
void truncate_log(const std::string& path, int64_t upto) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, out;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      out += line + "\n";
      header = false;
      continue;
    }
    int64_t step = std::atoll(line.c_str());
    if (step <= upto) out += line + "\n";
  }
  write_text_atomic(path, out);
}

/// The run's TensorBoard writer (none with --no-tensorboard or nothing left to train); made
/// before the run's files change, so an unwritable RUN/tb stops it with nothing written.
std::unique_ptr<TrainBoard> make_board(const std::string& run, Run& r, const LoopState& s,
                                       int64_t steps) {
  if (!r.config.tensorboard || s.step >= steps || dist::world().rank() != 0) return nullptr;
  return std::make_unique<TrainBoard>(run, r, s.step);
}

/// What moves a micro-sharded run's gradients wherever more than a host copy does (several
/// processes, or micro-shards on an accelerator); null otherwise.
const dist::Collectives* gradient_collectives(Device device) {
  return dist::world().parallel() || !device.is_cpu() ? &dist::collectives(device) : nullptr;
}

int loop(const std::string& run, Run& r, LoopState& s, int64_t steps, TrainBoard* board) {
  const TrainConfig& c = r.config;
  TrainStep& trainer = *r.trainer;
  UNRAVEL_CHECK(!(anomaly_mode() && c.graph), "--detect-anomaly checks each op as it is recorded; "
                "a replayed graph (--graph) records none: train this run without --graph");
  dist::Communicator& comm = dist::world();
  const bool lead = comm.rank() == 0;  // the process that writes
  BatcherOptions bo;
  bo.batch_size = c.batch;
  bo.device = trainer.device();  // a dataset that fits stays on the device: batches gathered there
  if (comm.parallel()) {  // this process's contiguous rows of every batch
    bo.shard_size = c.batch / comm.size();
    bo.shard_begin = comm.rank() * bo.shard_size;
  }
  UNRAVEL_CHECK(r.data->size() >= c.batch, "dataset '{}' has {} items, fewer than --batch {}",
                c.dataset, r.data->size(), c.batch);
  Batcher batcher(*r.data, bo, Generator(batch_stream_seed(c)));
  // DC-IGN trains on batches in which one factor varies, drawn from the same stream's seed.
  Objective& objective = r.state->objective();
  std::optional<VaryingFactorBatcher> factor_batches;
  if (objective.wants_factor_batches())
    factor_batches.emplace(*r.data, c.batch, Generator(batch_stream_seed(c)), trainer.device());
  if (s.step > 0) {
    if (factor_batches) factor_batches->restore(s.batcher);
    else batcher.restore(s.batcher);
  }
  // Decoded-image datasets (Dataset::prefetch_batches: memory-mapped caches) are gathered by a
  // background worker while the step runs: the same batches and state as the batcher alone
  // (datasets/prefetch.h).
  std::optional<PrefetchBatcher> prefetch;
  if (!factor_batches && bo.device.is_cpu() && r.data->prefetch_batches()) prefetch.emplace(batcher);
  auto next_batch = [&]() -> const Tensor& {
    if (prefetch) return prefetch->next();
    if (!factor_batches) return batcher.next();
    const Tensor& x = factor_batches->next();
    objective.set_batch_factor(factor_batches->factor());
    return x;
  };

  std::ofstream log;
  bool need_header = false;
  std::optional<Progress> progress;
  if (lead) {
    log.open(log_path(run), std::ios::app);
    need_header = fs::file_size(log_path(run)) == 0;
    progress.emplace(fmt::format("train {}", fs::path(run).filename().string()), steps,
                     static_cast<double>(c.batch));
  }
  const double comm_before = comm.seconds(), wait_before = comm.wait_seconds();
  DeferStop defer;  // Ctrl-C now finishes the step and checkpoints (a second one exits at once)

  auto t0 = std::chrono::steady_clock::now();
  double base_seconds = s.seconds;
  const int64_t first_step = s.step;
  StepLog last = s.last;     // values of the last read step (the checkpoint's, until one runs)
  std::string fields;        // the progress line's values, from `last`
  int64_t last_saved = s.step;
  int64_t last_read = s.step;  // the non-finite flag counts steps from here
  trainer.clear_nonfinite();
  // The model optimiser's learning rate follows the schedule from the step count alone, so a
  // resumed run takes the same rates as an uninterrupted one (FactorVAE's discriminator keeps
  // its constant disc_lr).
  const auto schedule = optim::make_lr_schedule(c.lr_schedule, c.lr, c.lr_schedule_params);
  const bool constant_lr = c.lr_schedule == "constant";
  while (s.step < steps) {
    StepResult res;
    try {
      if (!constant_lr) trainer.optimizer().set_lr(schedule->lr(s.step));
      res = trainer.step(next_batch(), s.gen);
    } catch (const Error& e) {
      if (!anomaly_mode()) throw;
      tape().clear();
      UNRAVEL_CHECK(false, "step {}: {}. {}", s.step + 1, e.what(),
                    last_saved > 0 ? fmt::format("The last good checkpoint is {} (step {}).",
                                                 last_checkpoint_path(run), last_saved)
                                   : std::string("No checkpoint was written yet."));
    }
    s.step += 1;
    s.batcher = factor_batches ? factor_batches->state() : prefetch ? prefetch->state() : batcher.state();
    s.seconds = base_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Several processes stop together: a request seen by any of them stops all after this step.
    const bool interrupted = comm.parallel() ? comm.allreduce_max(stop_signal() != 0) != 0
                                             : stop_signal() != 0;
    const bool log_step = s.step % c.log_every == 0 || s.step == steps;
    const bool save_step = s.step % c.checkpoint_every == 0 || s.step == steps || interrupted;
    if (log_step || save_step) {
      last = trainer.read_log(res);
      if (last.nonfinite_step > 0) {  // every process read the same values: all stop here
        tape().clear();
        if (!lead) return 3;
        std::string detail;
        for (auto& [n, v] : last.terms) detail += fmt::format(" {}={:.4g}", n, v);
        std::fprintf(stderr,
                     "\nerror: step %lld: the loss is not finite — training stopped (noticed at "
                     "step %lld; values there:%s).%s\n",
                     static_cast<long long>(last_read + last.nonfinite_step),
                     static_cast<long long>(s.step), detail.c_str(),
                     last_saved > 0 ? fmt::format(" The last good checkpoint is {} (step {}).",
                                                  last_checkpoint_path(run), last_saved).c_str()
                                    : " No checkpoint was written yet.");
        return 3;
      }
      trainer.clear_nonfinite();
      last_read = s.step;
      // Loss terms, then the controller's β and C (an objective's own "beta" term is the same).
      std::vector<std::pair<std::string, double>> values;
      for (auto& nv : last.terms)
        if (nv.first != "beta" && nv.first != "C" && nv.first != "capacity") values.push_back(nv);
      if (log_step && lead) {
        // The row after `step`, named: log.csv's columns and TensorBoard's scalar tags. The
        // controller's whole state (integrator, previous β, ...) follows as ctl.<key> columns.
        std::vector<std::pair<std::string, double>> row = {
            {"epoch", static_cast<double>(s.batcher.epoch)}, {"seconds", s.seconds}};
        row.insert(row.end(), values.begin(), values.end());
        row.insert(row.end(), {{"beta", last.beta}, {"C", last.capacity},
                               {"lr", trainer.optimizer().lr()}});
        for (auto& [k, v] : last.controller) row.emplace_back("ctl." + k, v);
        // TensorBoard first: a process killed in between leaves TensorBoard a step ahead of
        // log.csv, never behind (what a resume purges either way).
        if (board) board->log(s.step, row, last.kl_per_latent);
        if (need_header) {
          log << "step";
          for (auto& [n, v] : row) log << "," << n;
          log << "\n";
          need_header = false;
        }
        log << s.step;
        for (auto& [n, v] : row) log << "," << csv_cell(n, v);
        log << "\n";
        log.flush();
        UNRAVEL_CHECK(log.good(), "step {}: {} could not be written ({}); {}", s.step, log_path(run),
                      std::strerror(errno),
                      last_saved > 0 ? fmt::format("the last checkpoint is {} (step {})",
                                                   last_checkpoint_path(run), last_saved)
                                     : std::string("no checkpoint was written yet"));
      }
      fields.clear();
      for (auto& [n, v] : values)
        if (n == "total" || n == "recon" || n == "kl" || n == "tc" || n == "D")
          fields += fmt::format("{} {:.4g} ", n, v);
      fields += fmt::format("β {:.3g} C {:.3g}", last.beta, last.capacity);
    }
    if (progress) progress->update(s.step, fields);

    if (save_step && lead) {
      try {
        save(run, r, s, last);
      } catch (const std::exception& e) {
        UNRAVEL_CHECK(false, "step {}: the checkpoint could not be written: {}. {}", s.step, e.what(),
                      last_saved > 0
                          ? fmt::format("The previous checkpoint is intact: {} (step {}); free space "
                                        "and continue with `unravel train --resume {}`",
                                        last_checkpoint_path(run), last_saved, run)
                          : std::string("No earlier checkpoint exists"));
      }
      last_saved = s.step;
      if (board) board->checkpoint(s.step);
    }
    if (interrupted) {
      if (!lead) return 130;
      std::fprintf(stderr, "\ninterrupted at step %lld: checkpoint saved to %s; continue with "
                           "`unravel train --resume %s`\n",
                   static_cast<long long>(s.step), last_checkpoint_path(run).c_str(), run.c_str());
      return 130;
    }
  }
  if (!lead) return 0;
  progress->finish();
  json summary = {{"steps", s.step}, {"seconds", s.seconds},
                  {"steps_per_second", s.seconds > 0 ? s.step / s.seconds : 0.0},
                  {"beta", last.beta}, {"capacity", last.capacity}};
  if (board) summary["tensorboard_seconds"] = board->seconds();  // this process's share
  for (auto& [n, v] : last.terms) summary["final"][n] = v;
  if (comm.parallel() || c.micro_shards > 1) {
    // This process's time inside collectives (waiting for slower processes included), where a
    // host thread runs them; NCCL runs on the device's streams, which no host clock sees.
    const double comm_seconds = comm.seconds() - comm_before;
    json& dp = summary["data_parallel"];
    dp = {{"processes", comm.size()}, {"micro_shards", c.micro_shards},
          {"grad_reduce", c.grad_reduce}, {"steps", s.step - first_step}};
    const dist::Collectives* coll = gradient_collectives(trainer.device());
    const bool timed = !coll || coll->host_timed();
    if (coll) dp["collectives"] = coll->name();
    if (timed) dp["communication_seconds"] = comm_seconds;
    if (comm.wait_seconds() > 0)  // UNRAVEL_DIST_TIMING: imbalance measured apart
      dp["wait_seconds"] = comm.wait_seconds() - wait_before;
    if (comm.parallel() && timed)
      std::fprintf(stderr, "unravel train: %d processes, %lld micro-shards: %.3f s of %.3f s in "
                           "communication\n", comm.size(),
                   static_cast<long long>(c.micro_shards), comm_seconds,
                   s.seconds - base_seconds);
    else if (comm.parallel())
      std::fprintf(stderr, "unravel train: %d processes, %lld micro-shards in %.3f s; "
                           "communication on the device's streams (%s), not timed on the host\n",
                   comm.size(), static_cast<long long>(c.micro_shards),
                   s.seconds - base_seconds, coll->name().c_str());
  }
  write_text_atomic((fs::path(run) / "summary.json").string(), summary.dump(2));
  return 0;
}

/// " on N processes (M micro-shards, ...)" for the start line, or "". Called by every process
/// (the devices are gathered: each process may train on its own accelerator).
std::string parallel_note(const TrainConfig& c, Device device) {
  dist::Communicator& comm = dist::world();
  if (!comm.parallel() && c.micro_shards == 1) return "";
  std::string devices;
  if (comm.parallel() && !device.is_cpu()) {
    const int mine = device.index;
    std::vector<int> all(static_cast<size_t>(comm.size()));
    comm.allgather(&mine, sizeof(int), all.data());
    std::vector<std::string> names;
    for (int i : all) names.push_back(Device{device.kind, i}.str());
    devices = fmt::format("; devices {}", fmt::join(names, ", "));
  }
  const dist::Collectives* coll = gradient_collectives(device);
  const std::string via = coll ? fmt::format(" through {}", coll->name()) : "";
  return fmt::format(" on {} process{} ({} micro-shards, {} gradients{}{})", comm.size(),
                     comm.parallel() ? "es" : "", c.micro_shards, c.grad_reduce, via, devices);
}

}  // namespace

int train_new(TrainConfig c) {
  fs::path run(c.out);
  // Process 0 alone owns the directory; the others only read the dataset meanwhile.
  const bool lead = dist::world().rank() == 0;
  std::optional<RunLock> lock;
  const bool created = lead && !fs::exists(run);
  if (lead) {
    UNRAVEL_CHECK(!fs::exists(run / "config.json"),
                  "run directory '{}' already holds a run; use --resume {} to continue it or "
                  "choose another --out", c.out, c.out);
    require_writable_dir(c.out, "train");  // before anything is built or trained
    lock.emplace(c.out);  // one writer per run directory
    UNRAVEL_CHECK(!fs::exists(run / "config.json"),
                  "run directory '{}' was started by another process meanwhile", c.out);
  }
  Run r;
  try {
    r = build_run(c, true, true);  // refuses bad objective / prior parameters, unreadable data
  } catch (const Error&) {
    lock.reset();
    std::error_code ec;  // a start that failed leaves no empty run directory behind
    if (created && fs::is_empty(run, ec)) fs::remove(run, ec);
    throw;
  }
  c = r.config;  // as resolved against the data (e.g. β-TCVAE's dataset_size)
  LoopState s;
  s.gen = Generator(c.seed);
  std::unique_ptr<TrainBoard> board = make_board(c.out, r, s, c.steps);
  const std::string note = parallel_note(c, r.device);  // every process: gathers the devices
  if (lead) {
    write_text_atomic(config_path(c.out), to_json(c));
    { std::ofstream(log_path(c.out), std::ios::trunc); }
    record_provenance(c.out, c, "train");
    std::fprintf(stderr, "unravel train: %s on %s (%lld items), %s, objective %s, prior %s, "
                         "controller %s, %lld steps of batch %lld%s → %s\n",
                 c.arch.c_str(), c.dataset.c_str(), static_cast<long long>(r.data->size()),
                 fmt::format("{} latents, {} parameters", c.latents,
                             r.state->num_parameters()).c_str(),
                 c.objective.c_str(), c.prior.c_str(), c.controller.c_str(),
                 static_cast<long long>(c.steps), static_cast<long long>(c.batch),
                 note.c_str(), c.out.c_str());
  }
  return loop(c.out, r, s, c.steps, board.get());
}

int train_resume(const std::string& run, int64_t steps) {
  TrainConfig c = load_config(run);
  const bool lead = dist::world().rank() == 0;
  std::optional<RunLock> lock;
  if (lead) lock.emplace(run);  // one writer per run directory
  if (steps > 0) c.steps = steps;
  validate(c);
  const std::vector<std::string> candidates = resume_candidates(run);
  UNRAVEL_CHECK(!candidates.empty(), "cannot resume '{}': no checkpoint ({} is missing)", run,
                last_checkpoint_path(run));
  // Checkpoints are written atomically, so a damaged one (not a whole safetensors file) was
  // damaged afterwards, by a disk or a copy: resume from the newest whole one, saying which were
  // passed over and why. A whole file that does not fit this run is refused as before.
  std::string ckpt;
  std::vector<std::string> passed_over;
  for (const std::string& candidate : candidates) {
    try {
      check_safetensors(candidate);  // the header alone: load_checkpoint reads the data once
      ckpt = candidate;
      break;
    } catch (const Error& e) {
      passed_over.push_back(e.what());
    }
  }
  if (ckpt.empty())
    throw_error(passed_over.size() == 1
                    ? passed_over[0]
                    : fmt::format("cannot resume '{}': every checkpoint is damaged:\n  {}", run,
                                  fmt::join(passed_over, "\n  ")));
  Run r = build_run(c, true, true);
  LoopState s = load_loop_state(ckpt, r);
  if (lead)
    for (const std::string& why : passed_over)
      std::fprintf(stderr, "warning: passing over a damaged checkpoint: %s; resuming from %s at "
                   "step %lld\n", why.c_str(), ckpt.c_str(), static_cast<long long>(s.step));
  UNRAVEL_CHECK(s.step <= c.steps, "run '{}' is already at step {} (asked to train to {})", run,
                s.step, c.steps);
  std::unique_ptr<TrainBoard> board = make_board(run, r, s, c.steps);
  const std::string note = parallel_note(c, r.device);  // every process: gathers the devices
  if (lead) {
    if (steps > 0) write_text_atomic(config_path(run), to_json(c));
    truncate_log(log_path(run), s.step);
    warn_if_other_build(run);
    record_provenance(run, c, "resume");
    std::fprintf(stderr, "unravel train: resuming %s at step %lld of %lld%s\n", run.c_str(),
                 static_cast<long long>(s.step), static_cast<long long>(c.steps),
                 note.c_str());
  }
  return loop(run, r, s, c.steps, board.get());
}

double measure_steps_per_second(const TrainConfig& config, int64_t steps, int64_t warmup) {
  UNRAVEL_CHECK(steps >= 1 && warmup >= 0, "measure_steps_per_second: steps {} warmup {}", steps, warmup);
  Run r = build_run(config, true, true);
  BatcherOptions bo;
  bo.batch_size = config.batch;
  bo.device = r.trainer->device();
  UNRAVEL_CHECK(r.data->size() >= config.batch, "dataset '{}' has {} items, fewer than batch {}",
                config.dataset, r.data->size(), config.batch);
  Batcher batcher(*r.data, bo, Generator(batch_stream_seed(config)));
  Generator gen(config.seed);
  StepResult res;
  for (int64_t i = 0; i < warmup; ++i) res = r.trainer->step(batcher.next(), gen);
  if (warmup > 0) r.trainer->read_log(res);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) res = r.trainer->step(batcher.next(), gen);
  r.trainer->read_log(res);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  tape().clear();
  return static_cast<double>(steps) / std::max(s, 1e-9);
}

}  // namespace unravel::apps
