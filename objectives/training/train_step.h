// The library's training step, used by `unravel train`, bench_train_step and the tests alike:
//
//   x → (moved to the model's device) → the objective's outputs() (the VAE's forward with K
//   samples; DC-IGN clamps the codes before decoding, InfoGAN generates its own batch) →
//   KL(q(z|x) ‖ p(z)) per datapoint, once → controller(batch-mean KL) → {β, C} → objective →
//   backward → main optimiser → each auxiliary update of the objective (zero its gradients, its
//   loss on the same outputs, backward, its own optimiser: FactorVAE's discriminator; InfoGAN's
//   D/Q, the GAN's alternating update). The main optimiser trains the model's parameters except
//   those an auxiliary update trains (InfoGAN's D/Q live in the model as its encoder).
//
// Nothing is read back from the device: the step returns its terms and schedule as device
// tensors, and flags a non-finite total on the device (the first such step since the flag was
// last cleared). A caller that logs reads everything it needs in one transfer with read_log().
//
// Micro-shards and data-parallel training (options.micro_shards = M > 1; sharded_step.cpp):
// the batch of B is cut into M fixed micro-shards of B/M rows, and the N processes of
// dist::world() (engine/dist/communicator.h; N divides M) each compute M/N of them. A step then
// forwards each of its micro-shards with the reparameterisation noise of the rows' global
// positions (BatchWindow: the single-process noise of those rows), gathers every micro-shard's
// per-datapoint KL, posterior and codes (every process holds the whole batch's), runs the
// controller on the whole batch's mean KL, computes the objective and backward per micro-shard,
// and combines the M gradients in the order 0..M−1 after an all-gather (ordered, the default:
// the result depends on M, never on N, so `-np 1`, `-np 2` and `-np 4` with the same M give the
// same bits) or sums each process's own micro-shards and then MPI_Allreduces (unordered: faster,
// the bits depend on N). Auxiliary updates (FactorVAE's discriminator) draw their whole-batch
// inputs once from the gathered codes and are combined the same way. Objectives, auxiliary
// updates and layers that couple the batch (batch norm) are refused with M > 1.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/checkpoint.h"
#include "models/optim/optimizer.h"
#include "engine/precision.h"
#include "models/vae.h"
#include "objectives/controllers/controller.h"
#include "objectives/losses/objective.h"
#include "objectives/priors/prior.h"

namespace unravel {

/// Every persistent tensor of a run under stable checkpoint names: "vae.*", "prior.*" and
/// "objective.*" (e.g. "objective.disc.net.0.weight").
class TrainState : public nn::Module {
 public:
  TrainState(std::shared_ptr<models::Vae> vae, std::shared_ptr<Prior> prior,
             std::shared_ptr<Objective> objective);
  std::string type_name() const override { return "TrainState"; }
  /// The VAE's and the prior's parameters: what the main optimiser trains.
  TensorList model_parameters() const;
  models::Vae& vae() const { return *vae_; }
  Prior& prior() const { return *prior_; }
  Objective& objective() const { return *objective_; }
  const std::shared_ptr<models::Vae>& vae_ptr() const { return vae_; }
  const std::shared_ptr<Prior>& prior_ptr() const { return prior_; }
  const std::shared_ptr<Objective>& objective_ptr() const { return objective_; }
  /// How a version-1 checkpoint maps onto these names: it held "prior.<i>" and "disc.<i>"
  /// numbered by position (now "prior.<name>", "objective.disc.<name>") and no prior buffers.
  CheckpointCompat v1_compat() const;

 private:
  std::shared_ptr<models::Vae> vae_;
  std::shared_ptr<Prior> prior_;
  std::shared_ptr<Objective> objective_;
};

/// Makes an optimiser for a list of parameters (the run's rule and hyper-parameters).
using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(TensorList)>;

/// How a step runs.
struct TrainStepOptions {
  int64_t samples = 1;                     ///< K posterior samples per datapoint
  Precision precision = Precision::fp32;   ///< matrix kernels' precision (engine/precision.h)
  /// Record the step once and replay it (a CUDA graph; recorded work on sim): after
  /// kGraphWarmup eager steps, the next step is recorded, and every later step with a batch of
  /// the same shape replays it with no host work beyond the upload of the batch and one launch.
  /// Replays equal eager steps bit for bit (the random streams and optimiser counters live on
  /// the device). Needs a device that supports(Kernel::graph); a batch of another shape runs
  /// eagerly.
  bool graph = false;
  /// M: the batch is cut into M micro-shards whose gradients are combined (see above); x is
  /// then this process's rows of the batch (B/N rows for each of dist::world()'s N processes).
  int64_t micro_shards = 1;
  /// With micro-shards: combine the M gradients in order after an all-gather (true: results
  /// independent of N), or by one MPI_Allreduce of each process's in-order sum (false).
  bool ordered = true;
  /// With micro-shards: gradients are exchanged in buckets of about this many bytes, each
  /// started while the last micro-shard's backward still runs (the parameters in reverse order,
  /// the order backward finishes them). The ordered combination gives the same bits for any
  /// bucket size.
  int64_t bucket_bytes = int64_t{1} << 20;
};

/// What one step leaves on the device.
struct StepResult {
  LossTerms terms;    ///< the objective's terms, then each auxiliary update's
  Schedule schedule;  ///< the β and C the step used
  /// The step's q(z|x) (B, D), detached: read_log reports its KL per latent from it.
  DiagonalGaussian posterior;
};

/// A step's values on the host (TrainStep::read_log).
struct StepLog {
  std::vector<std::pair<std::string, double>> terms;  ///< per datapoint, "total" last
  double beta = 0, capacity = 0;                       ///< the schedule the step used
  ControllerState controller;                          ///< running values and fixed parameters
  /// Per latent d, the batch mean of KL(q(z_d|x) ‖ p(z_d)) where the prior has a closed form
  /// (these sum to the objective's KL per datapoint), else of KL(q(z_d|x) ‖ N(0, 1)) (how much
  /// each latent is used). Empty when the result holds no posterior.
  std::vector<double> kl_per_latent;
  /// 0, or the 1-based index (steps since the last clear_nonfinite()) of the first step whose
  /// total was not finite.
  int64_t nonfinite_step = 0;
};

class TrainStep {
 public:
  /// `main` makes the optimiser of state->model_parameters(); `auxiliary` the optimiser of each
  /// auxiliary update's parameters. Build it after moving state and controller to their device.
  /// bf16 precision is refused with a message where the device cannot compute in it.
  TrainStep(std::shared_ptr<TrainState> state, std::shared_ptr<Controller> controller,
            const OptimizerFactory& main, const OptimizerFactory& auxiliary,
            TrainStepOptions options = {});

  /// One training step on batch x (any device; moved to the model's). With options.graph the
  /// returned tensors are the recording's: the next replay overwrites them, so read them (or
  /// read_log) before the next step. With micro-shards x holds this process's rows: rows
  /// [r·B/N, (r+1)·B/N) of the batch for rank r of N.
  StepResult step(const Tensor& x, Generator& gen);
  /// Eager steps before a recording (workspaces, algorithm choices and caches settle first).
  static constexpr int kGraphWarmup = 2;
  /// Whether the step has been recorded, and how many kernels the recording holds.
  bool recorded() const { return graph_ != nullptr; }
  size_t recorded_kernels() const;

  /// The step's terms, schedule, controller state, KL per latent and the non-finite flag, read
  /// back in one transfer (the only host read a logging step makes).
  StepLog read_log(const StepResult& r) const;
  /// Resets the non-finite flag and the step count behind it.
  void clear_nonfinite();

  TrainState& state() const { return *state_; }
  Controller& controller() const { return *controller_; }
  optim::Optimizer& optimizer() const { return *opt_; }
  /// The auxiliary updates' optimisers under their names, for checkpoints.
  std::vector<NamedOptimizer> auxiliary_optimizers() const;
  Device device() const { return device_; }

 private:
  std::shared_ptr<TrainState> state_;
  std::shared_ptr<Controller> controller_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::vector<std::pair<AuxiliaryUpdate*, std::unique_ptr<optim::Optimizer>>> aux_;
  TrainStepOptions options_;
  Device device_;
  // 0-d f64 on the device: steps since clear_nonfinite(), and the first of them whose total was
  // not finite (+inf while none was).
  Tensor count_, first_bad_;

  StepResult eager_step(const Tensor& x, Generator& gen);
  void record(const Tensor& x, Generator& gen);
  // Micro-shards (sharded_step.cpp): refusal of what couples the batch, and the step.
  void check_shardable() const;
  StepResult sharded_step(const Tensor& x, Generator& gen);
  // Recorded work (options_.graph): the batch buffer it reads, the Philox base it adds to its
  // offsets (advanced by the recording itself), the counters it consumes per replay.
  int eager_steps_ = 0;
  std::unique_ptr<RecordedWork> graph_;
  StepResult graph_result_;
  Tensor graph_x_, graph_base_;
  uint64_t graph_draws_ = 0;   ///< Philox counters one step consumes
  uint64_t base_offset_ = 0;   ///< the generator offset graph_base_ holds
  uint64_t graph_seed_ = 0;
};

}  // namespace unravel
