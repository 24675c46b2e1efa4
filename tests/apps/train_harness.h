// Shared helpers of the `unravel train` tests (test_train.cpp, test_train_checks.cpp): temporary
// directories, a small pinwheel configuration, log rows without the clock, running the built
// binary (UNRAVEL_EXE) with an optional Ctrl-C, and "two runs are the same run".
#pragma once
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "apps/common/run_dir.h"
#include "apps/train.h"
#include "datasets/jpeg.h"
#include "engine/io/safetensors.h"
#include "models/checkpoint.h"
#include "objectives/priors/gaussian_priors.h"
#include "ops/ops.h"

namespace unravel::train_test {

using namespace unravel::apps;
namespace fs = std::filesystem;

inline std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("unravel_test_{}_{}", name, getpid());
  fs::remove_all(p);
  return p.string();
}

inline TrainConfig pinwheel_config(const std::string& out, int64_t steps) {
  TrainConfig c;
  c.dataset = "pinwheel";
  c.objective = "mathieu";
  c.prior = "mog";
  c.objective_params = {{"alpha", 1.0}};
  c.controller_params = {{"beta", 1.0}};
  c.latents = 2;
  c.batch = 100;
  c.steps = steps;
  c.lr = 1e-3;
  c.out = out;
  c.checkpoint_every = 10;
  resolve(c);
  validate(c);
  return c;
}

/// Rows of log.csv without the wall-clock column.
inline std::vector<std::string> log_rows(const std::string& run) {
  std::ifstream in(log_path(run));
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell, row;
    int col = 0;
    while (std::getline(ss, cell, ',')) {
      if (col++ != 2) row += cell + ",";
    }
    rows.push_back(row);
  }
  return rows;
}

struct ProcResult {
  int code = -1;
  std::string err;
};

/// Runs the unravel binary with args; optionally sends SIGINT `interrupt_after` seconds after
/// `ready_file` exists and is not empty (polled for at most a minute, so a slow start on a loaded
/// machine does not make the signal arrive before training began).
inline ProcResult run_unravel(const std::vector<std::string>& args, double interrupt_after = -1,
                       const std::string& ready_file = "") {
  const char* exe = std::getenv("UNRAVEL_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "UNRAVEL_EXE is not set (run through meson test)");
  std::string err_path = temp_dir("stderr") + ".txt";
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(err_path.c_str(), "w", stderr);
    (void)f;
    std::vector<char*> argv{const_cast<char*>(exe)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe, argv.data());
    _exit(127);
  }
  if (interrupt_after >= 0) {
    for (int i = 0; i < 600 && !ready_file.empty(); ++i) {
      std::error_code ec;
      if (fs::exists(ready_file) && fs::file_size(ready_file, ec) > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(interrupt_after));
    kill(pid, SIGINT);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ProcResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  fs::remove(err_path);
  return r;
}


/// Runs a and b logged the same rows and ended with bit-identical parameters.
inline void check_same_run(const std::string& a, const std::string& b) {
  auto ra = log_rows(a), rb = log_rows(b);
  REQUIRE(ra.size() == rb.size());
  for (size_t i = 0; i < ra.size(); ++i) CHECK(ra[i] == rb[i]);
  Run ma = load_trained(a, false), mb = load_trained(b, false);
  auto pa = ma.state->named_parameters(), pb = mb.state->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    CAPTURE(pa[i].first);
    CHECK(pa[i].second.to_vector<float>() == pb[i].second.to_vector<float>());
  }
}

}  // namespace unravel::train_test
