// Data-parallel training over MPI, end to end through `mpiexec -np N unravel train` (MPIEXEC):
// with the same micro-shards M, -np 2 and -np 4 equal one process bit for bit (log.csv rows and
// every tensor of the final checkpoint) for a conv model and for FactorVAE (its discriminator
// included); a run killed with SIGKILL after a checkpoint resumes under another N to the
// uninterrupted result; an objective that couples the batch is refused under -np 2; with an
// accelerator given without an index each process takes its own (sim:0, sim:1), same bits,
// whether the gradients cross in the device's queue (sim's stand-in for NCCL) or through host
// copies, for the ordered and the summed reduction.
// Exits 77 (Meson: SKIP) with the reason when the build has no MPI or no mpiexec was found.
// Oversubscribed on purpose (4 processes on 2 cores), one OpenMP thread per process.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/common/run_dir.h"
#include "apps/common/run_lock.h"
#include "engine/dist/communicator.h"
#include "engine/io/safetensors.h"
#include "tests/datasets/scratch_files.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("unravel_mpi_{}_{}", name, getpid());
  fs::remove_all(p);
  return p.string();
}

struct Proc {
  int code = -1;
  std::string err;  ///< stdout and stderr together
};

/// Runs `unravel args` under `mpiexec -np np` (np = 0: without mpiexec), with `env` added to the
/// environment. With `kill_when` set, SIGKILLs mpiexec (only it: its processes must notice and
/// end) once that file exists.
Proc run(int np, const std::vector<std::string>& args, const std::string& kill_when = "",
         const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const std::string exe = std::getenv("UNRAVEL_EXE"), mpiexec = std::getenv("MPIEXEC");
  const std::string out_path = temp_dir("out") + ".txt";
  std::fflush(stdout);  // else the child's freopen writes our buffered output a second time
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out_path.c_str(), "w", stdout);
    (void)f;
    dup2(fileno(stdout), fileno(stderr));
    // Open MPI as root and in containers (ignored by other MPIs).
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    // Under the sanitizer stage (scripts/sanitize.sh): Open MPI 4.1 leaves allocations of its
    // dlopen'ed MCA components at MPI_Finalize, reported after they are unloaded ("<unknown
    // module>", so no suppression can name them). LeakSanitizer is off for the MPI processes
    // only; ASan and UBSan stay on, and the same training code is leak-checked single-process.
    if (const char* asan = std::getenv("ASAN_OPTIONS"); asan && *asan)
      setenv("ASAN_OPTIONS", (std::string(asan) + ":detect_leaks=0").c_str(), 1);
    std::vector<std::string> a;
    if (np > 0) a = {mpiexec, "-np", std::to_string(np)};
    a.push_back(exe);
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (!kill_when.empty()) {
    for (int i = 0; i < 6000 && !fs::exists(kill_when); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kill(pid, SIGKILL);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Proc r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  fs::remove(out_path);
  return r;
}

/// log.csv's rows without the wall-clock column ("seconds", the third).
std::vector<std::string> log_rows(const std::string& run) {
  std::ifstream in(apps::log_path(run));
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell, row;
    for (int col = 0; std::getline(ss, cell, ','); ++col)
      if (col != 2) row += cell + ",";
    rows.push_back(row);
  }
  return rows;
}

/// Every tensor of two checkpoints equal bit for bit, and the metadata but the wall clock.
void check_same_checkpoint(const std::string& a, const std::string& b) {
  CAPTURE(a);
  CAPTURE(b);
  const SafetensorsData x = load_safetensors(a), y = load_safetensors(b);
  REQUIRE(x.tensors.size() == y.tensors.size());
  int differ = 0;
  for (const auto& [name, t] : x.tensors) {
    auto it = y.tensors.find(name);
    REQUIRE_MESSAGE(it != y.tensors.end(), name);
    const Tensor& u = it->second;
    REQUIRE(t.shape() == u.shape());
    REQUIRE(t.dtype() == u.dtype());
    const size_t bytes = static_cast<size_t>(t.numel()) * size_of(t.dtype());
    if (std::memcmp(t.raw_data(), u.raw_data(), bytes) != 0) {
      ++differ;
      MESSAGE("tensor " << name << " differs");
    }
  }
  CHECK(differ == 0);
  auto strip = [](std::string m) {  // "seconds":<number> out of the step's JSON
    const size_t at = m.find("\"seconds\":");
    if (at != std::string::npos) m.erase(at, m.find_first_of(",}", at) - at);
    return m;
  };
  CHECK(strip(x.metadata.at("metadata")) == strip(y.metadata.at("metadata")));
}

std::vector<std::string> burgess(const std::string& out, int steps) {
  return {"train", "--dataset", "dsprites", "--arch", "burgess", "--latents", "4", "--batch", "16",
          "--micro-shards", "4", "--steps", std::to_string(steps), "--log-every", "1",
          "--checkpoint-every", "4", "--seed", "5", "--no-tensorboard", "--out", out};
}

void check_same_runs(const std::string& a, const std::string& b, int steps) {
  const auto ra = log_rows(a), rb = log_rows(b);
  CHECK(ra.size() == static_cast<size_t>(steps) + 1);
  CHECK(ra == rb);
  check_same_checkpoint(apps::checkpoint_path(a, steps), apps::checkpoint_path(b, steps));
}

}  // namespace

TEST_CASE("burgess on dSprites, 4 micro-shards: -np 2 and -np 4 equal one process bit for bit") {
  const std::string root = temp_dir("burgess");
  Proc one = run(0, burgess(root + "/np1", 6));
  REQUIRE_MESSAGE(one.code == 0, one.err);
  {  // One CPU process: the micro-shards' gradients meet in host memory, no collectives named.
    const std::string summary = test::slurp(root + "/np1/summary.json");
    CHECK(summary.find(R"("micro_shards": 4)") != std::string::npos);
    CHECK(summary.find(R"("communication_seconds":)") != std::string::npos);
    CHECK(summary.find(R"("collectives":)") == std::string::npos);
  }
  for (int np : {2, 4}) {
    CAPTURE(np);
    const std::string run_dir = fmt::format("{}/np{}", root, np);
    Proc p = run(np, burgess(run_dir, 6));
    REQUIRE_MESSAGE(p.code == 0, p.err);
    CHECK(p.err.find(fmt::format("on {} processes (4 micro-shards, ordered gradients through MPI "
                                 "(host memory))", np)) != std::string::npos);
    check_same_runs(root + "/np1", run_dir, 6);
  }
  // An accelerator given without an index: each process takes its own (by its rank on the
  // machine; sim stands in for cuda), with the CPU's bits, whether the gradients cross in the
  // device's queue (sim's stand-in for NCCL on a CUDA stream) or through host copies. In the
  // queue every lane's collectives run in one order, and process 1 sees each complete much later
  // than process 0: a schedule that started the all-gathers when a reduce-scatter was seen
  // complete hung here, as it would on NCCL's one stream.
  for (const std::string via : {"device", "host"}) {
    CAPTURE(via);
    const std::string run_dir = root + "/sim2-" + via;
    std::vector<std::string> on_sim = burgess(run_dir, 6);
    on_sim.insert(on_sim.end(), {"--device", "sim"});
    Proc p = run(2, on_sim, "", {{"UNRAVEL_COLLECTIVES", via}});
    REQUIRE_MESSAGE(p.code == 0, p.err);
    CHECK(p.err.find(via == "device" ? "gradients through MPI in the sim device queue (stands "
                                       "in for NCCL); devices sim:0, sim:1)"
                                     : "gradients through host copies and MPI "
                                       "(UNRAVEL_COLLECTIVES=host); devices sim:0, sim:1)") !=
          std::string::npos);
    check_same_runs(root + "/np1", run_dir, 6);
    // summary.json names what moved the bytes; both of these run MPI on a host thread, so the
    // host's time in collectives is theirs and is written (NCCL's is not: no host clock sees it).
    const std::string summary = test::slurp(run_dir + "/summary.json");
    const std::string named =
        via == "device" ? "MPI in the sim device queue (stands in for NCCL)"
                        : "host copies and MPI (UNRAVEL_COLLECTIVES=host)";
    CHECK(summary.find(fmt::format("\"collectives\": \"{}\"", named)) != std::string::npos);
    CHECK(summary.find(R"("communication_seconds":)") != std::string::npos);
  }
  // --grad-reduce sum: each process's micro-shards summed on its device, then an all-reduce in
  // the device's queue. With two processes the one addition across them commutes, so the sim
  // run has the CPU's bits (the order of more than two is MPI's).
  for (const char* dev : {"cpu", "sim"}) {
    std::vector<std::string> a = burgess(root + "/sum-" + dev, 6);
    a.insert(a.end(), {"--grad-reduce", "sum", "--device", dev});
    Proc p = run(2, a);
    REQUIRE_MESSAGE(p.code == 0, p.err);
    CHECK(p.err.find("(4 micro-shards, sum gradients through ") != std::string::npos);
  }
  check_same_runs(root + "/sum-cpu", root + "/sum-sim", 6);
  fs::remove_all(root);
}

TEST_CASE("FactorVAE (discriminator included): -np 2 and -np 4 equal one process bit for bit") {
  const std::string root = temp_dir("factor");
  auto args = [](const std::string& out) {
    return std::vector<std::string>{
        "train", "--dataset", "dsprites", "--arch", "burgess", "--latents", "4",
        "--objective", "factor-vae", "--objective-param", "disc_hidden=64", "--objective-param",
        "disc_layers=2", "--batch", "16", "--micro-shards", "4", "--steps", "4", "--log-every",
        "1", "--checkpoint-every", "4", "--seed", "7", "--no-tensorboard", "--out", out};
  };
  Proc one = run(1, args(root + "/np1"));  // mpiexec -np 1 here, a plain process above
  REQUIRE_MESSAGE(one.code == 0, one.err);
  for (int np : {2, 4}) {
    CAPTURE(np);
    const std::string run_dir = fmt::format("{}/np{}", root, np);
    Proc p = run(np, args(run_dir));
    REQUIRE_MESSAGE(p.code == 0, p.err);
    check_same_runs(root + "/np1", run_dir, 4);
  }
  {  // On sim devices: the codes and both updates' gradients cross in the device queue.
    std::vector<std::string> on_sim = args(root + "/sim4");
    on_sim.insert(on_sim.end(), {"--device", "sim"});
    Proc p = run(4, on_sim);
    REQUIRE_MESSAGE(p.code == 0, p.err);
    check_same_runs(root + "/np1", root + "/sim4", 4);
  }
  // The discriminator's tensors and optimiser state are in the compared checkpoint.
  const SafetensorsData d = load_safetensors(apps::checkpoint_path(root + "/np1", 4));
  bool disc = false;
  for (const auto& [name, t] : d.tensors) disc = disc || name.find("disc") != std::string::npos;
  CHECK(disc);
  fs::remove_all(root);
}

TEST_CASE("an MPI run killed after a checkpoint resumes under another N to the uninterrupted run") {
  const std::string root = temp_dir("resume");
  const std::string whole = root + "/whole", killed = root + "/killed";
  // Far more steps than will run: SIGKILL mpiexec once the step-4 checkpoint exists.
  Proc k = run(2, burgess(killed, 100000000), apps::checkpoint_path(killed, 4));
  CHECK(k.code == 128 + SIGKILL);
  // Its processes notice that mpiexec is gone and end; until then process 0 holds the lock.
  for (int i = 0; i < 600 && apps::RunLock::held_by_live_writer(killed); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_MESSAGE(!apps::RunLock::held_by_live_writer(killed),
                  "the killed run's processes outlived mpiexec by a minute");
  int64_t at = 0;
  {
    const SafetensorsData last = load_safetensors(apps::last_checkpoint_path(killed));
    const std::string m = last.metadata.at("metadata");
    at = std::atoll(m.c_str() + m.find("\"step\":") + 7);
  }
  REQUIRE_MESSAGE(at >= 4, "no checkpoint before the kill");
  // The uninterrupted reference ends a few steps past wherever the kill landed (a busy machine
  // may let the killed run go far beyond step 4 before SIGKILL arrives).
  const int total = static_cast<int>(std::max<int64_t>(24, (at / 4 + 2) * 4));
  Proc w = run(0, burgess(whole, total));
  REQUIRE_MESSAGE(w.code == 0, w.err);
  Proc r = run(4, {"train", "--resume", killed, "--steps", std::to_string(total)});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.find("on 4 processes") != std::string::npos);
  check_same_runs(whole, killed, total);
  fs::remove_all(root);
}

TEST_CASE("what couples the batch is refused under -np 2 with its reason") {
  const std::string root = temp_dir("refuse");
  Proc p = run(2, {"train", "--dataset", "dsprites", "--arch", "burgess", "--latents", "4",
                   "--objective", "beta-tcvae", "--batch", "16", "--steps", "2",
                   "--no-tensorboard", "--out", root + "/tc"});
  CHECK(p.code != 0);
  CHECK_MESSAGE(p.err.find("objective 'beta-tcvae' couples the samples of a batch (its MWS/MSS") !=
                    std::string::npos, p.err);
  CHECK(p.err.find("cannot be split between 2 processes") != std::string::npos);
  Proc m = run(2, {"train", "--dataset", "dsprites", "--arch", "burgess", "--latents", "4",
                   "--micro-shards", "1", "--batch", "16", "--steps", "2", "--no-tensorboard",
                   "--out", root + "/m1"});
  CHECK(m.code != 0);
  CHECK_MESSAGE(m.err.find("--micro-shards 1: the 2 processes must divide it") != std::string::npos,
                m.err);
  Proc e = run(2, {"list"});
  CHECK(e.code != 0);
  CHECK_MESSAGE(e.err.find("only `unravel train` runs data-parallel") != std::string::npos, e.err);
  fs::remove_all(root);
}

int main(int argc, char** argv) {
  const char* exe = std::getenv("UNRAVEL_EXE");
  const char* mpiexec = std::getenv("MPIEXEC");
  if (!dist::have_mpi()) {
    std::printf("SKIP: this build has no MPI (meson setup -Dmpi=enabled with libopenmpi-dev)\n");
    return 77;
  }
  if (!mpiexec || !*mpiexec || !fs::exists(mpiexec)) {
    std::printf("SKIP: no mpiexec was found when the build was configured (MPIEXEC is empty)\n");
    return 77;
  }
  if (!exe || !fs::exists(exe)) {
    std::printf("UNRAVEL_EXE is not set to the built unravel (run through meson test)\n");
    return 1;
  }
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
