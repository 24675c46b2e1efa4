#include "apps/common/config.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

#include "datasets/registry.h"
#include "engine/check.h"
#include "engine/device.h"
#include "engine/dist/communicator.h"
#include "models/optim/registry.h"
#include "models/vae.h"
#include "ops/likelihoods.h"
#include "objectives/registry.h"

namespace unravel::apps {

using nlohmann::json;

namespace {

TrainConfig base(const std::string& dataset, const std::string& arch, int64_t steps, double lr) {
  TrainConfig c;
  c.dataset = dataset;
  c.arch = arch;
  c.steps = steps;
  c.lr = lr;
  return c;
}

std::vector<Preset> make_presets() {
  std::vector<Preset> p;
  {
    TrainConfig c = base("dsprites", "higgins-mlp", 300000, 1e-4);
    c.controller_params = {{"beta", 4}};
    p.push_back({"higgins-dsprites", "Higgins et al. 2017: beta-VAE (beta=4), MLP 1200-1200, dSprites", c});
    c.controller_params = {{"beta", 1}};
    p.push_back({"higgins-vae-dsprites", "Higgins et al. 2017 baseline: plain VAE (beta=1), same net", c});
  }
  {
    TrainConfig c = base("dsprites", "burgess", 300000, 5e-4);
    c.objective = "capacity";
    c.objective_params = {{"gamma", 1000}};
    c.controller = "linear-capacity";
    c.controller_params = {{"C_max", 25}, {"C_stop", 100000}};
    p.push_back({"burgess-dsprites", "Burgess et al. 2018: gamma|KL-C|, gamma=1000, C 0->25 nats over 100k steps", c});
  }
  {
    TrainConfig c = base("dsprites", "konny-h", 1500000, 1e-4);
    c.controller = "controlvae-pi";
    c.controller_params = {{"C_start", 0.5}, {"C_max", 18}, {"step_val", 0.15}, {"period", 5000},
                           {"Kp", 0.01}, {"Ki", -0.001}};
    p.push_back({"controlvae-dsprites", "Shao et al. 2020: PI controller on beta, KL set-point 0.5->18 (+0.15 / 5000 steps)", c});
    c.controller_params["C_max"] = 16;
    p.push_back({"controlvae-linear-dsprites", "capacity study: ControlVAE PI with linear C(t), C_max=16", c});
    c.controller = "adaptive-capacity";
    c.controller_params = {{"C_start", 0.5}, {"C_max", 16}, {"t_max", 1500000}, {"Kp", 0.01}, {"Ki", -0.001}};
    p.push_back({"controlvae-adaptive-dsprites", "capacity study: PI controller with adaptive C(t) (held while beta rises), C_max=16", c});
  }
  {
    TrainConfig c = base("dsprites", "higgins-mlp", 18000, 1e-3);
    c.batch = 2048;
    c.objective = "beta-tcvae";
    c.objective_params = {{"dataset_size", 737280}};
    c.controller_params = {{"beta", 6}};
    p.push_back({"betatcvae-dsprites", "Chen et al. 2018: beta-TCVAE (beta=6, MWS), MLP, batch 2048, 50 epochs", c});
  }
  {
    TrainConfig c = base("dsprites", "konny-h", 300000, 1e-4);
    c.objective = "factor-vae";
    c.objective_params = {{"gamma", 6.4}};
    p.push_back({"factorvae-dsprites", "Kim & Mnih 2018: FactorVAE gamma=6.4, discriminator Adam(1e-4, 0.5, 0.9)", c});
  }
  {
    TrainConfig c = base("dsprites", "konny-h", 300000, 1e-4);
    c.objective = "dip-vae-i";
    c.objective_params = {{"lambda_od", 10}, {"lambda_d", 100}};
    p.push_back({"dipvae-i-dsprites", "Kumar et al. 2018: DIP-VAE-I, lambda_od=10, lambda_d=100", c});
    c.objective = "dip-vae-ii";
    c.objective_params = {{"lambda_od", 10}, {"lambda_d", 10}};
    p.push_back({"dipvae-ii-dsprites", "Kumar et al. 2018: DIP-VAE-II, lambda_od=lambda_d=10", c});
  }
  {
    TrainConfig c = base("dsprites", "mathieu-dsprites", 230400, 5e-4);
    c.optimizer = "amsgrad";
    c.objective = "mathieu";
    c.objective_params = {{"alpha", 0}};
    c.controller_params = {{"beta", 1}};
    p.push_back({"mathieu-iso-dsprites", "Mathieu et al. 2019: isotropic Gaussian prior, beta=1, 20 epochs", c});
    c.prior = "aniso";
    c.prior_params = {{"pca", 10000}};
    p.push_back({"mathieu-aniso-dsprites", "Mathieu et al. 2019: anisotropic Gaussian prior from the data's principal components", c});
    c.prior_params = {{"pca", 10000}, {"learnable", 1}};
    p.push_back({"mathieu-aniso-learned-dsprites", "Mathieu et al. 2019: PCA-initialised anisotropic prior with learned relative variances", c});
    c.prior_params = {};
    c.prior = "student-t";
    c.prior_params = {{"df", 9}};
    p.push_back({"mathieu-studentt-dsprites", "Mathieu et al. 2019: Student-t prior, nu=9", c});
  }
  {
    TrainConfig c = base("pinwheel", "pinwheel-mlp", 500, 1e-3);
    c.batch = 400;
    c.objective = "mathieu";
    c.prior = "mog";
    c.objective_params = {{"alpha", 0}};
    c.controller_params = {{"beta", 1}};
    c.latents = 2;
    p.push_back({"mathieu-pinwheel", "Mathieu et al. 2019: pinwheel, 4-component mixture prior, beta=1, alpha=0, 500 epochs", c});
  }
  {
    TrainConfig c = base("fashion-mnist", "dcgan32", 9600, 5e-4);
    c.batch = 500;
    c.latents = 50;
    c.objective = "mathieu";
    c.divergence = "mmd_dim";
    c.prior = "sparse";
    c.prior_params = {{"gamma", 0.8}};
    c.objective_params = {{"alpha", 100}};
    c.controller_params = {{"beta", 1}};
    p.push_back({"mathieu-sparse-fashion", "Mathieu et al. 2019: sparse prior (gamma=0.8), alpha=100 MMD, Laplace(0.1), 80 epochs", c});
  }
  {
    // InfoGAN (Chen et al. 2016) as Higgins et al.'s baseline: G Adam lr 1e-3, D/Q Adam 2e-4,
    // both beta1 = 0.5 (Chen et al., App. C); 3-way categorical + 5 continuous codes.
    TrainConfig c = base("dsprites", "infogan-dsprites", 300000, 1e-3);
    c.objective = "infogan";
    c.objective_params = {{"lambda_cat", 1}, {"lambda_cont", 1}};
    c.latents = 8;
    c.beta1 = 0.5;
    c.disc_lr = 2e-4;
    c.disc_beta1 = 0.5;
    c.disc_beta2 = 0.999;
    p.push_back({"infogan-dsprites", "Chen et al. 2016: InfoGAN, 3-way categorical + 5 continuous codes, G lr 1e-3, D lr 2e-4", c});
  }
  {
    // DC-IGN (Kulkarni et al. 2015) as Higgins et al.'s semi-supervised baseline: one latent per
    // dSprites factor, batches in which one factor varies; Burgess et al.'s conv net.
    TrainConfig c = base("dsprites", "burgess", 300000, 5e-4);
    c.objective = "dcign";
    c.objective_params = {{"grad_scale", 1}};
    c.latents = 5;
    c.controller_params = {{"beta", 1}};
    p.push_back({"dcign-dsprites", "Kulkarni et al. 2015: DC-IGN, one latent per factor, one factor varying per batch", c});
  }
  for (auto& pr : p) pr.config.preset = pr.name;
  {
    // 1Konny/Beta-VAE's CelebA script (BetaVAE_H, beta 10, 32 latents, lr 1e-4, batch 64; papers.md
    // section 10); the images are CelebA's RGB at 64x64 (datasets/photo_datasets.h).
    TrainConfig c = base("celeba", "konny-h", 1000000, 1e-4);
    c.controller_params = {{"beta", 10}};
    c.latents = 32;
    p.push_back({"higgins-celeba", "beta-VAE (beta=10, 32 latents, BetaVAE_H conv net) on CelebA 64x64 RGB (--data: the user's CelebA)", c});
  }
  return p;
}

void check_in(const std::string& value, const std::vector<std::string>& valid, const char* what) {
  for (const auto& v : valid)
    if (v == value) return;
  UNRAVEL_CHECK(false, "unknown {} '{}' (valid: {})", what, value, fmt::join(valid, ", "));
}

// One config.json field into v. Integer fields are range-checked first: nlohmann's get of
// 1e300 into an int64, or of -1 into a uint64, converts out of range (undefined behaviour), not
// an error. A float with an integral value (10.0) is still read as that integer.
template <class T>
void read_field(const json& j, const char* key, T& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using L = std::numeric_limits<T>;
    const double top = std::ldexp(1.0, L::digits);  // 2^63 or 2^64: the first value too large
    bool ok = false;
    if (j.is_number_unsigned()) {
      ok = j.get<uint64_t>() <= static_cast<uint64_t>(L::max());
    } else if (j.is_number_integer()) {
      ok = L::is_signed || j.get<int64_t>() >= 0;
    } else if (j.is_number_float()) {
      const double d = j.get<double>();
      ok = std::isfinite(d) && d == std::trunc(d) && d < top && d >= (L::is_signed ? -top : 0.0);
    }
    UNRAVEL_CHECK(ok, "field '{}' must be an integer in [{}, {}], got {}", key, L::min(), L::max(),
                  j.dump());
  }
  j.get_to(v);
}

json params_json(const ParamMap& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = make_presets();
  return p;
}

const Preset& preset(const std::string& name) {
  std::string list;
  for (const auto& p : presets()) {
    if (p.name == name) return p;
    list += (list.empty() ? "" : ", ") + p.name;
  }
  UNRAVEL_CHECK(false, "unknown preset '{}' (valid: {})", name, list);
  return presets().front();
}

uint64_t batch_stream_seed(const TrainConfig& c) { return c.data_seed.value_or(c.seed) + 0x5eed; }

void resolve(TrainConfig& c) {
  if (c.arch.empty()) {
    if (c.dataset == "pinwheel") c.arch = "pinwheel-mlp";
    else if (c.dataset == "fashion-mnist" || c.dataset == "mnist") c.arch = "dcgan32";
    else c.arch = "burgess";
  }
  const auto& info = models::architecture(c.arch);
  if (c.latents == 0) c.latents = info.default_latents;
  if (c.likelihood.empty()) c.likelihood = info.likelihood;
  if (c.likelihood_scale == 0.0) c.likelihood_scale = info.likelihood_scale;
  if (c.prior != "mog") c.prior_params["dim"] = static_cast<double>(c.latents);
  if (c.objective == "factor-vae" || c.objective == "dcign")
    c.objective_params["latent"] = static_cast<double>(c.latents);
  // One micro-shard per process unless asked (world() initialises MPI only under mpirun).
  if (c.micro_shards == 0) c.micro_shards = dist::world().size();
  if (c.lr_schedule == "cosine" && !c.lr_schedule_params.count("total")) {
    const auto w = c.lr_schedule_params.find("warmup");
    UNRAVEL_CHECK(w == c.lr_schedule_params.end() || w->second < static_cast<double>(c.steps),
                  "lr schedule 'cosine': warmup {} must be shorter than the run (--steps {}), or "
                  "give the decay's length as --lr-param total=N", w->second, c.steps);
    c.lr_schedule_params["total"] =
        static_cast<double>(c.steps) - (w == c.lr_schedule_params.end() ? 0.0 : w->second);
  }
}

void validate(const TrainConfig& c) {
  check_in(c.dataset, names_of(dataset_entries()), "dataset");
  models::architecture(c.arch);
  check_in(c.objective, objective_names(), "objective");
  check_in(c.prior, prior_names(), "prior");
  check_in(c.divergence, divergence_names(), "divergence");
  check_in(c.controller, controller_names(), "controller");
  check_in(c.optimizer, names_of(optim::optimizer_entries()), "optimizer");
  check_in(c.likelihood, names_of(likelihood_entries()), "likelihood");
  const Device dev = Device::parse(c.device);
  UNRAVEL_CHECK(!c.graph || !dev.is_cpu(), "--graph records the step for replay on a device "
                "(cuda or sim); the CPU runs each step as it is issued: drop --graph or choose "
                "--device cuda");
  UNRAVEL_CHECK(c.latents >= 1, "--latents must be at least 1, got {}", c.latents);
  UNRAVEL_CHECK(std::isfinite(c.likelihood_scale) && c.likelihood_scale >= 0,
                "--likelihood-scale must be a positive number (0: the architecture's), got {}",
                c.likelihood_scale);
  UNRAVEL_CHECK(c.micro_shards >= 1, "--micro-shards must be at least 1, got {}", c.micro_shards);
  UNRAVEL_CHECK(c.batch % c.micro_shards == 0, "--batch {} must be a multiple of --micro-shards {} "
                "(every micro-shard has batch/M rows)", c.batch, c.micro_shards);
  UNRAVEL_CHECK(c.grad_reduce == "ordered" || c.grad_reduce == "sum",
                "--grad-reduce must be ordered or sum, got '{}'", c.grad_reduce);
  UNRAVEL_CHECK(c.batch >= 2, "--batch must be at least 2, got {}", c.batch);
  UNRAVEL_CHECK(c.steps >= 1, "--steps must be at least 1, got {}", c.steps);
  UNRAVEL_CHECK(c.samples >= 1, "--samples must be at least 1, got {}", c.samples);
  parse_precision(c.precision);
  UNRAVEL_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be positive, got {}", c.lr);
  optim::make_lr_schedule(c.lr_schedule, c.lr, c.lr_schedule_params);  // refuses bad names/params
  make_controller(c.controller, c.controller_params);  // likewise, before the run directory exists
  UNRAVEL_CHECK(!c.graph || c.lr_schedule == "constant",
                "--lr-schedule {} changes the learning rate every step, and a recorded step "
                "(--graph) replays the one it recorded: drop --graph or use a constant rate",
                c.lr_schedule);
  UNRAVEL_CHECK(c.checkpoint_every >= 1 && c.log_every >= 1,
                "--checkpoint-every and --log-every must be at least 1");
  const auto& info = models::architecture(c.arch);
  bool points = info.data_shape.size() == 1;
  UNRAVEL_CHECK(points == (c.dataset == "pinwheel"),
                "architecture '{}' expects {} but dataset '{}' gives {} (use {} there)", c.arch,
                points ? "2-D points" : "images", c.dataset, points ? "images" : "2-D points",
                points ? "--dataset pinwheel" : "an image architecture such as burgess");
  if (c.prior == "mog")
    UNRAVEL_CHECK(c.latents == 2, "prior 'mog' is the 2-D pinwheel mixture: it needs --latents 2, got {}",
                  c.latents);
  const bool gan_arch = c.arch.rfind("infogan", 0) == 0;
  UNRAVEL_CHECK(gan_arch == (c.objective == "infogan"),
                "{}: objective 'infogan' trains the infogan-dsprites networks and nothing else "
                "(got --objective {} with --arch {})",
                gan_arch ? "--arch " + c.arch : std::string("--objective infogan"), c.objective,
                c.arch);
  if (c.objective == "infogan")
    UNRAVEL_CHECK(c.samples == 1, "--objective infogan draws one generated image per datapoint: "
                  "--samples must be 1, got {}", c.samples);
  if (c.dataset == "folder")
    UNRAVEL_CHECK(!c.data.empty(), "--dataset folder needs --data DIR (a folder of PNG/JPEG images)");
  if (c.dataset == "mnist")
    UNRAVEL_CHECK(!c.data.empty(), "--dataset mnist needs --data DIR holding the MNIST IDX files");
  if (c.dataset == "celeba" || c.dataset == "chairs")
    UNRAVEL_CHECK(!c.data.empty(), "--dataset {} needs --data DIR (the folder holding {})", c.dataset,
                  c.dataset == "celeba" ? "img_align_celeba/" : "rendered_chairs/");
  UNRAVEL_CHECK(!c.out.empty(), "--out DIR (the run directory) is required");
}

std::pair<std::string, double> parse_param(const std::string& token, const std::string& flag) {
  auto eq = token.find('=');
  UNRAVEL_CHECK(eq != std::string::npos && eq > 0, "{} '{}': expected key=value", flag, token);
  std::string key = token.substr(0, eq), val = token.substr(eq + 1);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(val, &used);
  } catch (...) {
    used = 0;
  }
  UNRAVEL_CHECK(used == val.size() && !val.empty(), "{} '{}': '{}' is not a number", flag, token, val);
  UNRAVEL_CHECK(std::isfinite(v), "{} '{}': '{}' is not a finite number", flag, token, val);
  return {key, v};
}

std::string to_json(const TrainConfig& c) {
  json j = {
      {"preset", c.preset}, {"dataset", c.dataset}, {"data", c.data}, {"arch", c.arch},
      {"latents", c.latents}, {"likelihood", c.likelihood}, {"likelihood_scale", c.likelihood_scale},
      {"objective", c.objective}, {"objective_params", params_json(c.objective_params)},
      {"prior", c.prior}, {"prior_params", params_json(c.prior_params)},
      {"divergence", c.divergence}, {"controller", c.controller},
      {"controller_params", params_json(c.controller_params)}, {"samples", c.samples}, {"precision", c.precision},
      {"batch", c.batch}, {"steps", c.steps}, {"optimizer", c.optimizer}, {"lr", c.lr},
      {"lr_schedule", c.lr_schedule}, {"lr_schedule_params", params_json(c.lr_schedule_params)},
      {"beta1", c.beta1}, {"beta2", c.beta2}, {"disc_lr", c.disc_lr},
      {"disc_beta1", c.disc_beta1}, {"disc_beta2", c.disc_beta2}, {"seed", c.seed},
      {"device", c.device}, {"graph", c.graph},
      {"micro_shards", c.micro_shards}, {"grad_reduce", c.grad_reduce}, {"out", c.out},
      {"checkpoint_every", c.checkpoint_every},
      {"log_every", c.log_every}, {"keep_checkpoints", c.keep_checkpoints},
      {"tensorboard", c.tensorboard}};
  // Only where it differs from the seed: a config without it (every run from before the field,
  // and every sweep key of a run that keeps the default) follows --seed, and a sweep's "seed"
  // axis changes the batch order with it.
  if (c.data_seed && *c.data_seed != c.seed) j["data_seed"] = *c.data_seed;
  return j.dump(2);
}

TrainConfig config_from_json(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    UNRAVEL_CHECK(false, "{}: not valid JSON ({})", where, e.what());
  }
  TrainConfig c;
  c.micro_shards = 1;  // runs from before data-parallel training: one micro-shard
  try {
    auto get = [&](const char* k, auto& v) {
      if (j.contains(k)) read_field(j.at(k), k, v);
    };
    auto getp = [&](const char* k, ParamMap& m) {
      if (j.contains(k)) m = j.at(k).get<ParamMap>();
    };
    get("preset", c.preset); get("dataset", c.dataset); get("data", c.data); get("arch", c.arch);
    get("latents", c.latents); get("likelihood", c.likelihood);
    get("likelihood_scale", c.likelihood_scale); get("objective", c.objective);
    getp("objective_params", c.objective_params); get("prior", c.prior);
    getp("prior_params", c.prior_params); get("divergence", c.divergence);
    get("controller", c.controller); getp("controller_params", c.controller_params);
    get("samples", c.samples); get("precision", c.precision); get("batch", c.batch); get("steps", c.steps);
    get("optimizer", c.optimizer); get("lr", c.lr); get("lr_schedule", c.lr_schedule);
    getp("lr_schedule_params", c.lr_schedule_params); get("beta1", c.beta1); get("beta2", c.beta2);
    get("disc_lr", c.disc_lr); get("disc_beta1", c.disc_beta1); get("disc_beta2", c.disc_beta2);
    get("seed", c.seed); get("device", c.device); get("graph", c.graph); get("out", c.out);
    if (j.contains("data_seed")) {
      uint64_t v = 0;
      read_field(j.at("data_seed"), "data_seed", v);
      c.data_seed = v;
    }
    get("micro_shards", c.micro_shards); get("grad_reduce", c.grad_reduce);
    get("checkpoint_every", c.checkpoint_every); get("log_every", c.log_every);
    get("keep_checkpoints", c.keep_checkpoints); get("tensorboard", c.tensorboard);
  } catch (const std::exception& e) {
    UNRAVEL_CHECK(false, "{}: bad field type ({})", where, e.what());
  }
  return c;
}

}  // namespace unravel::apps
