// `unravel train` checks: --device sim equals the CPU (eval and encode too), bad flags and
// unusable devices are refused before any work, the PCA-initialised prior, and malformed
// config.json / checkpoint loop state refused naming the file. Helpers: train_harness.h.
#include "tests/apps/train_harness.h"

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::train_test;
namespace fs = std::filesystem;

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
  // Bit for bit, except Chen's MIG: on an accelerator its aggregate-posterior sums run there as
  // tensor ops (f32 log-sum-exp per chunk) instead of the CPU's blocked kernel (f64 merges), so
  // they agree to float rounding.
  auto same = [](const nlohmann::json& x, const nlohmann::json& y) {
    REQUIRE(x.size() == y.size());
    for (const auto& [k, v] : x.items()) {
      CAPTURE(k);
      REQUIRE(y.contains(k));
      if (k.rfind("mig_chen", 0) == 0)
        CHECK(v.get<double>() == doctest::Approx(y.at(k).get<double>()).epsilon(1e-5));
      else
        CHECK(v == y.at(k));
    }
  };
  auto ma = metrics(a, "cpu", a + "/m_cpu.json"), mb = metrics(b, "sim", b + "/m_sim.json");
  CHECK(ma.size() > 4);
  CHECK(ma.contains("mig_chen"));
  same(ma, mb);
  same(metrics(a, "sim", a + "/m_sim.json"), ma);
  CHECK(metrics(b, "cpu", b + "/m_cpu.json") == ma);  // runs trained on either device are equal
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
      {{"train", "--lr-schedule", "linear", "--out", out}, "unknown lr schedule 'linear' (valid: constant, cosine"},
      {{"train", "--lr-schedule", "cosine", "--lr-param", "gama=0.5", "--out", out},
       "lr schedule 'cosine': unknown parameter 'gama'"},
      {{"train", "--lr-schedule", "step", "--out", out}, "lr schedule 'step': needs step_size > 0"},
      {{"train", "--lr-schedule", "cosine", "--lr-param", "warmup=2.5", "--out", out},
       "'warmup' must be a whole number of steps"},
      {{"train", "--device", "sim", "--graph", "--lr-schedule", "cosine", "--out", out},
       "a recorded step (--graph) replays the one it recorded"},
      // 0 latents and a negative --beta are the options' "not given" values: refused when given.
      {{"train", "--latents", "0", "--out", out}, "--latents must be at least 1, got 0"},
      {{"train", "--beta", "-2", "--out", out}, "--beta must be a finite number >= 0, got -2"},
      {{"train", "--beta", "nan", "--out", out}, "--beta must be a finite number >= 0, got nan"},
      {{"train", "--likelihood", "gaussian", "--likelihood-scale", "-1", "--out", out},
       "--likelihood-scale must be a positive number (0: the architecture's), got -1"},
      {{"train", "--controller-param", "beta=nan", "--out", out},
       "--controller-param 'beta=nan': 'nan' is not a finite number"},
      {{"train", "--objective", "beta-tcvae", "--objective-param", "gamma=inf", "--out", out},
       "'inf' is not a finite number"},
      {{"train", "--lr", "inf", "--out", out}, "--lr must be positive, got inf"},
      {{"eval", out, "--heldout", "-5"}, "eval: --heldout must be >= 0 (0: no held-out metrics), got -5"},
      {{"train", "--micro-shards", "0", "--out", out}, "--micro-shards must be at least 1, got 0"},
      {{"train", "--seed", "-1", "--out", out}, "--seed: must be a whole number >= 0, got -1"},
      {{"eval", out, "--seed", "-3"}, "--seed: must be a whole number >= 0, got -3"},
      {{"train", "--data-seed", "-2", "--out", out}, "--data-seed: must be a whole number >= 0, got -2"},
      {{"train", "--steps", "5", "--lr-schedule", "cosine", "--lr-param", "warmup=10", "--out", out},
       "warmup 10 must be shorter than the run (--steps 5)"},
      {{"train", "--objective", "beta-tcvae", "--objective-param", "mss=2", "--out", out},
       "mss must be 1 (the stratified estimator) or 0 (minibatch-weighted), got 2"},
      // Refused while the run is built: the run directory made for it is removed again.
      {{"train", "--prior", "student-t", "--prior-param", "df=0", "--out", out},
       "student-t prior: df must be positive, got 0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    ProcResult r = run_unravel(c.args);
    CHECK(r.code != 0);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("--resume refuses every flag it would ignore, naming it, and keeps the run as it was") {
  std::string run = temp_dir("resume_flags");
  REQUIRE(run_unravel({"train", "--dataset", "pinwheel", "--prior", "mog", "--latents", "2",
                       "--steps", "2", "--no-tensorboard", "--out", run}).code == 0);
  const std::string config = read_text(run + "/config.json"), log = read_text(run + "/log.csv");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--beta", "3"}, {"--seed", "2"}, {"--batch", "32"},
        {"--controller-param", "beta=2"}, {"--device", "sim"}}) {
    std::vector<std::string> args = {"train", "--resume", run, "--steps", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcResult r = run_unravel(args);
    CAPTURE(extra[0]);
    CHECK(r.code != 0);
    CHECK(r.err.find(extra[0] + " cannot be combined with it (only --steps can)") != std::string::npos);
  }
  CHECK(read_text(run + "/config.json") == config);
  CHECK(read_text(run + "/log.csv") == log);
  REQUIRE(run_unravel({"train", "--resume", run, "--steps", "4"}).code == 0);  // --steps is fine
  CHECK(read_text(run + "/log.csv").size() > log.size());
  fs::remove_all(run);
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
