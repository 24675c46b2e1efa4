// `unravel train` end to end: files and values of a run, resume equals an uninterrupted run
// (FactorVAE too, its discriminator's optimiser inside the one checkpoint file), Ctrl-C leaves
// a loadable checkpoint, a non-finite loss stops with the last good checkpoint kept, and bad
// flags are refused with a message. Uses the built `unravel` binary (UNRAVEL_EXE) for the
// process-level cases.
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

using namespace unravel;
using namespace unravel::apps;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("unravel_test_{}_{}", name, getpid());
  fs::remove_all(p);
  return p.string();
}

TrainConfig pinwheel_config(const std::string& out, int64_t steps) {
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
std::vector<std::string> log_rows(const std::string& run) {
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
ProcResult run_unravel(const std::vector<std::string>& args, double interrupt_after = -1,
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

}  // namespace

TEST_CASE("a run directory holds config, log, checkpoints and summary with sane values") {
  std::string run = temp_dir("files");
  REQUIRE(train_new(pinwheel_config(run, 30)) == 0);
  CHECK(fs::exists(config_path(run)));
  CHECK(fs::exists(last_checkpoint_path(run)));
  CHECK(fs::is_symlink(last_checkpoint_path(run)));
  CHECK(fs::exists(checkpoint_path(run, 30)));
  CHECK(fs::exists(checkpoint_path(run, 10)));
  auto rows = log_rows(run);
  REQUIRE(rows.size() == 4);  // header + steps 10, 20, 30 (--log-every 10, the default)
  CHECK(rows[0].find("recon") != std::string::npos);
  CHECK(rows[0].find("kl") != std::string::npos);
  TrainConfig back = load_config(run);
  CHECK(back.objective == "mathieu");
  CHECK(back.latents == 2);
  int64_t step = 0;
  Run r = load_trained(run, false, &step);
  CHECK(step == 30);
  CHECK(r.vae->latents() == 2);
  // A second train into the same directory is refused.
  CHECK_THROWS_WITH_AS(train_new(pinwheel_config(run, 30)), doctest::Contains("already holds a run"),
                       Error);
  fs::remove_all(run);
}

/// Runs a and b logged the same rows and ended with bit-identical parameters.
static void check_same_run(const std::string& a, const std::string& b) {
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

TEST_CASE("beta-tcvae takes the dataset's size from the data unless given; config.json records it") {
  std::string run = temp_dir("tcvae");
  TrainConfig c = pinwheel_config(run, 2);
  c.objective = "beta-tcvae";
  c.prior = "iso";
  c.prior_params = {{"dim", 2.0}};
  c.objective_params.clear();
  REQUIRE(train_new(c) == 0);
  CHECK(load_config(run).objective_params.at("dataset_size") == 400.0);  // the pinwheel's points
  fs::remove_all(run);
  c.objective_params = {{"dataset_size", 1000.0}};
  REQUIRE(train_new(c) == 0);
  CHECK(load_config(run).objective_params.at("dataset_size") == 1000.0);
  fs::remove_all(run);
}

TEST_CASE("resume continues the same random streams: equals an uninterrupted run") {
  std::string a = temp_dir("straight"), b = temp_dir("resumed");
  REQUIRE(train_new(pinwheel_config(a, 40)) == 0);
  REQUIRE(train_new(pinwheel_config(b, 20)) == 0);
  REQUIRE(train_resume(b, 40) == 0);
  check_same_run(a, b);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("killed after its last checkpoint, before summary.json: the resume trains nothing and "
          "writes the uninterrupted summary's final values") {
  std::string a = temp_dir("finished"), b = temp_dir("no_summary");
  REQUIRE(train_new(pinwheel_config(a, 20)) == 0);
  REQUIRE(train_new(pinwheel_config(b, 20)) == 0);
  fs::remove(fs::path(b) / "summary.json");  // as a kill between the two writes leaves it
  REQUIRE(train_resume(b, 20) == 0);
  using nlohmann::json;
  const json sa = json::parse(apps::read_text((fs::path(a) / "summary.json").string()));
  const json sb = json::parse(apps::read_text((fs::path(b) / "summary.json").string()));
  REQUIRE(sa.contains("final"));
  CHECK(sb.value("final", json()) == sa["final"]);
  CHECK(sb["beta"] == sa["beta"]);
  CHECK(sb["steps"] == 20);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("a JPEG folder trains from its decoded cache through the prefetching worker; resume "
          "equals an uninterrupted run") {
  const std::string data = temp_dir("jpeg_folder"), a = temp_dir("jpeg_straight"),
                    b = temp_dir("jpeg_resumed");
  fs::create_directories(data);
  std::vector<uint8_t> px(40 * 40 * 3);
  for (int i = 0; i < 24; ++i) {
    for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>((k * (i + 1)) % 251);
    write_jpeg(fmt::format("{}/{:03d}.jpg", data, i), 40, 40, 3, px.data(), 90);
  }
  auto config = [&](const std::string& out, int64_t steps) {
    TrainConfig c;
    c.dataset = "folder";
    c.data = data;
    c.batch = 8;  // 3 batches an epoch: the runs cross epochs
    c.steps = steps;
    c.checkpoint_every = 4;
    c.log_every = 1;  // both runs log every step (the first half's last step too)
    c.out = out;
    resolve(c);
    validate(c);
    return c;
  };
  REQUIRE(train_new(config(a, 8)) == 0);
  REQUIRE(train_new(config(b, 4)) == 0);
  REQUIRE(train_resume(b, 8) == 0);
  check_same_run(a, b);
  CHECK(fs::exists(fs::path(data) / ".unravel-cache"));
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(data);
}

TEST_CASE("factor-vae: the discriminator's optimiser lives in the checkpoint; resume equals an "
          "uninterrupted run") {
  auto config = [](const std::string& out, int64_t steps) {
    TrainConfig c = pinwheel_config(out, steps);
    c.objective = "factor-vae";
    c.prior = "iso";
    c.prior_params.clear();
    c.objective_params = {{"gamma", 6.4}, {"disc_hidden", 16}, {"disc_layers", 2}};
    resolve(c);
    validate(c);
    return c;
  };
  std::string a = temp_dir("fvae_straight"), b = temp_dir("fvae_resumed");
  REQUIRE(train_new(config(a, 40)) == 0);
  REQUIRE(train_new(config(b, 20)) == 0);
  // One file per checkpoint: no side file, and the discriminator's Adam state (moments of every
  // discriminator parameter, its step count) inside the main safetensors file.
  for (const auto& e : fs::directory_iterator(fs::path(b) / "checkpoints")) {
    CAPTURE(e.path().string());
    CHECK(e.path().extension() == ".safetensors");
  }
  const std::string ckpt = checkpoint_path(b, 20);
  REQUIRE(fs::exists(ckpt));
  CHECK_FALSE(fs::exists(ckpt + ".disc"));
  SafetensorsData d = load_safetensors(ckpt);
  CHECK(d.metadata.count("optim_disc.type") == 1);
  CHECK(d.metadata.at("optim_disc.type") == "Adam");
  CHECK(d.metadata.at("optim_disc.step") == "20");
  CHECK(d.metadata.at("optim.step") == "20");
  {
    TrainConfig c = config(temp_dir("fvae_probe"), 20);
    Run r = build_run(c, true, true);
    auto aux = r.trainer->auxiliary_optimizers();
    REQUIRE(aux.size() == 1);
    CHECK(aux[0].name == "disc");
    for (const auto& [n, t] : aux[0].opt->state_dict().tensors) {
      CAPTURE(n);
      REQUIRE(d.tensors.count("optim_disc." + n));
      CHECK(d.tensors.at("optim_disc." + n).shape() == t.shape());
    }
    // After 20 steps the moments are not the zeros of a fresh optimiser.
    REQUIRE(d.tensors.count("optim_disc.0.exp_avg_sq"));
    double sq = 0;
    for (double v : to(d.tensors.at("optim_disc.0.exp_avg_sq"), DType::f64).to_vector<double>()) sq += v;
    CHECK(sq > 0);
  }
  REQUIRE(train_resume(b, 40) == 0);
  check_same_run(a, b);
  // A checkpoint without the discriminator's state is refused by name.
  {
    TrainConfig c = config(temp_dir("fvae_probe"), 40);
    Run r = build_run(c, true, true);
    save_checkpoint(checkpoint_path(b, 40), *r.state, &r.trainer->optimizer(),
                    checkpoint_metadata(checkpoint_path(b, 40)));
  }
  CHECK_THROWS_WITH_AS(train_resume(b, 50), doctest::Contains("no FactorVAE discriminator optimiser"),
                       Error);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("dcign and infogan: resume equals an uninterrupted run (factor batches, D's optimiser)") {
  auto config = [](const std::string& out, int64_t steps, const std::string& objective) {
    TrainConfig c;
    c.dataset = "dsprites";
    c.arch = objective == "infogan" ? "infogan-dsprites" : "burgess";
    c.objective = objective;
    c.latents = objective == "infogan" ? 4 : 5;
    c.batch = 8;
    c.steps = steps;
    c.lr = 1e-3;
    c.out = out;
    c.checkpoint_every = 3;
    c.log_every = 1;
    c.tensorboard = false;
    resolve(c);
    validate(c);
    return c;
  };
  for (const std::string objective : {"dcign", "infogan"}) {
    CAPTURE(objective);
    std::string a = temp_dir(objective + "_straight"), b = temp_dir(objective + "_resumed");
    REQUIRE(train_new(config(a, 6, objective)) == 0);
    REQUIRE(train_new(config(b, 3, objective)) == 0);
    REQUIRE(train_resume(b, 6) == 0);
    check_same_run(a, b);
    if (objective == "dcign")  // one latent per dSprites factor, taken from the data
      CHECK(load_config(a).objective_params.at("factors") == 5.0);
    else
      CHECK(load_safetensors(checkpoint_path(b, 6)).metadata.at("optim_disc.step") == "6");
    fs::remove_all(a);
    fs::remove_all(b);
  }
  // What cannot work is refused before any work, naming the flag.
  TrainConfig bad = config(temp_dir("bad"), 1, "infogan");
  bad.arch = "burgess";
  CHECK_THROWS_WITH_AS(validate(bad), doctest::Contains("objective 'infogan' trains the infogan-dsprites"),
                       Error);
  TrainConfig pin = pinwheel_config(temp_dir("bad"), 1);
  pin.objective = "dcign";
  pin.prior = "iso";
  resolve(pin);
  CHECK_THROWS_WITH_AS(train_new(pin), doctest::Contains("dataset 'pinwheel' has no factors"), Error);
}

TEST_CASE("Ctrl-C saves a loadable checkpoint and exits 130") {
  std::string run = temp_dir("sigint");
  ProcResult r = run_unravel({"train", "--dataset", "pinwheel", "--prior", "mog", "--latents", "2",
                              "--objective", "mathieu", "--batch", "100", "--steps", "100000000",
                              "--checkpoint-every", "1000000", "--out", run},
                             0.5, log_path(run));
  CHECK(r.code == 130);
  CHECK(r.err.find("interrupted at step") != std::string::npos);
  int64_t step = 0;
  Run m = load_trained(run, false, &step);
  CHECK(step > 0);
  fs::remove_all(run);
}

TEST_CASE("Ctrl-C at random points: every run stops at a step boundary with its checkpoint") {
  // oneDNN 2.6's JIT sgemm points rsp into the heap; a signal delivered inside it corrupted the
  // heap in ~1 of 10 interrupted runs until stop signals were confined to a watcher thread
  // (apps/common/stop_signals.h). Conv and linear layers both run here.
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    std::string run = temp_dir(fmt::format("sigint_{}", i));
    ProcResult r = run_unravel({"train", "--dataset", "dsprites", "--arch", "burgess", "--latents",
                                "4", "--batch", "16", "--steps", "100000000", "--log-every", "1",
                                "--checkpoint-every", "1000000", "--out", run},
                               0.05 + 0.13 * i, log_path(run));
    CHECK(r.code == 130);
    CHECK(r.err.find("interrupted at step") != std::string::npos);
    CHECK(r.err.find("corrupted") == std::string::npos);
    int64_t step = 0;
    Run m = load_trained(run, false, &step);
    CHECK(step > 0);
    fs::remove_all(run);
  }
}

TEST_CASE("a non-finite loss stops the run and keeps the last good checkpoint") {
  std::string run = temp_dir("nan");
  TrainConfig c = pinwheel_config(run, 50);
  c.lr = 1e30;
  c.checkpoint_every = 1;
  int code = train_new(c);
  CHECK(code == 3);
  REQUIRE(fs::exists(last_checkpoint_path(run)));
  int64_t step = 0;
  Run m = load_trained(run, false, &step);
  CHECK(step >= 1);
  CHECK(step < 50);
  fs::remove_all(run);
}

TEST_CASE("a non-finite loss found at a log step: no checkpoint of the bad steps is written") {
  // Steps are read back only every 5 steps here: the loss turns non-finite at step 2, is noticed
  // at step 5, and the checkpoint due at step 5 is not written.
  std::string run = temp_dir("nan_lag");
  ProcResult r = run_unravel({"train", "--dataset", "pinwheel", "--prior", "mog", "--latents", "2",
                              "--objective", "mathieu", "--batch", "100", "--steps", "50",
                              "--lr", "1e30", "--log-every", "5", "--checkpoint-every", "5",
                              "--out", run});
  CHECK(r.code == 3);
  CHECK(r.err.find("error: step 2: the loss is not finite") != std::string::npos);
  CHECK(r.err.find("noticed at step 5") != std::string::npos);
  CHECK(r.err.find("No checkpoint was written yet") != std::string::npos);
  CHECK_FALSE(fs::exists(last_checkpoint_path(run)));
  CHECK(log_rows(run).size() <= 1);  // the header at most: step 5's row is not logged either
  fs::remove_all(run);
}

TEST_CASE("train --device sim equals --device cpu in log.csv and checkpoints; eval, encode equal") {
  // dSprites on the Burgess conv net with FactorVAE (its discriminator update included) and
  // ControlVAE's PI controller, checkpoints every 10 steps, logs every 5.
  auto args = [](const std::string& out, const std::string& device) {
    return std::vector<std::string>{"train", "--dataset", "dsprites", "--arch", "burgess",
                                    "--latents", "4", "--objective", "factor-vae",
                                    "--objective-param", "disc_hidden=16",
                                    "--objective-param", "disc_layers=2",
                                    "--controller", "controlvae-pi", "--controller-param", "period=5",
                                    "--batch", "8", "--steps", "20", "--log-every", "5",
                                    "--checkpoint-every", "10", "--lr", "1e-3",
                                    "--device", device, "--out", out};
  };
  std::string a = temp_dir("dev_cpu"), b = temp_dir("dev_sim");
  REQUIRE(run_unravel(args(a, "cpu")).code == 0);
  ProcResult rs = run_unravel(args(b, "sim"));
  CAPTURE(rs.err);
  REQUIRE(rs.code == 0);
  CHECK(load_config(b).device == "sim");
  auto ra = log_rows(a), rb = log_rows(b);
  CHECK(ra.size() == 5);
  CHECK(ra == rb);
  for (int64_t step : {10, 20}) {
    SafetensorsData da = load_safetensors(checkpoint_path(a, step));
    SafetensorsData db = load_safetensors(checkpoint_path(b, step));
    REQUIRE(da.tensors.size() == db.tensors.size());
    CHECK(da.tensors.count("optim_disc.0.exp_avg") == 1);
    for (const auto& [n, t] : da.tensors) {
      CAPTURE(n);
      REQUIRE(db.tensors.count(n));
      CHECK(t.dtype() == db.tensors.at(n).dtype());
      CHECK(t.to_vector<double>() == db.tensors.at(n).to_vector<double>());
    }
    // Metadata equal but for the wall-clock seconds.
    auto meta = [](SafetensorsData& d) {
      auto j = nlohmann::json::parse(d.metadata.at("metadata"));
      j.erase("seconds");
      d.metadata.erase("metadata");
      return std::make_pair(d.metadata, j.dump());
    };
    CHECK(meta(da) == meta(db));
  }
  {  // The step recorded once and replayed (--graph): the same log and checkpoints again.
    std::string g = temp_dir("dev_sim_graph");
    auto ga = args(g, "sim");
    ga.push_back("--graph");
    ProcResult rg = run_unravel(ga);
    CAPTURE(rg.err);
    REQUIRE(rg.code == 0);
    CHECK(load_config(g).graph);
    CHECK(log_rows(g) == ra);
    for (int64_t step : {10, 20}) {
      SafetensorsData da = load_safetensors(checkpoint_path(a, step));
      SafetensorsData dg = load_safetensors(checkpoint_path(g, step));
      REQUIRE(da.tensors.size() == dg.tensors.size());
      for (const auto& [n, t] : da.tensors) {
        CAPTURE(n);
        REQUIRE(dg.tensors.count(n));
        CHECK(t.to_vector<double>() == dg.tensors.at(n).to_vector<double>());
      }
    }
    CHECK(run_unravel({"train", "--steps", "2", "--graph", "--out", g + "/x"}).err.find(
              "--graph records the step") != std::string::npos);
    fs::remove_all(g);
  }
  // The same metrics and codes whichever device evaluates which run.
  auto metrics = [](const std::string& run, const std::string& device, const std::string& out) {
    ProcResult r = run_unravel({"eval", run, "--budget", "smoke", "--metrics",
                                "beta_vae,mig_chen,heldout", "--heldout", "16", "--device",
                                device, "--out", out});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto j = nlohmann::json::parse(read_text(out));
    return j.at("metrics");
  };
  auto ma = metrics(a, "cpu", a + "/m_cpu.json"), mb = metrics(b, "sim", b + "/m_sim.json");
  CHECK(ma.size() > 4);
  CHECK(ma == mb);
  CHECK(metrics(a, "sim", a + "/m_sim.json") == ma);
  REQUIRE(run_unravel({"encode", a, "--limit", "300", "--out", a + "/codes"}).code == 0);
  REQUIRE(run_unravel({"encode", b, "--limit", "300", "--out", b + "/codes", "--device", "sim"}).code == 0);
  for (const char* f : {"mu.npy", "logvar.npy"})
    CHECK(read_text(a + "/codes/" + f) == read_text(b + "/codes/" + f));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("bad flags are refused before any work, saying what is valid") {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::string out = temp_dir("badflags");
  const Case cases[] = {
      {{"train", "--batch", "0", "--out", out}, "--batch must be at least 2"},
      {{"train", "--dataset", "cifar", "--out", out}, "unknown dataset 'cifar' (valid: dsprites"},
      {{"train", "--prior", "mog", "--out", out}, "needs --latents 2"},
      {{"train", "--arch", "pinwheel-mlp", "--out", out}, "expects 2-D points"},
      {{"train", "--objective", "bvae", "--out", out}, "unknown objective 'bvae' (valid: vae, beta-vae"},
      {{"train", "--preset", "nope", "--out", out}, "unknown preset 'nope' (valid:"},
      {{"train", "--objective-param", "gamma", "--out", out}, "expected key=value"},
      {{"train", "--frobnicate"}, "frobnicate"},
      {{"train", "--dataset", "pinwheel", "--prior", "mog", "--latents", "2"}, "--out DIR"},
      {{"train", "--device", "tpu", "--out", out}, "unknown device 'tpu'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    ProcResult r = run_unravel(c.args);
    CHECK(r.code != 0);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("the anisotropic prior is initialised from the data's principal components (pca=N)") {
  TrainConfig c;
  c.dataset = "dsprites";
  c.arch = "burgess";
  c.latents = 4;
  c.prior = "aniso";
  c.prior_params = {{"pca", 300}};
  c.out = temp_dir("aniso");
  resolve(c);
  validate(c);
  Run r = build_run(c);
  auto* aniso = dynamic_cast<AnisotropicGaussianPrior*>(r.prior.get());
  REQUIRE(aniso != nullptr);
  auto s = aniso->scales().to_vector<float>();
  REQUIRE(s.size() == 4);
  // Descending (largest principal component first), not all equal, total variance D.
  for (size_t i = 1; i < s.size(); ++i) CHECK(s[i] <= s[i - 1]);
  CHECK(s[0] > 1.05f * s[3]);
  double total = 0;
  for (float v : s) total += static_cast<double>(v) * v;
  CHECK(total == doctest::Approx(4.0).epsilon(1e-4));
  c.prior_params["df"] = 3;
  CHECK_THROWS_WITH_AS(build_run(c), doctest::Contains("'df' is not valid with it"), Error);
}

TEST_CASE("--device cuda where no GPU can be used: refused before any work, saying why") {
  std::string why;
  try {
    backend(cuda_device(0));
  } catch (const Error& e) {
    why = e.what();
  }
  if (why.empty()) {
    MESSAGE("skipped: a usable GPU is present (the GPU check covers training on it)");
    return;
  }
  std::string out = temp_dir("nocuda");
  ProcResult r = run_unravel({"train", "--steps", "2", "--device", "cuda", "--out", out});
  CHECK(r.code != 0);
  CHECK(r.err.find("cuda:0") != std::string::npos);
  CHECK(r.err.find(why.substr(0, 40)) != std::string::npos);
  CHECK(!fs::exists(out + "/log.csv"));
  fs::remove_all(out);
}

TEST_CASE("config.json: integers out of their type's range are refused naming the file (fuzz_config)") {
  // nlohmann's get<uint64_t>() of 7.7e77 converts out of range: undefined behaviour, found by
  // fuzz_config under UBSan. Each field is now range-checked first.
  const std::string where = "run/config.json";
  for (const char* text : {R"({"seed": 7.777777777777778e+77})", R"({"seed": -1})",
                           R"({"latents": 1e19})", R"({"steps": 2.5})", R"({"batch": 1e999})"}) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(config_from_json(text, where), doctest::Contains("run/config.json"), Error);
  }
  CHECK_THROWS_WITH_AS(config_from_json(R"({"seed": -1})", where),
                       doctest::Contains("field 'seed' must be an integer in [0, "), Error);
  // Integral floats are still read as the integer, and the largest values fit exactly.
  const TrainConfig c = config_from_json(
      R"({"latents": 10.0, "seed": 18446744073709551615, "steps": -9223372036854775808})", where);
  CHECK(c.latents == 10);
  CHECK(c.seed == UINT64_MAX);
  CHECK(c.steps == INT64_MIN);
}

TEST_CASE("resume: a checkpoint whose loop state is missing or malformed is refused naming it") {
  // The loop state (step, random streams, batcher, controller) is a JSON string in the
  // checkpoint's metadata; nlohmann's own errors name neither the file nor the run.
  const std::string run = temp_dir("bad_loop_state");
  REQUIRE(train_new(pinwheel_config(run, 10)) == 0);
  const std::string ckpt = checkpoint_path(run, 10);
  REQUIRE(fs::exists(ckpt));
  const SafetensorsData good = load_safetensors(ckpt);
  const std::string last = last_checkpoint_path(run);  // what resume reads (a link to ckpt)
  for (const char* meta : {"", "not json", R"({"step": 10})", R"({"step": "ten"})",
                           R"({"step": -3, "gen_seed": 1, "gen_offset": 0, "batcher": {"epoch": 0,
                               "position": 0, "seed": 1, "offset": 0}, "controller": {}})"}) {
    CAPTURE(meta);
    std::map<std::string, std::string> md = good.metadata;
    md["metadata"] = meta;
    save_safetensors(ckpt, good.tensors, md);
    CHECK_THROWS_WITH_AS(train_resume(run, 20), doctest::Contains(last.c_str()), Error);
  }
  // Without the metadata string at all.
  std::map<std::string, std::string> md = good.metadata;
  md.erase("metadata");
  save_safetensors(ckpt, good.tensors, md);
  CHECK_THROWS_WITH_AS(train_resume(run, 20), doctest::Contains("loop state"), Error);
  // The intact file resumes.
  save_safetensors(ckpt, good.tensors, good.metadata);
  CHECK(train_resume(run, 20) == 0);
  fs::remove_all(run);
}
