// `unravel train` end to end: files and values of a run, resume equals an uninterrupted run
// (FactorVAE, DC-IGN and InfoGAN too, their second optimisers inside the one checkpoint file),
// Ctrl-C leaves a loadable checkpoint, and a non-finite loss stops with the last good checkpoint
// kept. Uses the built `unravel` binary (UNRAVEL_EXE) for the process-level cases; the checks of
// devices, flags and files are in test_train_checks.cpp.
#include "tests/apps/train_harness.h"

#include <algorithm>
#include <cmath>
#include <numbers>

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::train_test;
namespace fs = std::filesystem;

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


TEST_CASE("a run keeps its newest keep_checkpoints periodic checkpoints") {
  std::string run = temp_dir("keep");
  TrainConfig c = pinwheel_config(run, 30);
  c.checkpoint_every = 5;
  c.keep_checkpoints = 2;
  REQUIRE(train_new(c) == 0);
  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(fs::path(run) / "checkpoints"))
    kept.push_back(e.path().filename().string());
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{fs::path(checkpoint_path(run, 25)).filename().string(),
                                         fs::path(checkpoint_path(run, 30)).filename().string()});
  fs::remove_all(run);
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

TEST_CASE("--data-seed sets the batch order alone: recorded in config.json and the checkpoint, "
          "resume equals an uninterrupted run; unset it follows --seed") {
  const std::string a = temp_dir("ds_a"), b = temp_dir("ds_b"), c = temp_dir("ds_c"),
                    d = temp_dir("ds_d");
  TrainConfig ca = pinwheel_config(a, 20);  // seed 1: its batches and its initialisation
  REQUIRE(!ca.data_seed);
  TrainConfig cb = pinwheel_config(b, 20);  // seed 3's initialisation, seed 1's batches
  cb.seed = 3;
  cb.data_seed = 1;
  TrainConfig cc = cb;  // seed 3's initialisation and batches
  cc.out = c;
  cc.data_seed = 3;
  REQUIRE(train_new(ca) == 0);
  REQUIRE(train_new(cb) == 0);
  REQUIRE(train_new(cc) == 0);
  CHECK(batch_stream_seed(cb) == batch_stream_seed(ca));
  CHECK(batch_stream_seed(cb) != batch_stream_seed(cc));
  // Both streams change the run: the initialisation (a vs b) and the batch order (b vs c).
  CHECK(log_rows(a) != log_rows(b));
  CHECK(log_rows(b) != log_rows(c));
  // The run's batcher was seeded from data_seed (its position is in the checkpoint).
  for (const auto& [run, want] : {std::pair{b, batch_stream_seed(cb)}, {c, batch_stream_seed(cc)}}) {
    const auto meta = nlohmann::json::parse(
        load_safetensors(checkpoint_path(run, 20)).metadata.at("metadata"));
    CHECK(meta.at("batcher").at("seed").get<uint64_t>() == want);
    CHECK(meta.at("gen_seed").get<uint64_t>() == 3);
  }
  const TrainConfig back = config_from_json(read_text(config_path(b)), "b/config.json");
  CHECK(back.seed == 3);
  CHECK(back.data_seed == std::optional<uint64_t>(1));
  // Resumed half-way, the run with its own data seed equals the uninterrupted one.
  TrainConfig cd = cb;
  cd.out = d;
  cd.steps = 10;
  REQUIRE(train_new(cd) == 0);
  REQUIRE(train_resume(d, 20) == 0);
  check_same_run(b, d);
  // Unset (every config.json from before the field), the batch order follows --seed, and
  // config.json leaves the field out where it equals the seed: a sweep's "seed" axis then
  // moves both streams, and the sweep's run names stay those of before the field.
  const TrainConfig old = config_from_json(R"({"dataset": "pinwheel", "seed": 5})", "old.json");
  CHECK(!old.data_seed);
  TrainConfig five;
  five.seed = 5;
  CHECK(batch_stream_seed(old) == batch_stream_seed(five));
  CHECK(read_text(config_path(a)).find("data_seed") == std::string::npos);
  five.data_seed = 5;
  CHECK(to_json(five).find("data_seed") == std::string::npos);
  CHECK(config_from_json(R"({"seed": 5})", "x.json").data_seed == std::nullopt);
  for (const auto& r : {a, b, c, d}) fs::remove_all(r);
}

TEST_CASE("a damaged last checkpoint: resume passes over it to the newest whole one and equals "
          "an uninterrupted run; every checkpoint damaged is an error naming each") {
  std::string a = temp_dir("straight60"), b = temp_dir("damaged");
  REQUIRE(train_new(pinwheel_config(a, 60)) == 0);
  REQUIRE(train_new(pinwheel_config(b, 40)) == 0);
  fs::resize_file(checkpoint_path(b, 40), 100);  // what a full disk or a cut copy leaves
  REQUIRE(train_resume(b, 60) == 0);              // from step 30
  check_same_run(a, b);
  for (const auto& e : fs::directory_iterator(fs::path(b) / "checkpoints"))
    fs::resize_file(e.path(), 50);
  try {
    train_resume(b, 70);
    FAIL("resumed from damaged checkpoints");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("every checkpoint is damaged") != std::string::npos);
    for (int64_t step : {40, 50})
      CHECK(msg.find(checkpoint_path(b, step)) != std::string::npos);
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("a learning-rate schedule: log.csv's lr follows it, resume equals an uninterrupted run, "
          "extending a run keeps its horizon") {
  std::string a = temp_dir("cosine_straight"), b = temp_dir("cosine_resumed");
  TrainConfig c = pinwheel_config(a, 40);
  c.lr_schedule = "cosine";
  c.lr_schedule_params = {{"min", 1e-5}, {"warmup", 5}};
  resolve(c);
  REQUIRE(train_new(c) == 0);
  // resolve() fixed the horizon: the steps after warm-up.
  CHECK(load_config(a).lr_schedule_params.at("total") == 35.0);
  // The lr column of every logged row (steps 10, 20, 30, 40) is the schedule's rate for the
  // update of that step: warm-up 5 steps, then cosine from c.lr to 1e-5 over 35 steps.
  std::ifstream in(log_path(a));
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> names;
  {
    std::stringstream hs(header);
    std::string cell;
    while (std::getline(hs, cell, ',')) names.push_back(cell);
  }
  const auto lr_col = std::find(names.begin(), names.end(), "lr") - names.begin();
  REQUIRE(lr_col < static_cast<std::ptrdiff_t>(names.size()));
  int rows = 0;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::vector<std::string> cells;
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    const int64_t step = std::stoll(cells.at(0));
    const double t = static_cast<double>(step - 1 - 5);  // the update of step `step`
    const double want = 1e-5 + (c.lr - 1e-5) * (1 + std::cos(std::numbers::pi * t / 35.0)) / 2;
    CAPTURE(step);
    // log.csv prints 6 significant digits
    CHECK(std::stod(cells.at(static_cast<size_t>(lr_col))) == doctest::Approx(want).epsilon(1e-5).scale(0));
    ++rows;
  }
  CHECK(rows == 4);
  // Interrupted at step 20 and resumed: the same rates, so the same run.
  TrainConfig cb = c;
  cb.out = b;
  cb.steps = 20;
  cb.lr_schedule_params.erase("total");
  resolve(cb);
  REQUIRE(train_new(cb) == 0);
  CHECK(load_config(b).lr_schedule_params.at("total") == 15.0);  // its own horizon: 20 − 5
  fs::remove_all(b);
  cb.lr_schedule_params["total"] = 35.0;  // the horizon of the 40-step run, as it would resolve
  REQUIRE(train_new(cb) == 0);
  REQUIRE(train_resume(b, 40) == 0);
  check_same_run(a, b);
  // --resume --steps past the horizon: the rate stays at min.
  REQUIRE(train_resume(b, 50) == 0);
  CHECK(load_config(b).lr_schedule_params.at("total") == 35.0);
  CHECK(log_rows(b).back().rfind("50,", 0) == 0);
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
