// The Slurm executor: one sbatch job array per submission (one task per unfinished run, each
// `unravel sweep task OUT $SLURM_ARRAY_TASK_ID`), and a gather job `sweep collect` that starts
// after the array succeeded (--dependency=afterok, --kill-on-invalid-dep so that a failed task
// cancels it instead of leaving it pending forever). Resubmitting submits only what is not done,
// so failed tasks are rerun alone. The compute nodes need the program (by default this one's
// path: put the build or `scripts/bundle.sh`'s bundle on a shared file system) and OUT.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/run_dir.h"
#include "apps/sweep/sweep.h"
#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

std::string quote(const std::string& s) { return shell_quote(s); }

/// Runs a shell command; returns (exit code, stdout+stderr).
std::pair<int, std::string> shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  UNRAVEL_CHECK(p, "cannot run `{}`", cmd);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

/// "0-3,5,7-9": Slurm's array index list.
std::string ranges(const std::vector<size_t>& idx) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && idx[j + 1] == idx[j] + 1) ++j;
    parts.push_back(j == i ? std::to_string(idx[i]) : fmt::format("{}-{}", idx[i], idx[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

std::string slurm_time(double seconds) {
  long s = static_cast<long>(std::ceil(seconds));
  return fmt::format("{}-{:02}:{:02}:{:02}", s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
}

/// The job id of `sbatch --parsable` ("123" or "123;cluster").
std::string job_id(const std::string& out, const std::string& what) {
  std::string id = out.substr(0, out.find_first_of(";\n"));
  UNRAVEL_CHECK(!id.empty() && id.find_first_not_of("0123456789") == std::string::npos,
                "sweep: sbatch did not accept the {} ({})", what, out);
  return id;
}

}  // namespace

int run_slurm(const Sweep& s, const SweepOptions& o, const std::vector<Cost>& costs) {
  const std::string out = fs::absolute(s.out).lexically_normal().string();
  std::vector<size_t> idx;
  double longest = 0, rss = 0;
  bool gpu = false;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    RunStatus st = run_status(s, s.runs[i]);
    if (st.state == RunState::done || st.state == RunState::running) continue;
    idx.push_back(i);
    const Cost& c = costs[i];
    if (c.steps_per_second > 0)
      longest = std::max(longest, static_cast<double>(s.runs[i].config.steps - st.step) / c.steps_per_second);
    rss = std::max(rss, c.rss_gib);
    gpu = gpu || s.runs[i].config.device.rfind("cuda", 0) == 0;
  }
  if (idx.empty()) {
    std::printf("sweep %s: every run is done or running; nothing submitted (`unravel sweep collect "
                "%s` gathers them)\n", s.name.c_str(), s.out.c_str());
    return 0;
  }
  // Time and memory from the measured plan: twice the longest run's compute plus 10 minutes
  // (startup, data, evaluation, slower nodes), and 1.5× the measured peak memory plus 1 GiB.
  const std::string time = !o.time.empty() ? o.time : longest > 0 ? slurm_time(2 * longest + 600) : "0-02:00:00";
  // (--mem is per node: a run's processes, if Slurm puts them on one node, need it N times.)
  const std::string mem =
      !o.mem.empty() ? o.mem
      : rss > 0 ? fmt::format("{}G", o.processes * static_cast<int>(std::ceil(1.5 * rss + 1)))
                : fmt::format("{}G", 4 * o.processes);
  const std::string exe = o.unravel_exe.empty() ? self_exe() : fs::absolute(o.unravel_exe).string();
  const fs::path dir = fs::path(out) / "slurm";
  fs::create_directories(dir);
  std::string array = ranges(idx);
  if (o.max_parallel > 0) array += fmt::format("%{}", o.max_parallel);
  std::string head;
  auto line = [&](const std::string& l) { head += "#SBATCH " + l + "\n"; };
  line("--job-name=unravel-" + s.name);
  line("--array=" + array);
  if (o.processes > 1) line(fmt::format("--ntasks={}", o.processes));  // one run's MPI processes
  line(fmt::format("--cpus-per-task={}", o.threads));
  line("--time=" + time);
  line("--mem=" + mem);
  line("--output=" + (dir / "task-%A_%a.out").string());
  if (!o.partition.empty()) line("--partition=" + o.partition);
  if (!o.account.empty()) line("--account=" + o.account);
  if (gpu) line(o.processes > 1 ? "--gpus-per-task=1" : "--gres=gpu:1");
  for (const auto& a : o.sbatch_args) line(a);
  const std::string script = fmt::format(
      "#!/bin/bash\n"
      "# unravel sweep {}: {} of {} runs of {} (written by `unravel sweep run --executor slurm`).\n"
      "# Task i trains run i of {}/plan.json; a task that finds its run done exits at once.\n"
      "{}"
      "export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}\n"
      "exec {}{} sweep task {} \"$SLURM_ARRAY_TASK_ID\"\n",
      s.name, idx.size(), s.runs.size(), s.file, out, head,
      // Several processes per run: the launcher starts them in the task's allocation.
      o.processes > 1 ? (o.mpi_launcher.empty() ? "srun --mpi=pmix" : o.mpi_launcher) + " " : "",
      quote(exe), quote(out));
  const std::string stamp = fmt::format("{}", static_cast<long>(std::time(nullptr)));
  const fs::path script_path = dir / fmt::format("sweep-{}.sbatch", stamp);
  write_text_atomic(script_path.string(), script);
  if (o.dry_run) {
    std::printf("%s\n%s", script_path.string().c_str(), script.c_str());
    return 0;
  }
  auto [rc, text] = shell("sbatch --parsable " + quote(script_path.string()));
  UNRAVEL_CHECK(rc == 0, "sweep: `sbatch {}` failed (exit code {}): {}", script_path.string(), rc, text);
  const std::string aid = job_id(text, "job array");
  std::string gather_flags = fmt::format(
      "--parsable --dependency=afterok:{} --kill-on-invalid-dep=yes --job-name=unravel-{}-collect "
      "--cpus-per-task={} --time={} --output={}", aid, s.name, s.gather.empty() ? 1 : o.threads,
      s.gather_time, quote((dir / "collect-%j.out").string()));
  if (!o.partition.empty()) gather_flags += " --partition=" + quote(o.partition);
  if (!o.account.empty()) gather_flags += " --account=" + quote(o.account);
  auto [grc, gtext] = shell(fmt::format("sbatch {} --wrap {}", gather_flags,
                                        quote(quote(exe) + " " + (s.gather.empty() ? "sweep collect " + quote(out) : s.gather))));
  UNRAVEL_CHECK(grc == 0, "sweep: the gather job was not accepted (exit code {}): {}", grc, gtext);
  const std::string gid = job_id(gtext, "gather job");
  json jobs = json::array();
  const fs::path jobs_path = dir / "jobs.json";
  if (fs::exists(jobs_path)) jobs = json::parse(read_text(jobs_path.string()), nullptr, false);
  if (!jobs.is_array()) jobs = json::array();
  jobs.push_back({{"array", aid}, {"gather", gid}, {"runs", idx}, {"script", script_path.string()},
                  {"submitted", std::stol(stamp)}});
  write_text_atomic(jobs_path.string(), jobs.dump(1));
  std::printf("sweep %s: submitted job array %s (%zu tasks: %s; time %s, mem %s, %lld cpu%s each) "
              "and gather job %s (after the array succeeds); script %s\n",
              s.name.c_str(), aid.c_str(), idx.size(), array.c_str(), time.c_str(), mem.c_str(),
              static_cast<long long>(o.threads), o.threads == 1 ? "" : "s", gid.c_str(),
              script_path.string().c_str());
  if (!o.wait) return 0;
  // Poll squeue (sbatch --wait polls with growing gaps and returns 0 for a cancelled job).
  while (true) {
    auto [qrc, q] = shell(fmt::format("squeue -h -j {},{} -o %i", aid, gid));
    if (qrc == 0 && q.find_first_not_of(" \n") == std::string::npos) break;
    sleep(1);
  }
  auto [src, state] = shell("scontrol show job " + gid);
  const bool ok = state.find("JobState=COMPLETED") != std::string::npos;
  int failed = 0;
  for (size_t i : idx)
    if (run_status(s, s.runs[i]).state != RunState::done) {
      ++failed;
      std::fprintf(stderr, "sweep: run %s (task %zu) did not finish; its log: %s\n",
                   s.runs[i].name.c_str(), i, (dir / fmt::format("task-{}_{}.out", aid, i)).string().c_str());
    }
  std::printf("sweep %s: array %s finished, %d task%s failed; gather job %s %s\n", s.name.c_str(),
              aid.c_str(), failed, failed == 1 ? "" : "s", gid.c_str(),
              ok ? "completed" : "did not run (a task failed: resubmit with `unravel sweep run`)");
  return failed == 0 && ok ? 0 : 1;
}

std::string slurm_queue(const Sweep& s) {
  const fs::path jobs_path = fs::path(s.out) / "slurm" / "jobs.json";
  if (!fs::exists(jobs_path)) return "";
  json jobs = json::parse(read_text(jobs_path.string()), nullptr, false);
  if (!jobs.is_array() || jobs.empty()) return "";
  std::vector<std::string> ids;
  for (const json& j : jobs) {
    ids.push_back(j.value("array", ""));
    ids.push_back(j.value("gather", ""));
  }
  auto [rc, q] = shell(fmt::format("squeue -h -j {} -o '%i %j %T %M %R'", fmt::join(ids, ",")));
  if (rc != 0) return fmt::format("  (squeue unavailable: {})\n", q.substr(0, q.find('\n')));
  if (q.find_first_not_of(" \n") == std::string::npos)
    return fmt::format("  no job of this sweep is queued (submitted: {})\n", fmt::join(ids, ", "));
  return q;
}

}  // namespace unravel::apps
