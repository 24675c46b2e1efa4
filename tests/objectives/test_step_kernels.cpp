// What one training step launches on a GPU's paths: the step on the stand-in device with the
// kernel families the CUDA backend lacks declined (the fused conv → ReLU, blocked layouts), as
// ops take them on CUDA, counted per family (SimStats::calls). Each queued operation is a kernel
// launch on a GPU (a node of the step's CUDA graph), and at small batches launches are a share of
// the step's time, so these are budgets: each convolution pass once per layer, the optimiser as
// one multi-tensor launch, no host reads or uploads, and the whole step within a kernel count
// (the count when the budget was set, plus ~6%). A change that adds kernels on purpose raises the
// budget here; `build/bench/bench_train_step --kernels --device sim --model M` lists them.
#include <doctest/doctest.h>

#include <string>

#include "engine/sim/sim_backend.h"
#include "models/optim/adam.h"
#include "models/vae.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

/// Declines a sim kernel family for the scope (restores the previous setting).
struct Decline {
  Kernel k;
  bool was;
  explicit Decline(Kernel kernel) : k(kernel), was(sim_decline(kernel, true)) {}
  ~Decline() { sim_decline(k, was); }
};

struct Case {
  std::string arch, objective;
  int64_t batch;
  int conv_layers;       // convolutions (and transposed ones) in the net
  int first_layer_convs;  // of them, those reading the image (no input gradient)
  uint64_t budget;       // queued operations per step
};

}  // namespace

TEST_CASE("a training step on a GPU's paths: one launch per conv pass, one optimiser launch, "
          "within its kernel budget") {
  Decline relu(Kernel::conv2d_forward_relu), layouts(Kernel::layout_convert);
  const Device sim = sim_device(0);
  // Counts when set (2026-12-06): 141, 226 and 114 queued operations.
  const Case cases[] = {
      {"conv64", "beta-vae", 64, 8, 1, 150},
      {"broadcast", "beta-tcvae", 64, 8, 1, 240},  // the main job's net and objective
      {"pinwheel-mlp", "beta-vae", 128, 0, 0, 120},  // its default likelihood (learnt scale)
  };
  for (const Case& c : cases) {
    CAPTURE(c.arch);
    CAPTURE(c.objective);
    Generator init(42);
    const int64_t latents = c.arch == "pinwheel-mlp" ? 2 : 10;
    auto vae = models::make_vae(c.arch, latents, init);
    Params op;
    if (c.objective == "beta-tcvae") op["dataset_size"] = 737280;
    auto state = std::make_shared<TrainState>(
        vae, make_prior("iso", {{"dim", static_cast<double>(latents)}}),
        make_objective(c.objective, op, "kld_inc", &init));
    std::shared_ptr<Controller> controller = make_controller("constant", {{"beta", 2.0}});
    state->to(sim);
    controller->to(sim);
    auto adam = [](TensorList p) {
      return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-3});
    };
    TrainStep step(state, controller, adam, adam, TrainStepOptions{});
    Shape s{c.batch};
    for (int64_t d : vae->data_shape()) s.push_back(d);
    Generator data(7);
    Tensor x = to(c.arch == "pinwheel-mlp" ? normal(s, data, 0.0, 1.0) : bernoulli(s, 0.5, data), sim);
    Generator gen(1);
    step.step(x, gen);  // the first step builds state (optimiser slots, cached constants)
    backend(sim).synchronize();
    sim_reset_stats();
    step.step(x, gen);
    const SimStats st = sim_stats();
    auto calls = [&](Kernel k) { return st.calls[static_cast<size_t>(k)]; };
    const std::string counted = c.arch + " " + c.objective + ": " + std::to_string(st.kernels) +
                                " queued operations per step (budget " +
                                std::to_string(c.budget) + ")";
    MESSAGE(counted);
    CHECK(st.host_reads == 0);
    CHECK(st.uploads == 0);  // the batch is already on the device; constants are cached
    CHECK(calls(Kernel::conv2d_forward) == static_cast<uint64_t>(c.conv_layers));
    CHECK(calls(Kernel::conv2d_backward_weights) == static_cast<uint64_t>(c.conv_layers));
    CHECK(calls(Kernel::conv2d_backward_data) ==
          static_cast<uint64_t>(c.conv_layers - c.first_layer_convs));
    CHECK(calls(Kernel::conv2d_forward_relu) == 0);
    CHECK(calls(Kernel::layout_convert) == 0);
    CHECK(calls(Kernel::optimizer_step) == 1);  // every parameter in one multi-tensor launch
    CHECK(calls(Kernel::random) == 1);          // the reparameterisation's normals, one launch
    CHECK(st.kernels <= c.budget);
  }
}
