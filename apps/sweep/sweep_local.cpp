// The local executor: a pool of worker processes (`unravel sweep task OUT I`, the same entry as a
// Slurm task), each pinned to its own cores (sched_setaffinity + OMP_NUM_THREADS) so that
// concurrent runs do not fight over them, each dying with its parent (PR_SET_PDEATHSIG: a
// killed `sweep run` leaves no worker racing a rerun). A task's output goes to RUN/task.log.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "apps/common/stop_signals.h"
#include "apps/sweep/sweep.h"
#include "engine/check.h"

extern char** environ;

namespace unravel::apps {

namespace fs = std::filesystem;

namespace {

struct Worker {
  std::vector<int> cpus;
  pid_t pid = 0;
  size_t run = 0;
  std::chrono::steady_clock::time_point start;
};

/// The program `name` as found on PATH (itself when it holds a '/'), or "".
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= dirs.size();) {
    size_t end = dirs.find(':', at);
    if (end == std::string::npos) end = dirs.size();
    const std::string p = (end > at ? dirs.substr(at, end - at) : ".") + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
    at = end + 1;
  }
  return "";
}

/// The command line of task `index`: `exe sweep task OUT index`, behind the MPI launcher
/// (`mpirun -n N …`) when a run takes several processes.
std::vector<std::string> task_command(const std::string& exe, const Sweep& s, size_t index,
                                      const SweepOptions& o) {
  std::vector<std::string> args;
  if (o.processes > 1) {
    std::istringstream words(o.mpi_launcher.empty() ? "mpirun" : o.mpi_launcher);
    for (std::string w; words >> w;) args.push_back(w);
    UNRAVEL_CHECK(!args.empty(), "sweep: --mpi-launcher is empty");
    const std::string found = find_program(args[0]);
    UNRAVEL_CHECK(!found.empty(), "sweep: --processes {} starts each run with `{}`, which is not "
                  "on PATH (Debian: openmpi-bin; or give --mpi-launcher)", o.processes, args[0]);
    args[0] = found;
    args.push_back("-n");
    args.push_back(std::to_string(o.processes));
  }
  for (const std::string& a : {exe, std::string("sweep"), std::string("task"), s.out,
                               std::to_string(index)})
    args.push_back(a);
  return args;
}

/// Starts `args` pinned to `cpus` with `threads` OpenMP threads per process, output appended to
/// `log`. Under an MPI launcher the processes share the cpus (no binding of their own; more
/// processes than cores allowed) and die with the launcher.
pid_t spawn(const std::vector<std::string>& command, const std::vector<int>& cpus,
            int64_t threads, bool mpi, const std::string& log) {
  // Everything the child needs is built before fork (only async-signal-safe calls after it).
  std::vector<std::string> args = command;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 && std::strncmp(*e, "OMP_PROC_BIND=", 14) != 0)
      env.emplace_back(*e);
  env.push_back(fmt::format("OMP_NUM_THREADS={}", threads));
  env.push_back("OMP_PROC_BIND=false");  // the affinity mask already confines the threads
  if (mpi) {
    // Open MPI: the ranks inherit the worker's cores and stay unbound within them, and a run
    // may take more processes than the cores it was given.
    env.push_back("OMPI_MCA_hwloc_base_binding_policy=none");
    env.push_back("OMPI_MCA_rmaps_base_oversubscribe=1");
    env.push_back("UNRAVEL_DIE_WITH_PARENT=1");  // `sweep task` ties each rank to the launcher
    if (geteuid() == 0) {  // mpirun refuses root unless told twice
      env.push_back("OMPI_ALLOW_RUN_AS_ROOT=1");
      env.push_back("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
    }
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  const pid_t parent = getpid();
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  UNRAVEL_CHECK(fd >= 0, "sweep: cannot open the task log {} ({})", log, std::strerror(errno));
  pid_t pid = fork();
  UNRAVEL_CHECK(pid >= 0, "sweep: fork failed ({})", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(111);  // the parent died before prctl
    sched_setaffinity(0, sizeof(set), &set);
    dup2(fd, 1);
    dup2(fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fd);
  return pid;
}

}  // namespace

int run_local(const Sweep& s, const SweepOptions& o) {
  cpu_set_t mine;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(mine), &mine) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &mine)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  const int64_t threads = o.threads, per_run = o.threads * o.processes;
  const int64_t jobs = o.jobs > 0 ? o.jobs : std::max<int64_t>(1, static_cast<int64_t>(cpus.size()) / per_run);
  std::vector<Worker> workers(static_cast<size_t>(jobs));
  for (size_t w = 0; w < workers.size(); ++w)
    for (int64_t t = 0; t < per_run; ++t)
      workers[w].cpus.push_back(cpus[(w * static_cast<size_t>(per_run) + static_cast<size_t>(t)) % cpus.size()]);

  std::vector<size_t> todo;
  int already = 0;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    RunStatus st = run_status(s, s.runs[i]);
    if (st.state == RunState::done) ++already;
    else if (st.state == RunState::running)
      std::fprintf(stderr, "sweep: run %s is being trained by another process (%s); skipped\n",
                   s.runs[i].name.c_str(), st.detail.c_str());
    else todo.push_back(i);
  }
  std::fprintf(stderr, "sweep %s: %zu runs, %d already done, %zu to train with %lld workers of %s%lld "
               "thread%s (cpus %s)\n", s.name.c_str(), s.runs.size(), already, todo.size(),
               static_cast<long long>(jobs),
               o.processes > 1 ? fmt::format("{} processes × ", o.processes).c_str() : "",
               static_cast<long long>(threads), threads == 1 ? "" : "s",
               fmt::format("{}", fmt::join(cpus, ",")).c_str());
  const std::string exe = self_exe();
  if (!todo.empty()) (void)task_command(exe, s, todo[0], o);  // a missing launcher: refused now
  DeferStop defer;  // the first Ctrl-C stops the sweep cleanly (the second ends it at once)
  bool forwarded = false;
  size_t next = 0, finished = 0;
  int failed = 0;
  double busy_seconds = 0;
  std::vector<std::string> failures;
  auto running = [&] {
    size_t n = 0;
    for (auto& w : workers) n += w.pid != 0;
    return n;
  };
  while (true) {
    const bool stopping = stop_signal() != 0;
    for (auto& w : workers) {
      if (w.pid != 0 || next >= todo.size() || stopping) continue;
      w.run = todo[next++];
      const SweepRun& r = s.runs[w.run];
      fs::create_directories(r.config.out);
      w.pid = spawn(task_command(exe, s, w.run, o), w.cpus, threads, o.processes > 1,
                    (fs::path(r.config.out) / "task.log").string());
      w.start = std::chrono::steady_clock::now();
    }
    if (running() == 0) break;
    if (stopping && !forwarded) {
      // Ctrl-C / SIGTERM: each task checkpoints and stops (a terminal's Ctrl-C reaches them
      // too, as one process group; a signal sent to this process alone is passed on).
      forwarded = true;
      for (auto& w : workers)
        if (w.pid) kill(w.pid, SIGINT);
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      usleep(100 * 1000);  // the stop flag is polled between waits
      continue;
    }
    if (pid < 0) break;
    for (auto& w : workers) {
      if (w.pid != pid) continue;
      w.pid = 0;
      ++finished;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - w.start).count();
      busy_seconds += secs;
      const SweepRun& r = s.runs[w.run];
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::string what = fmt::format("{} ({})", r.name, run_label(r));
      if (code != 0) {
        ++failed;
        failures.push_back(fmt::format("{}: exit code {}; log {}", what, code,
                                       (fs::path(r.config.out) / "task.log").string()));
      }
      size_t left = todo.size() - finished;
      double eta = finished ? busy_seconds / static_cast<double>(finished) * static_cast<double>(left) /
                                  static_cast<double>(jobs)
                            : 0;
      std::fprintf(stderr, "[%zu/%zu done, %zu running, %d failed%s] %s %s in %s\n",
                   already + finished - failed, s.runs.size(), running(), failed,
                   left ? fmt::format(", ETA {}", human_seconds(eta)).c_str() : "",
                   code == 0 ? "finished" : "FAILED", what.c_str(), human_seconds(secs).c_str());
    }
  }
  for (auto& f : failures) std::fprintf(stderr, "sweep: failed: %s\n", f.c_str());
  if (stop_signal() != 0) {
    std::fprintf(stderr, "sweep: interrupted; `unravel sweep run %s` continues it\n", s.file.c_str());
    return 130;
  }
  std::fprintf(stderr, "sweep %s: %zu of %zu runs done%s; `unravel sweep collect %s` gathers them\n",
               s.name.c_str(), already + finished - static_cast<size_t>(failed), s.runs.size(),
               failed ? fmt::format(", {} failed", failed).c_str() : "", s.out.c_str());
  return failed ? 1 : 0;
}

}  // namespace unravel::apps
