#include "apps/common/setup.h"

#include <cstdlib>

#include "datasets/registry.h"
#include "engine/check.h"
#include "engine/dist/communicator.h"
#include "models/optim/registry.h"
#include "objectives/metrics/linear_codes.h"
#include "objectives/priors/gaussian_priors.h"
#include "objectives/registry.h"
#include "ops/ops.h"

namespace unravel::apps {

std::unique_ptr<Dataset> make_dataset(const TrainConfig& c, bool test) {
  DatasetOptions o;
  o.data = c.data;
  o.test = test;
  o.seed = c.seed;
  o.item_shape = models::architecture(c.arch).data_shape;
  // The MNIST family's pixel clamp for these likelihoods (Mathieu et al. use 1e-6; mnist.h).
  if (c.likelihood == "bernoulli" || c.likelihood == "laplace") o.clamp = 1e-6;
  return unravel::make_dataset(c.dataset, o);
}

namespace {
// The run's prior. `aniso` with prior parameter pca=N is initialised from the data: relative
// variances ∝ the `latents` largest principal-component variances of N items drawn with the
// run's seed (Mathieu et al.'s "pca" prior; they used a truncated SVD of the whole data matrix).
std::shared_ptr<Prior> make_run_prior(const TrainConfig& c, const Dataset* data) {
  auto it = c.prior_params.find("pca");
  if (c.prior != "aniso" || it == c.prior_params.end()) return make_prior(c.prior, c.prior_params);
  for (const auto& [k, v] : c.prior_params)
    UNRAVEL_CHECK(k == "pca" || k == "dim" || k == "variance_scale" || k == "learnable",
                  "prior 'aniso' with pca=N takes dim, variance_scale, learnable; '{}' is not "
                  "valid with it", k);
  int64_t n = static_cast<int64_t>(it->second);
  UNRAVEL_CHECK(data != nullptr, "prior 'aniso' with pca={} needs the dataset", n);
  UNRAVEL_CHECK(n >= c.latents + 1 && n <= data->size(),
                "prior 'aniso': pca={} must be between latents + 1 ({}) and the dataset size {}", n,
                c.latents + 1, data->size());
  Generator g(c.seed ^ 0x9ca5eedull);
  Tensor perm = permutation(data->size(), g);
  std::vector<int64_t> idx = slice(perm, 0, 0, n).to_vector<int64_t>();
  Tensor items = data->make_batch_tensor(n);
  data->get_batch(idx, items);
  LinearCode pca = fit_pca(items, c.latents, g);
  auto get = [&](const char* k, double d) {
    auto f = c.prior_params.find(k);
    return f == c.prior_params.end() ? d : f->second;
  };
  return AnisotropicGaussianPrior::from_pca_variances(
      pca.eigenvalues, c.latents, get("variance_scale", 1.0), get("learnable", 0.0) != 0.0);
}

struct DataResolved {
  const char* objective;
  const char* param;
  double (*value)(const Dataset&);  ///< the parameter's value for a dataset (or a clear error)
};
// The objective parameters build_run takes from the dataset when the configuration leaves them
// unset (and records in the run's config): β-TCVAE's estimators weigh the minibatch by the
// dataset's size; DC-IGN assigns one latent to each of the dataset's factors.
constexpr DataResolved kDataResolved[] = {
    {"beta-tcvae", "dataset_size", [](const Dataset& d) { return static_cast<double>(d.size()); }},
    {"dcign", "factors", [](const Dataset& d) {
       UNRAVEL_CHECK(d.num_factors() > 0, "--objective dcign trains on batches in which one "
                     "ground-truth factor varies: dataset '{}' has no factors (use dsprites)",
                     d.name());
       return static_cast<double>(d.num_factors());
     }}};

}  // namespace

void forget_data_resolved_params(TrainConfig& recorded, const TrainConfig& asked) {
  for (const DataResolved& d : kDataResolved)
    if (recorded.objective == d.objective && asked.objective == d.objective &&
        !asked.objective_params.count(d.param))
      recorded.objective_params.erase(d.param);
}

Run build_run(const TrainConfig& c, bool with_data, bool for_training) {
  Run r;
  r.config = c;
  r.device = Device::parse(c.device);
  // Data-parallel processes on one machine given an accelerator without an index ("cuda",
  // "sim") take one each, by their rank on the machine: cuda:local_rank (modulo the count).
  if (const dist::Communicator& comm = dist::world();
      comm.parallel() && !r.device.is_cpu() && c.device.find(':') == std::string::npos) {
    std::string why;
    const int n = backend(r.device).device_count(&why);
    UNRAVEL_CHECK(n > 0, "device '{}': none usable ({})", c.device, why);
    r.device = Device{r.device.kind, comm.local_rank() % n};
  }
  if (with_data) {
    r.data = make_dataset(c);
    const auto& info = models::architecture(c.arch);
    UNRAVEL_CHECK(r.data->item_shape() == info.data_shape ||
                      (info.data_shape.size() == 3 && r.data->item_shape().size() == 3 &&
                       r.data->item_shape()[1] == info.data_shape[1]),
                  "dataset '{}' gives items of shape {} but architecture '{}' expects {}",
                  c.dataset, r.data->item_shape().str(), c.arch, info.data_shape.str());
  }
  if (r.data)
    for (const auto& [objective, param, value] : kDataResolved)
      if (r.config.objective == objective && !r.config.objective_params.count(param))
        r.config.objective_params[param] = value(*r.data);
  Generator init(c.seed);
  int64_t channels = r.data ? (r.data->item_shape().size() == 3 ? r.data->item_shape()[0] : 1) : 1;
  r.vae = models::make_vae(c.arch, c.latents, init, channels, c.likelihood, c.likelihood_scale);
  r.prior = make_run_prior(c, r.data.get());
  std::shared_ptr<Objective> objective =
      make_objective(c.objective, r.config.objective_params, c.divergence, &init);
  if (r.data && objective->wants_factor_batches())
    UNRAVEL_CHECK(r.data->num_factors() > 0, "objective '{}' trains on factor batches: dataset "
                  "'{}' has no factors", c.objective, c.dataset);
  r.controller = make_controller(c.controller, c.controller_params);
  r.state = std::make_shared<TrainState>(r.vae, r.prior, objective);
  r.state->to(r.device);
  r.controller->to(r.device);
  if (for_training) {
    auto main = [&c](TensorList p) {
      return optim::make_optimizer(c.optimizer, std::move(p), {c.lr, c.beta1, c.beta2});
    };
    auto aux = [&c](TensorList p) {
      return optim::make_optimizer("adam", std::move(p), {c.disc_lr, c.disc_beta1, c.disc_beta2});
    };
    TrainStepOptions o{c.samples, parse_precision(c.precision), c.graph, c.micro_shards,
                       c.grad_reduce != "sum"};
    // A speed knob, not part of the run (every bucket size gives the same bits): 1 MiB buckets
    // overlap the exchange with backward; one bucket larger than the model exchanges after it.
    if (const char* b = std::getenv("UNRAVEL_GRAD_BUCKET_BYTES")) {
      char* end = nullptr;
      const long long v = std::strtoll(b, &end, 10);
      UNRAVEL_CHECK(end != b && *end == '\0' && v > 0,
                    "UNRAVEL_GRAD_BUCKET_BYTES must be a positive number of bytes, got '{}'", b);
      o.bucket_bytes = v;
    }
    r.trainer = std::make_unique<TrainStep>(r.state, r.controller, main, aux, o);
  }
  return r;
}

}  // namespace unravel::apps
