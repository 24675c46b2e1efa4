// `unravel sweep plan|run|status|collect|task` (sweep.h has the output folder's layout).
#include "apps/sweep/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <omp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "apps/build_info.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_lock.h"
#include "apps/eval.h"
#include "apps/train.h"
#include "engine/check.h"
#include "engine/dist/communicator.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

// --- plan.json ---------------------------------------------------------------------------------

void write_plan(const Sweep& s) {
  json runs = json::array();
  for (const SweepRun& r : s.runs) {
    json values = json::object();
    for (auto& [k, v] : r.values) values[k] = v;
    runs.push_back({{"name", r.name}, {"values", values}, {"config", json::parse(to_json(r.config))}});
  }
  json j = {{"name", s.name}, {"file", s.file}, {"out", s.out}, {"axes", s.axes},
            {"eval", {{"metrics", s.eval.metrics}, {"budget", s.eval.budget}}}, {"runs", runs}};
  fs::create_directories(s.out);
  write_text_atomic((fs::path(s.out) / "plan.json").string(), j.dump(1));
}

Sweep load_sweep_target(const std::string& target) {
  fs::path plan = fs::path(target) / "plan.json";
  if (!fs::is_directory(target)) return load_sweep(target);
  UNRAVEL_CHECK(fs::exists(plan), "'{}' is a folder without plan.json: give the sweep file, or the "
                "output folder of a sweep that was planned or run", target);
  json j = json::parse(read_text(plan.string()), nullptr, false);
  UNRAVEL_CHECK(j.is_object() && j.contains("runs"), "{} is not a sweep plan", plan.string());
  Sweep s;
  try {
    s.name = j.at("name");
    s.file = j.at("file");
    s.out = target;  // where it is now (a shared path may be mounted elsewhere)
    s.axes = j.at("axes").get<std::vector<std::string>>();
    s.eval.metrics = j.at("eval").at("metrics");
    s.eval.budget = j.at("eval").at("budget");
    for (const json& r : j.at("runs")) {
      SweepRun run;
      run.name = r.at("name");
      for (const std::string& a : s.axes) run.values.emplace_back(a, r.at("values").at(a).get<std::string>());
      run.config = config_from_json(r.at("config").dump(), plan.string());
      run.config.out = (fs::path(target) / "runs" / run.name).string();
      s.runs.push_back(std::move(run));
    }
  } catch (const nlohmann::json::exception& e) {
    UNRAVEL_CHECK(false, "{}: not a sweep plan ({})", plan.string(), e.what());
  }
  return s;
}

// --- state of a run ----------------------------------------------------------------------------

const char* state_name(RunState s) {
  switch (s) {
    case RunState::pending: return "pending";
    case RunState::partial: return "partial";
    case RunState::running: return "running";
    case RunState::failed: return "failed";
    case RunState::done: return "done";
  }
  return "?";
}

namespace {

int64_t last_logged_step(const std::string& run) {
  std::ifstream in(log_path(run));
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.empty() || !std::isdigit(static_cast<unsigned char>(last[0])) ? 0 : std::atoll(last.c_str());
}

json read_json_file(const fs::path& p) {
  if (!fs::exists(p)) return nullptr;
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

bool finished(const SweepRun& r) {
  json sum = read_json_file(fs::path(r.config.out) / "summary.json");
  return sum.is_object() && sum.value("steps", int64_t{-1}) == r.config.steps;
}

/// The config a run directory holds against the sweep's: equal except what training filled in
/// from the data (objective parameters the sweep left unset).
std::string config_difference(TrainConfig old, const TrainConfig& want) {
  for (auto& [k, v] : old.objective_params)
    if (!want.objective_params.count(k)) old.objective_params.erase(k);
  old.steps = want.steps;  // a run may be extended to more steps
  json a = json::parse(sweep_config_key(old)), b = json::parse(sweep_config_key(want));
  for (auto it = b.begin(); it != b.end(); ++it)
    if (a[it.key()] != it.value())
      return fmt::format("{} is {} there, {} in the sweep", it.key(), a[it.key()].dump(), it.value().dump());
  return "";
}

}  // namespace

RunStatus run_status(const Sweep& s, const SweepRun& r) {
  RunStatus st;
  const std::string& dir = r.config.out;
  if (!fs::exists(dir)) return st;
  st.step = last_logged_step(dir);
  if (RunLock::held_by_live_writer(dir)) {
    st.state = RunState::running;
    st.detail = RunLock::holder(dir);
    return st;
  }
  if (finished(r) && (s.eval.metrics.empty() || fs::exists(fs::path(dir) / "metrics.json"))) {
    st.state = RunState::done;
    return st;
  }
  json task = read_json_file(fs::path(dir) / "task.json");
  if (task.is_object() && task.value("exit_code", 0) != 0) {
    st.state = RunState::failed;
    st.detail = fmt::format("exit code {}; log {}", task.value("exit_code", 0),
                            (fs::path(dir) / "task.log").string());
    return st;
  }
  st.state = st.step > 0 || fs::exists(fs::path(dir) / "config.json") ? RunState::partial : RunState::pending;
  return st;
}

// --- costs -------------------------------------------------------------------------------------

std::vector<Cost> measure_costs(const Sweep& s, int64_t threads, bool measure) {
  std::vector<Cost> costs(s.runs.size());
  if (!measure) return costs;
  std::map<std::string, Cost> by_model;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(static_cast<int>(std::max<int64_t>(threads, 1)));
  for (size_t i = 0; i < s.runs.size(); ++i) {
    TrainConfig k = s.runs[i].config;
    k.seed = 1;
    k.steps = 1;
    k.checkpoint_every = k.log_every = 1;
    std::string key = sweep_config_key(k);
    auto it = by_model.find(key);
    if (it == by_model.end()) {
      std::fprintf(stderr, "sweep: timing %s (%s, batch %lld) ...\n", s.runs[i].name.c_str(),
                   s.runs[i].config.arch.c_str(), static_cast<long long>(s.runs[i].config.batch));
      Cost c;
      c.steps_per_second = measure_steps_per_second(s.runs[i].config);
      struct rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      c.rss_gib = static_cast<double>(ru.ru_maxrss) / (1024.0 * 1024.0);
      it = by_model.emplace(key, c).first;
    }
    costs[i] = it->second;
  }
  omp_set_num_threads(saved);
  return costs;
}

std::string run_label(const SweepRun& r) {
  std::string out;
  for (auto& [k, v] : r.values) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  UNRAVEL_CHECK(!ec, "cannot find this program's path (/proc/self/exe: {})", ec.message());
  return p.string();
}

std::string human_seconds(double s) {
  if (s < 60) return fmt::format("{:.1f} s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return fmt::format("{}h{:02}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
}

// --- commands ----------------------------------------------------------------------------------

namespace {

void print_table(const Sweep& s, const std::vector<Cost>* costs, int64_t jobs) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"#", "run"};
  head.insert(head.end(), s.axes.begin(), s.axes.end());
  head.insert(head.end(), {"steps", "state", "detail"});
  if (costs) head.push_back("estimate");
  rows.push_back(head);
  std::map<RunState, int> counts;
  double todo_seconds = 0;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const SweepRun& r = s.runs[i];
    RunStatus st = run_status(s, r);
    counts[st.state]++;
    std::vector<std::string> row = {std::to_string(i), r.name};
    for (auto& [k, v] : r.values) row.push_back(v);
    row.push_back(st.state == RunState::done ? std::to_string(r.config.steps)
                                             : fmt::format("{}/{}", st.step, r.config.steps));
    row.push_back(state_name(st.state));
    row.push_back(st.detail);
    if (costs) {
      double sps = (*costs)[i].steps_per_second;
      double left = st.state == RunState::done || sps <= 0 ? 0 : (r.config.steps - st.step) / sps;
      todo_seconds += left;
      row.push_back(sps > 0 ? fmt::format("{} ({:.0f} steps/s)", human_seconds(left), sps) : "-");
    }
    rows.push_back(row);
  }
  std::vector<size_t> w(rows[0].size(), 0);
  for (auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], row[c].size());
  for (auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += fmt::format("{:<{}}  ", row[c], w[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
  std::printf("\nsweep %s (%s): %zu runs: %d done, %d running, %d partial, %d pending, %d failed\n",
              s.name.c_str(), s.out.c_str(), s.runs.size(), counts[RunState::done],
              counts[RunState::running], counts[RunState::partial], counts[RunState::pending],
              counts[RunState::failed]);
  if (costs && todo_seconds > 0)
    std::printf("estimated compute left: %s on one worker; %s with %lld concurrent runs\n",
                human_seconds(todo_seconds).c_str(),
                human_seconds(todo_seconds / static_cast<double>(std::max<int64_t>(jobs, 1))).c_str(),
                static_cast<long long>(jobs));
}

int64_t default_jobs(const SweepOptions& o) {
  if (o.jobs > 0) return o.jobs;
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::max<int64_t>(1, n / std::max<int64_t>(o.threads * o.processes, 1));
}

/// One run of the sweep, in this process: train (new or resumed), evaluate, record task.json.
int task(const Sweep& s, int64_t index) {
  UNRAVEL_CHECK(index >= 0 && index < static_cast<int64_t>(s.runs.size()),
                "sweep task: index {} is out of range (the sweep has {} runs)", index, s.runs.size());
  const SweepRun& r = s.runs[static_cast<size_t>(index)];
  const TrainConfig& c = r.config;
  auto t0 = std::chrono::steady_clock::now();
  // Under `--processes N` every process of the task runs this: each decides from the directory
  // as it is before any of them writes (the barrier), and process 0 alone writes.
  dist::Communicator& comm = dist::world();
  const bool lead = comm.rank() == 0;
  if (std::getenv("UNRAVEL_DIE_WITH_PARENT")) {  // set by the local executor for mpirun's ranks
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 111;  // the launcher died before prctl
  }
  fs::create_directories(c.out);
  if (lead)
    std::fprintf(stderr, "sweep task %lld: run %s (%s) in %s%s\n", static_cast<long long>(index),
                 r.name.c_str(), run_label(r).c_str(), c.out.c_str(),
                 comm.parallel() ? fmt::format(" on {} processes", comm.size()).c_str() : "");
  enum class Do { nothing, resume, restart, start } what = Do::start;
  if (fs::exists(config_path(c.out))) {
    std::string diff = config_difference(load_config(c.out), c);
    UNRAVEL_CHECK(diff.empty(), "run directory {} holds a run of another configuration ({}); "
                  "refusing to touch it (move it away, or give the sweep another `out`)", c.out, diff);
    what = finished(r) ? Do::nothing : fs::exists(last_checkpoint_path(c.out)) ? Do::resume
                                                                              : Do::restart;
  }
  if (comm.parallel()) comm.barrier();
  int rc = 0;
  if (what == Do::nothing) {
    if (lead) std::fprintf(stderr, "sweep task %lld: already trained\n", static_cast<long long>(index));
  } else if (what == Do::resume) {
    rc = train_resume(c.out, c.steps);
  } else {
    if (what == Do::restart && lead) {
      // Stopped before its first checkpoint: nothing to keep (a live writer is refused).
      UNRAVEL_CHECK(!RunLock::held_by_live_writer(c.out), "run directory '{}' is being written by "
                    "another process ({})", c.out, RunLock::holder(c.out));
      fs::remove(config_path(c.out));
      fs::remove(log_path(c.out));
    }
    if (what == Do::restart && comm.parallel()) comm.barrier();
    rc = train_new(c);
  }
  if (!lead) return rc;  // process 0 evaluates and records the task
  if (rc == 0 && !s.eval.metrics.empty() && !fs::exists(fs::path(c.out) / "metrics.json")) {
    EvalOptions eo;
    eo.run = c.out;
    eo.metrics = s.eval.metrics;
    eo.budget = s.eval.budget;
    evaluate_run(eo, false);
  }
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  json t = {{"exit_code", rc}, {"host", host}, {"pid", static_cast<long>(getpid())},
            {"code_version", UNRAVEL_GIT_DESCRIBE},
            {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()},
            {"finished_at", static_cast<long>(std::time(nullptr))}};
  write_text_atomic((fs::path(c.out) / "task.json").string(), t.dump(1));
  return rc;
}

std::string csv_cell(std::string v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char ch : v) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

int collect(const Sweep& s, const SweepOptions& o) {
  std::vector<std::map<std::string, std::string>> rows;
  std::set<std::string> finals, metrics;
  int done = 0;
  for (const SweepRun& r : s.runs) {
    std::map<std::string, std::string> row;
    RunStatus st = run_status(s, r);
    row["run"] = r.name;
    for (auto& [k, v] : r.values) row["axis:" + k] = v;
    row["state"] = state_name(st.state);
    row["step"] = std::to_string(st.state == RunState::done ? r.config.steps : st.step);
    json sum = read_json_file(fs::path(r.config.out) / "summary.json");
    if (st.state == RunState::done && sum.is_object()) {
      ++done;
      row["seconds"] = fmt::format("{:.3f}", sum.value("seconds", 0.0));
      for (auto& [k, v] : sum["final"].items()) {
        finals.insert(k);
        row["final." + k] = fmt::format("{:.9g}", v.get<double>());
      }
      json m = read_json_file(fs::path(r.config.out) / "metrics.json");
      if (m.is_object() && m.contains("metrics"))
        for (auto& [k, v] : m["metrics"].items()) {
          metrics.insert(k);
          row[k] = fmt::format("{:.9g}", v.get<double>());
        }
    }
    rows.push_back(row);
  }
  std::vector<std::string> cols = {"run"};
  for (auto& a : s.axes) cols.push_back(a);
  cols.insert(cols.end(), {"state", "step", "seconds"});
  for (auto& f : finals) cols.push_back("final." + f);
  for (auto& m : metrics) cols.push_back(m);
  std::string csv;
  for (size_t i = 0; i < cols.size(); ++i) csv += (i ? "," : "") + csv_cell(cols[i]);
  csv += "\n";
  for (auto& row : rows) {
    for (size_t i = 0; i < cols.size(); ++i) {
      const bool axis = std::find(s.axes.begin(), s.axes.end(), cols[i]) != s.axes.end();
      auto it = row.find(axis ? "axis:" + cols[i] : cols[i]);
      csv += (i ? "," : "") + csv_cell(it == row.end() ? "" : it->second);
    }
    csv += "\n";
  }
  std::string path = (fs::path(s.out) / "collect.csv").string();
  write_text_atomic(path, csv);
  std::printf("collected %d finished runs of %zu into %s\n", done, s.runs.size(), path.c_str());

  if (o.plot_metric.empty()) return done == static_cast<int>(s.runs.size()) ? 0 : 1;
  // metric vs an axis, one curve per value of the other axes (seed excepted), mean ± std over seeds.
  UNRAVEL_CHECK(std::find(s.axes.begin(), s.axes.end(), o.plot_x) != s.axes.end(),
                "sweep collect: --x {} is not an axis of the sweep (axes: {})", o.plot_x,
                fmt::join(s.axes, ", "));
  UNRAVEL_CHECK(o.plot_metric != o.plot_x, "sweep collect: --plot and --x name the same column");
  std::map<std::string, std::map<double, std::vector<double>>> curves;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto v = rows[i].find(o.plot_metric);
    if (v == rows[i].end()) continue;
    std::string group;
    double x = 0;
    for (auto& [k, val] : s.runs[i].values) {
      if (k == o.plot_x) {
        char* end = nullptr;
        x = std::strtod(val.c_str(), &end);
        UNRAVEL_CHECK(end && *end == '\0', "sweep collect: --x {} has a non-numeric value '{}'", k, val);
      } else if (k != "seed") {
        group += (group.empty() ? "" : ", ") + k + "=" + val;
      }
    }
    curves[group.empty() ? o.plot_metric : group][x].push_back(std::stod(v->second));
  }
  UNRAVEL_CHECK(!curves.empty(), "sweep collect: no finished run has a column '{}' (columns: {})",
                o.plot_metric, fmt::join(cols, ", "));
  plot::Panel panel{fmt::format("{} vs {} (mean ± std over seeds)", o.plot_metric, o.plot_x),
                    o.plot_x, o.plot_metric, {}};
  for (auto& [label, pts] : curves) {
    plot::Series ser;
    ser.label = label;
    ser.dots = true;
    for (auto& [x, ys] : pts) {
      double m = 0, q = 0;
      for (double y : ys) m += y;
      m /= static_cast<double>(ys.size());
      for (double y : ys) q += (y - m) * (y - m);
      double sd = ys.size() > 1 ? std::sqrt(q / static_cast<double>(ys.size() - 1)) : 0.0;
      ser.x.push_back(x);
      ser.y.push_back(m);
      ser.lo.push_back(m - sd);
      ser.hi.push_back(m + sd);
    }
    panel.series.push_back(ser);
  }
  std::string png = (fs::path(s.out) / fmt::format("{}-vs-{}.png", o.plot_metric, o.plot_x)).string();
  plot::line_plots_png(png, {panel}, 1, 900, 600);
  std::printf("wrote %s\n", png.c_str());
  return 0;
}

}  // namespace

void check_processes(const Sweep& s, const SweepOptions& o) {
  UNRAVEL_CHECK(o.processes >= 1, "sweep: --processes must be at least 1, got {}", o.processes);
  if (o.processes == 1) return;
  UNRAVEL_CHECK(dist::have_mpi(), "sweep: --processes {} trains each run over MPI, but this unravel "
                "was built without MPI (install libopenmpi-dev and rebuild: meson feature mpi)",
                o.processes);
  for (const SweepRun& r : s.runs) {
    UNRAVEL_CHECK(r.config.device.find(':') == std::string::npos,
                  "sweep: --processes {}: run {} trains on {}, one device for all its processes; "
                  "give the device without an index (\"cuda\") and each process takes its own "
                  "(cuda:<its rank on the machine>)", o.processes, r.name, r.config.device);
    UNRAVEL_CHECK(r.config.micro_shards % o.processes == 0, "sweep: --processes {}: run {} ({}) "
                  "has micro_shards {}, which {} processes cannot share; set micro_shards to a "
                  "multiple of {} in the sweep's [base] (its results then equal one process's)",
                  o.processes, r.name, run_label(r), r.config.micro_shards, o.processes,
                  o.processes);
  }
}

int sweep_command(const SweepOptions& o) {
  UNRAVEL_CHECK(o.threads >= 1, "sweep: --threads must be at least 1, got {}", o.threads);
  if (o.action == "task") {
    Sweep s = load_sweep_target(o.target);
    return task(s, o.index);
  }
  Sweep s = load_sweep_target(o.target);
  if (o.action == "plan") {
    write_plan(s);
    std::vector<Cost> costs = measure_costs(s, o.threads, o.measure);
    print_table(s, o.measure ? &costs : nullptr, default_jobs(o));
    return 0;
  }
  if (o.action == "status") {
    print_table(s, nullptr, default_jobs(o));
    std::string q = slurm_queue(s);
    if (!q.empty()) std::printf("\nSlurm:\n%s", q.c_str());
    return 0;
  }
  if (o.action == "collect") return collect(s, o);
  UNRAVEL_CHECK(o.action == "run", "sweep: unknown action '{}' (plan | run | status | collect)", o.action);
  check_processes(s, o);
  require_writable_dir(s.out, "sweep run");
  write_plan(s);
  if (o.executor == "local") return run_local(s, o);
  UNRAVEL_CHECK(o.executor == "slurm", "sweep run: unknown --executor '{}' (local | slurm)", o.executor);
  return run_slurm(s, o, measure_costs(s, o.threads, o.measure));
}

}  // namespace unravel::apps
