// The training configuration: every flag of `unravel train`, the papers' presets, validation
// before any work starts, and JSON round trips (RUN/config.json).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "objectives/registry.h"

namespace unravel::apps {

using ParamMap = std::map<std::string, double>;

struct TrainConfig {
  std::string preset;                  ///< preset it started from ("" = none)
  std::string dataset = "dsprites";    ///< a name of dataset_entries() (datasets/registry.h)
  std::string data;                    ///< path: dSprites .npz, MNIST dir, PNG/JPEG folder, CelebA or chairs folder
  std::string arch;                    ///< "" = the dataset's default
  int64_t latents = 0;                 ///< 0 = the architecture's default
  std::string likelihood;              ///< likelihood_entries() name; "" = the architecture's
  double likelihood_scale = 0.0;       ///< fixed scale (gaussian / laplace); 0 = default
  std::string objective = "beta-vae";
  ParamMap objective_params;
  std::string prior = "iso";
  ParamMap prior_params;
  std::string divergence = "kld_inc";  ///< D estimator (mathieu)
  std::string controller = "constant";
  ParamMap controller_params;          ///< e.g. beta for "constant"
  int64_t samples = 1;                 ///< K posterior samples per datapoint
  std::string precision = "fp32";      ///< matrix kernels: fp32 | bf16 (mixed precision)
  int64_t batch = 64;
  int64_t steps = 1000;
  std::string optimizer = "adam";      ///< a name of optim::optimizer_entries()
  double lr = 1e-4;
  /// Learning-rate schedule of the model's optimiser (models/optim/registry.h: constant, cosine,
  /// step, exponential) and its parameters (`--lr-param key=value`). resolve() gives cosine its
  /// horizon (total = steps − warmup) when not set, so that extending a run with
  /// `--resume --steps` keeps the schedule it started with (the learning rate stays at min).
  std::string lr_schedule = "constant";
  ParamMap lr_schedule_params;
  double beta1 = 0.9, beta2 = 0.999;
  double disc_lr = 1e-4, disc_beta1 = 0.5, disc_beta2 = 0.9;  ///< FactorVAE discriminator
  uint64_t seed = 1;
  /// Seed of the batch order alone (`--data-seed`): the weights' initialisation and the sampling
  /// noise keep --seed, so a run can change one without the other. Unset, the batch order follows
  /// --seed; the same value gives the same batches as `--seed` of that value. config.json holds
  /// it only where it differs from `seed`.
  std::optional<uint64_t> data_seed;
  std::string device = "cpu";
  /// Record the training step once and replay it (a CUDA graph on cuda; recorded work on sim):
  /// the same results as eager steps, with no per-step host work (TrainStepOptions::graph).
  bool graph = false;
  /// Data-parallel training (objectives/training/train_step.h): the batch is cut into M
  /// micro-shards whose gradients are combined in a fixed order, so the results depend on M and
  /// never on the number of processes N (mpirun -np N; N must divide M). 0 = N at the start
  /// (resolve()); a config.json from before the field existed reads as 1.
  int64_t micro_shards = 0;
  /// How the micro-shards' gradients are combined: "ordered" (an all-gather, then the sum in
  /// micro-shard order: bits independent of N) or "sum" (MPI_Allreduce: faster, bits depend on N).
  std::string grad_reduce = "ordered";
  std::string out;                     ///< run directory
  int64_t checkpoint_every = 1000;
  int64_t log_every = 10;              ///< log rows (and the only per-step host reads) every N steps
  int64_t keep_checkpoints = 3;
  /// Write TensorBoard event files to RUN/tb (apps/train_tensorboard.h); a config.json from
  /// before the field existed reads as true.
  bool tensorboard = true;
};

/// A named configuration from a paper.
struct Preset {
  std::string name;
  std::string description;
  TrainConfig config;
};

const std::vector<Preset>& presets();
/// The preset called `name`; throws listing the valid names.
const Preset& preset(const std::string& name);

/// Fills defaults that depend on other fields (arch from dataset, latents from arch, prior dim).
void resolve(TrainConfig& c);
/// The seed of the batch order's generator: --data-seed (else --seed) plus a fixed offset, so
/// that the batches' stream is not the initialisation's.
uint64_t batch_stream_seed(const TrainConfig& c);
/// Refuses impossible combinations with a message saying what would be valid.
void validate(const TrainConfig& c);

std::string to_json(const TrainConfig& c);
TrainConfig config_from_json(const std::string& json, const std::string& where);

/// Parses "key=value" into (key, number); throws naming `flag` on a bad token.
std::pair<std::string, double> parse_param(const std::string& token, const std::string& flag);

}  // namespace unravel::apps
