// The library training step (see train_step.h).
#include "objectives/training/train_step.h"

#include <cmath>
#include <limits>
#include <set>

#include "engine/check.h"
#include "engine/dist/communicator.h"
#include "ops/ops.h"

namespace unravel {

TrainState::TrainState(std::shared_ptr<models::Vae> vae, std::shared_ptr<Prior> prior,
                       std::shared_ptr<Objective> objective)
    : vae_(register_module("vae", std::move(vae))),
      prior_(register_module("prior", std::move(prior))),
      objective_(register_module("objective", std::move(objective))) {
  objective_->bind_model(*vae_);
}

TensorList TrainState::model_parameters() const {
  TensorList out = vae_->parameters();
  for (const Tensor& t : prior_->parameters()) out.push_back(t);
  return out;
}

CheckpointCompat TrainState::v1_compat() const {
  std::vector<std::string> prior_names, objective_names;
  for (const auto& [n, t] : prior_->named_parameters()) prior_names.push_back("prior." + n);
  for (const auto& [n, t] : objective_->named_parameters()) objective_names.push_back("objective." + n);
  std::set<std::string> buffers;
  for (const auto& [n, t] : prior_->named_buffers()) buffers.insert("prior." + n);
  for (const auto& [n, t] : objective_->named_buffers()) buffers.insert("objective." + n);
  CheckpointCompat c;
  c.rename = [prior_names, objective_names](const std::string& n) {
    auto by_position = [&](const std::string& prefix, const std::vector<std::string>& names) {
      const std::string rest = n.substr(prefix.size());
      if (rest.empty() || rest.find_first_not_of("0123456789") != std::string::npos) return n;
      const size_t i = std::stoul(rest);
      return i < names.size() ? names[i] : n;
    };
    if (n.rfind("prior.", 0) == 0) return by_position("prior.", prior_names);
    if (n.rfind("disc.", 0) == 0) return by_position("disc.", objective_names);
    return n;
  };
  c.may_be_missing = [buffers](const std::string& n) { return buffers.count(n) != 0; };
  return c;
}

TrainStep::TrainStep(std::shared_ptr<TrainState> state, std::shared_ptr<Controller> controller,
                     const OptimizerFactory& main, const OptimizerFactory& auxiliary,
                     TrainStepOptions options)
    : state_(std::move(state)), controller_(std::move(controller)), options_(options) {
  UNRAVEL_CHECK(state_ && controller_, "TrainStep: needs a train state and a controller");
  UNRAVEL_CHECK(options_.samples >= 1, "TrainStep: samples must be >= 1, got {}", options_.samples);
  device_ = state_->device();
  if (options_.precision == Precision::bf16) {
    Backend& be = backend(device_);
    UNRAVEL_CHECK(be.supports(Kernel::gemm_bf16) && be.supports(Kernel::conv2d_bf16),
                  "--precision bf16: the {} device cannot compute in bf16 (a CPU needs "
                  "AVX512-BF16 or AMX, as oneDNN reports it); use --precision fp32",
                  device_.str());
  }
  UNRAVEL_CHECK(controller_->device() == device_,
                "TrainStep: the controller is on {} but the model on {}; move both first",
                controller_->device().str(), device_.str());
  // A parameter an auxiliary update trains (InfoGAN's discriminator, part of the model) is
  // left out of the main optimiser: the generator's loss reaches it but must not move it.
  std::vector<AuxiliaryUpdate*> updates = state_->objective().auxiliary_updates();
  std::set<const TensorImpl*> claimed;
  for (AuxiliaryUpdate* a : updates)
    for (const Tensor& p : a->parameters()) claimed.insert(p.impl());
  TensorList main_params;
  for (const Tensor& p : state_->model_parameters())
    if (!claimed.count(p.impl())) main_params.push_back(p);
  opt_ = main(main_params);
  for (AuxiliaryUpdate* a : updates) aux_.emplace_back(a, auxiliary(a->parameters()));
  // Several processes (mpirun) or micro-shards: refuse what couples the batch (sharded_step.cpp).
  if (options_.micro_shards != 1 || dist::world().size() > 1) check_shardable();
  count_ = Tensor::zeros(Shape{}, DType::f64, device_);
  first_bad_ = Tensor::full(Shape{}, std::numeric_limits<double>::infinity(), DType::f64, device_);
}

StepResult TrainStep::step(const Tensor& x, Generator& gen) {
  UNRAVEL_CHECK(x.defined(), "TrainStep::step: the batch is undefined");
  if (options_.micro_shards != 1) return sharded_step(x, gen);
  if (!options_.graph) return eager_step(x, gen);
  if (!graph_) {
    if (eager_steps_ < kGraphWarmup) {
      ++eager_steps_;
      return eager_step(x, gen);
    }
    record(x, gen);
  }
  // A batch of another shape (an epoch's short last batch) or another stream: an eager step.
  if (x.shape() != graph_x_.shape() || x.dtype() != graph_x_.dtype() || gen.seed() != graph_seed_)
    return eager_step(x, gen);
  // Replay: the batch into the recording's buffer, the base to the generator's offset (only
  // when something else drew from it since), one launch; then the host's own bookkeeping.
  NoGradGuard ng;
  copy_(graph_x_, x.device() == device_ ? x : to(x, device_));
  if (gen.offset() != base_offset_) fill_(graph_base_, static_cast<double>(gen.offset()));
  graph_->replay();
  gen.set_offset(gen.offset() + graph_draws_);
  base_offset_ = gen.offset();
  opt_->count_replayed_step();
  for (auto& [a, o] : aux_) o->count_replayed_step();
  return graph_result_;
}

size_t TrainStep::recorded_kernels() const { return graph_ ? graph_->size() : 0; }

void TrainStep::record(const Tensor& x, Generator& gen) {
  Backend& be = backend(device_);
  UNRAVEL_CHECK(be.supports(Kernel::graph), "TrainStep: the {} device cannot record work "
                "(graph steps need cuda or sim); run without graph capture", device_.str());
  {
    NoGradGuard ng;
    graph_x_ = Tensor::empty(x.shape(), x.dtype(), device_);
    copy_(graph_x_, x.device() == device_ ? x : to(x, device_));
  }
  // The base starts at the generator's offset and the recording advances it by what one step
  // draws, so replay k draws exactly the counters eager step k would.
  graph_base_ = Tensor::full(Shape{}, static_cast<double>(gen.offset()), DType::i64, device_);
  Generator g(gen.seed(), 0);
  g.set_device_base(static_cast<const int64_t*>(graph_base_.view().data));
  const auto main_counts = opt_->counters();
  std::vector<optim::Optimizer::Counters> aux_counts;
  for (auto& [a, o] : aux_) aux_counts.push_back(o->counters());
  be.synchronize();
  be.capture_begin(device_);
  try {
    graph_result_ = eager_step(graph_x_, g);
    NoGradGuard ng;
    add_(graph_base_, static_cast<double>(g.offset()));
  } catch (...) {
    try { be.capture_end(device_); } catch (...) {}
    graph_x_ = Tensor();
    throw;
  }
  graph_ = be.capture_end(device_);
  graph_draws_ = g.offset();
  graph_seed_ = gen.seed();
  base_offset_ = gen.offset();
  // Recording ran step() on the host without updating anything: undo its counting.
  opt_->set_counters(main_counts);
  for (size_t i = 0; i < aux_.size(); ++i) aux_[i].second->set_counters(aux_counts[i]);
}

StepResult TrainStep::eager_step(const Tensor& x, Generator& gen) {
  const Tensor xd = x.device() == device_ ? x : to(x, device_);
  state_->train();
  PrecisionGuard precision(options_.precision);  // the matrix kernels of forward and backward
  VaeOutputs out = state_->objective().outputs(state_->vae(), xd, gen, options_.samples);
  ObjectiveInput in = objective_input(out, state_->prior());
  StepResult r;
  r.schedule = controller_->update(mean(in.kl.detach()));
  r.terms = state_->objective().compute(in, r.schedule, gen);
  r.posterior = out.posterior.detach();
  opt_->zero_grad();
  for (auto& [a, o] : aux_) o->zero_grad();
  r.terms.total.backward();
  opt_->step();
  for (auto& [a, o] : aux_) {
    o->zero_grad();  // the main loss reached these parameters too
    LossTerms t = a->loss(in, gen);
    t.total.backward();
    o->step();
    for (auto& term : t.terms) r.terms.add(term.first, term.second);
  }
  {  // Non-finite total: remember the first such step, on the device, in a few tiny kernels.
    NoGradGuard ng;
    add_(count_, 1.0);
    Tensor d = r.terms.total.detach();
    d = d - d;                                    // NaN where the total is NaN or ±inf, else 0
    Tensor bad = to(ne(d, d), DType::f64);        // 1 for a non-finite total
    // count / bad is this step's index where bad and +inf elsewhere; the minimum keeps the first.
    copy_(first_bad_, minimum(first_bad_, count_ / bad));
  }
  return r;
}

void TrainStep::clear_nonfinite() {
  NoGradGuard ng;
  fill_(count_, 0.0);
  fill_(first_bad_, std::numeric_limits<double>::infinity());
}

StepLog TrainStep::read_log(const StepResult& r) const {
  std::vector<std::pair<std::string, Tensor>> terms = r.terms.scalars();
  auto buffers = controller_->named_buffers();
  TensorList ts;
  for (const auto& [n, t] : terms) ts.push_back(t);
  ts.push_back(r.schedule.beta);
  ts.push_back(r.schedule.capacity);
  for (const auto& [n, t] : buffers) ts.push_back(t);
  ts.push_back(first_bad_);
  // KL per latent, computed here (a few kernels at a log step, none in the step itself) and
  // read in the same transfer, one element at a time.
  int64_t latents = 0;
  if (r.posterior.mean().defined()) {
    NoGradGuard ng;
    const DiagonalGaussian& q = r.posterior;
    Tensor kl = state_->prior().analytic_kl(q);
    if (!kl.defined()) kl = (square(q.mean()) + exp(q.logvar()) - q.logvar() - 1.0) * 0.5;
    if (kl.dim() > 1) kl = mean(kl, {0});
    kl = to(kl, DType::f64);
    latents = kl.numel();
    for (int64_t d = 0; d < latents; ++d) ts.push_back(slice(kl, 0, d, d + 1));
  }
  std::vector<double> v = read_scalars(ts);
  StepLog log;
  size_t i = 0;
  for (const auto& [n, t] : terms) log.terms.emplace_back(n, v[i++]);
  log.beta = v[i++];
  log.capacity = v[i++];
  log.controller = controller_->fixed_values();
  for (const auto& [n, t] : buffers) log.controller[n] = v[i++];
  log.nonfinite_step = std::isinf(v[i]) ? 0 : static_cast<int64_t>(v[i]);
  ++i;
  log.kl_per_latent.assign(v.begin() + static_cast<std::ptrdiff_t>(i),
                           v.begin() + static_cast<std::ptrdiff_t>(i + latents));
  return log;
}

std::vector<NamedOptimizer> TrainStep::auxiliary_optimizers() const {
  std::vector<NamedOptimizer> v;
  for (const auto& [a, o] : aux_) v.push_back({a->name(), o.get(), a->description()});
  return v;
}

}  // namespace unravel
