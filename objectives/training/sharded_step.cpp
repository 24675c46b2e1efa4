// Micro-shards and data-parallel training: TrainStep::sharded_step (the semantics are in
// train_step.h's header comment).
//
// Why every piece is the way it is:
//  * Bits independent of N. A micro-shard is always B/M rows in a fresh allocation, its noise
//    comes from the rows' global Philox counters, its forward/backward runs the same kernels on
//    the same shapes whichever process computes it, and the M gradients are added in the order
//    0..M−1 on every process. So the parameters, logs and checkpoints of `-np 1`, `-np 2` and
//    `-np 4` with the same M agree bit for bit (the CPU kernels do not depend on the thread
//    count either: 1 or 2 OpenMP threads per process gave the same bits). They differ from
//    M = 1 (B/M rows per kernel call and an explicit sum of M gradients round differently).
//  * What crosses processes. After the forwards: each row's KL, posterior mean, log-variance
//    and (with auxiliary updates) first code; the controller then sees the whole batch's mean KL
//    as a single process does. After backward: every micro-shard's gradient, combined by an
//    ordered reduce-scatter (each process adds chunk q of the M gradients in micro-shard order)
//    and an all-gather of the sums, or summed per process and all-reduced (unordered); and the
//    logged terms. The gradients travel in buckets started during the last micro-shard's
//    backward, as the tape announces their parameters final (GradExchange below).
//  * How bytes move. Gradients and per-row values stay on the training device and cross
//    processes through that device's collectives (engine/dist/collectives.h): MPI on the CPU's
//    memory, NCCL on CUDA devices when the build has it (sim stands in for it in CI), else MPI
//    through host copies. Only the has-gradient flags and the logged terms (a few bytes) go
//    through the host. The sums are the same f32 additions in the same order wherever they run,
//    so every device and every form of collectives gives the same bits.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/check.h"
#include "engine/dist/collectives.h"
#include "engine/dist/communicator.h"
#include "engine/tape.h"
#include "models/nn/batchnorm.h"
#include "objectives/divergences.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

namespace unravel {

namespace {

// The first batch-norm layer in m's tree ("vae.dec.net.3 (BatchNorm2d)"), or "".
std::string find_batch_norm(const nn::Module& m, const std::string& path) {
  if (dynamic_cast<const nn::BatchNormBase*>(&m))
    return fmt::format("{} ({})", path, m.type_name());
  for (const auto& [name, child] : m.children()) {
    std::string p = find_batch_norm(*child, path.empty() ? name : path + "." + name);
    if (!p.empty()) return p;
  }
  return "";
}

// A strided f32 copy of t as one row ([numel]) on its device.
Tensor flat_f32(Tensor t) {
  if (!t.is_strided()) t = t.with_layout(kStrided);
  if (t.dtype() != DType::f32) t = to(t, DType::f32);
  return reshape(contiguous(t), Shape{-1});
}

// One exchange of the M micro-shards' results of one update (the main one, or an auxiliary
// one): per micro-shard, its logged terms (f64, through the host) and, per parameter, whether it
// had a gradient (through the host) and the gradient (f32, on the device, through the device's
// collectives: engine/dist/collectives.h). Slot j of this process is global micro-shard
// first + j.
//
// The gradients travel in buckets: the parameters in reverse order (the last layers' gradients
// are final first in backward), cut where a bucket's floats reach the bucket size. The tape
// announces each parameter as its gradient becomes final (GradReady); a bucket whose parameters
// are all final is copied into its slot, and in the last micro-shard's backward its exchange is
// started at once, so the exchange of the later layers overlaps the backward of the earlier
// ones. Every element is still the sum of micro-shards 0..M−1 in that order, so the bits do not
// depend on the bucket size, nor on the device or the collectives that moved them.
class GradExchange {
 public:
  GradExchange(dist::Communicator& comm, Device device, const TensorList& params, int64_t local,
               int64_t m, bool ordered, int64_t bucket_bytes)
      : comm_(comm), coll_(dist::collectives(device)), device_(device), params_(params),
        local_(local), m_(m), ordered_(ordered) {
    const size_t cap = static_cast<size_t>(std::max<int64_t>(bucket_bytes, 4)) / sizeof(float);
    bucket_of_.resize(params_.size());
    for (size_t i = params_.size(); i-- > 0;) {
      const size_t n = static_cast<size_t>(params_[i].numel());
      if (buckets_.empty() || (buckets_.back().floats > 0 && buckets_.back().floats + n > cap))
        buckets_.emplace_back();
      Bucket& b = buckets_.back();
      b.params.push_back(i);
      b.floats += n;
      bucket_of_[i] = buckets_.size() - 1;
    }
    for (Bucket& b : buckets_) b.slots.resize(static_cast<size_t>(local_));
    has_grad_.assign(static_cast<size_t>(local_) * params_.size(), 0);
  }

  // What the tape calls while micro-shard j's backward runs.
  GradReady watch(int64_t j) {
    for (Bucket& b : buckets_) b.ready = 0;
    return GradReady{params_, [this, j](size_t k) {
                       Bucket& b = buckets_[bucket_of_[k]];
                       if (++b.ready == b.params.size()) {
                         pack(b, j);
                         if (j + 1 == local_) start(b);
                       }
                       poll();
                     }};
  }

  // Stores micro-shard j's logged terms.
  void add_terms(int64_t j, const LossTerms& t) {
    const auto scalars = t.scalars();
    TensorList values;
    for (const auto& [n, v] : scalars) values.push_back(v);
    if (j == 0) {
      names_.clear();
      for (const auto& [n, v] : scalars) names_.push_back(n);
      total_items_ = t.total_items;
      terms_.assign(static_cast<size_t>(local_) * names_.size(), 0.0);
    }
    UNRAVEL_CHECK(scalars.size() == names_.size() && t.total_items == total_items_,
                  "micro-shards: micro-shard {} logged {} terms, the first {}", j, scalars.size(),
                  names_.size());
    const std::vector<double> v = read_scalars(values);
    std::copy(v.begin(), v.end(), terms_.begin() + static_cast<std::ptrdiff_t>(j * names_.size()));
  }

  // Completes every bucket's exchange and sets each parameter's gradient to the combination of
  // the M micro-shards' (undefined where none had one). Returns the terms: each the mean over
  // the M micro-shards in order (in f64, so a term equal on every micro-shard, such as β, stays
  // exact), as 0-d f64 tensors on the device, "total" as the total.
  LossTerms finish() {
    for (Bucket& b : buckets_)
      UNRAVEL_CHECK(b.phase != Phase::idle, "micro-shards: a gradient bucket was never started "
                    "(the last backward did not announce all of its parameters)");
    if (ordered_ && !started_.empty() && started_.back()->phase == Phase::scatter)
      gather(*started_.back());
    for (Bucket* b : started_) {
      if (!b->landed) coll_.wait(b->request);
      if (ordered_) b->sum = slice(b->whole, 0, 0, b->floats);
      b->phase = Phase::done;
    }
    started_.clear();
    // Every micro-shard's logged terms and has-gradient flags on every process (a few bytes).
    const size_t t = names_.size(), np = params_.size();
    std::vector<double> terms(t * static_cast<size_t>(m_));
    comm_.allgather(terms_.data(), terms_.size() * sizeof(double), terms.data());
    std::vector<uint8_t> has(np * static_cast<size_t>(m_));
    comm_.allgather(has_grad_.data(), has_grad_.size(), has.data());
    // The batch's loss is the mean of the micro-shards' means (or the sum of their sums under
    // sum_over_batch, where total_items is the micro-shard's row count): 1/M as an f32, as the
    // host multiplied it when the gradients crossed through it.
    const float scale = total_items_ == 1.0 ? 1.0f / static_cast<float>(m_) : 1.0f;
    for (Bucket& b : buckets_) {
      int64_t at = 0;
      for (size_t i : b.params) {
        Tensor& p = params_[i];
        bool any = false;
        for (int64_t k = 0; k < m_; ++k) any = any || has[static_cast<size_t>(k) * np + i] != 0;
        p.zero_grad();
        if (any) {
          const Tensor g = reshape(slice(b.sum, 0, at, at + p.numel()), p.shape());
          p.set_grad(scale != 1.0f ? g * static_cast<double>(scale) : clone(g));
        }
        at += p.numel();
      }
      b.sum = Tensor();
    }
    LossTerms out;
    for (size_t k = 0; k < t; ++k) {
      double s = 0;
      for (int64_t j = 0; j < m_; ++j) s += terms[static_cast<size_t>(j) * t + k];
      Tensor v = Tensor::full(Shape{}, s / static_cast<double>(m_), DType::f64, device_);
      if (names_[k] == "total") out.total = v;
      else out.add(names_[k], v);
    }
    return out;
  }

 private:
  enum class Phase { idle, scatter, gather, done };
  static constexpr int kScatterLane = 0, kGatherLane = 1;  // Communicator lanes
  struct Bucket {
    std::vector<size_t> params;  // indices into params_, newest parameter first
    int64_t floats = 0;          // their gradients' elements
    size_t ready = 0;            // parameters announced in the current backward
    TensorList slots;            // per local micro-shard: [floats], the gradients in order
    // The device buffers of the exchange, kept until it has completed: ordered, out [N, L,
    // chunk] → in [M, chunk] → mine [chunk] → whole [N·chunk]; unordered, sum reduced in place.
    Tensor out, in, mine, whole, sum;
    Phase phase = Phase::idle;
    dist::Collectives::Request request = 0;
    bool landed = false;  // the request has completed (test() said so and released it)
  };

  // Copies the bucket's final gradients (zeros where a parameter has none) into slot j.
  void pack(Bucket& b, int64_t j) {
    NoGradGuard ng;
    TensorList flat;
    for (size_t i : b.params) {
      const Tensor g = params_[i].grad();
      has_grad_[static_cast<size_t>(j) * params_.size() + i] = g.defined() ? 1 : 0;
      flat.push_back(g.defined() ? flat_f32(g)
                                 : Tensor::zeros(Shape{params_[i].numel()}, DType::f32, device_));
    }
    b.slots[static_cast<size_t>(j)] = flat.size() == 1 ? clone(flat[0]) : concat(flat, 0);
  }

  // Starts the bucket's exchange once all local slots are packed.
  void start(Bucket& b) {
    NoGradGuard ng;
    const int64_t n = comm_.size();
    if (ordered_) {
      // An ordered reduce-scatter, then an all-gather: process q receives chunk q of every
      // micro-shard's floats (an all-to-all; source p's block holds micro-shards p·L..p·L+L−1,
      // so the blocks arrive in micro-shard order), adds them in the order 0..M−1, and the
      // summed chunks are all-gathered. Each process sends and receives about (L + 1)·P floats
      // (P gradients, L = M/N micro-shards per process), about what a ring all-reduce moves
      // when M = N, instead of the M·P of all-gathering every micro-shard's gradient.
      const int64_t chunk = chunk_of(b);
      TensorList rows;  // per local micro-shard, its floats padded to N chunks: [N, chunk]
      for (const Tensor& s : b.slots)
        rows.push_back(reshape(pad(s, {0, n * chunk - b.floats}), Shape{n, chunk}));
      b.out = contiguous(permute(stack(rows, 0), {1, 0, 2}));  // [N, L, chunk]
      b.in = Tensor::empty(Shape{m_, chunk}, DType::f32, device_);
      b.request = coll_.alltoall(b.out.raw_data(),
                                 static_cast<size_t>(local_ * chunk) * sizeof(float),
                                 b.in.raw_data(), kScatterLane);
      b.phase = Phase::scatter;
    } else {
      // This process's micro-shards in order, then the sum over processes (the library's order).
      b.sum = b.slots[0];
      for (size_t j = 1; j < b.slots.size(); ++j) b.sum = b.sum + b.slots[j];
      b.request = coll_.allreduce_sum(static_cast<float*>(b.sum.raw_data()),
                                      static_cast<size_t>(b.floats), kScatterLane);
      b.phase = Phase::gather;
    }
    for (Tensor& s : b.slots) s = Tensor();
    b.landed = false;
    started_.push_back(&b);
    if (ordered_ && started_.size() >= 2) gather(*started_[started_.size() - 2]);
  }

  // The all-gathers start at points that are the same on every process: bucket k's right after
  // bucket k+1's reduce-scatter has started, the last bucket's in finish(). Every process then
  // starts the collectives of both lanes in one order (S0 S1 G0 S2 G1 … G_last), which a device
  // that runs them all in one queue needs: NCCL on one stream, as sim's queue does. Starting an
  // all-gather as soon as its reduce-scatter is seen complete, which happens at a different
  // point on each process, would cross the two lanes' calls between processes and deadlock
  // there. The reduce-scatter has had the next bucket's backward to complete, so the wait is
  // short (on a device it does not block the host: the compute stream waits).
  void gather(Bucket& b) {
    if (!b.landed) coll_.wait(b.request);
    NoGradGuard ng;
    const int64_t chunk = chunk_of(b);
    b.mine = clone(slice(b.in, 0, 0, 1));  // micro-shard 0's chunk, then 1..M−1 added
    for (int64_t k = 1; k < m_; ++k) b.mine = b.mine + slice(b.in, 0, k, k + 1);
    b.whole = Tensor::empty(Shape{comm_.size() * chunk}, DType::f32, device_);
    b.request = coll_.allgather(b.mine.raw_data(), static_cast<size_t>(chunk) * sizeof(float),
                                b.whole.raw_data(), kGatherLane);
    b.landed = false;
    b.phase = Phase::gather;
  }

  // Asks the started exchanges whether they have completed, without waiting and without
  // starting anything: MPI's non-blocking collectives move on only inside MPI calls, so this
  // runs as backward announces each parameter.
  void poll() {
    for (Bucket* b : started_)
      if (!b->landed) b->landed = coll_.test(b->request);
  }

  int64_t chunk_of(const Bucket& b) const {
    const int64_t n = comm_.size();
    return (b.floats + n - 1) / n;
  }

  dist::Communicator& comm_;
  dist::Collectives& coll_;
  Device device_;
  TensorList params_;
  int64_t local_, m_;
  bool ordered_;
  std::vector<Bucket> buckets_;
  std::vector<Bucket*> started_;  // in the order their exchanges started (the same everywhere)
  std::vector<size_t> bucket_of_;
  std::vector<uint8_t> has_grad_;  // [local slot][parameter]: the micro-shard had a gradient
  std::vector<std::string> names_;
  double total_items_ = 1.0;
  std::vector<double> terms_;
};

}  // namespace

void TrainStep::check_shardable() const {
  const int64_t m = options_.micro_shards;
  const int n = dist::world().size();
  UNRAVEL_CHECK(m >= 1, "--micro-shards must be at least 1, got {}", m);
  UNRAVEL_CHECK(m % n == 0, "--micro-shards {}: the {} processes must divide it (each computes "
                "M/N micro-shards); use a multiple of {}, e.g. --micro-shards {}", m, n, n, n);
  if (m == 1) return;
  const std::string split = n > 1 ? fmt::format("between {} processes", n)
                                  : fmt::format("into {} micro-shards", m);
  const std::string one = "train it in one process with --micro-shards 1";
  UNRAVEL_CHECK(!options_.graph, "--graph cannot record a step split {}; drop --graph or use "
                "--micro-shards 1 in one process", split);
  const std::string why = state_->objective().batch_coupling();
  UNRAVEL_CHECK(why.empty(), "objective '{}' couples the samples of a batch ({}), so the batch "
                "cannot be split {}; {}", state_->objective().name(), why, split, one);
  for (const auto& [a, o] : aux_)
    UNRAVEL_CHECK(a->shardable(), "the {} couples the batch and has no data-parallel form, so the "
                  "batch cannot be split {}; {}", a->description(), split, one);
  for (const auto& [name, module] : state_->children()) {
    const std::string bn = find_batch_norm(*module, name);
    UNRAVEL_CHECK(bn.empty(), "layer {} normalises with the statistics of the whole batch (batch "
                  "norm; dcgan32 has it), so the batch cannot be split {}; {} or choose an "
                  "architecture without batch norm", bn, split, one);
  }
  for (const auto& [name, p] : state_->named_parameters())
    UNRAVEL_CHECK(p.dtype() == DType::f32, "micro-shards exchange f32 gradients; parameter {} is "
                  "{}", name, dtype_name(p.dtype()));
}

StepResult TrainStep::sharded_step(const Tensor& x, Generator& gen) {
  dist::Communicator& comm = dist::world();
  const int64_t m = options_.micro_shards, local = m / comm.size();
  UNRAVEL_CHECK(x.dim() >= 1 && x.size(0) >= local && x.size(0) % local == 0,
                "TrainStep: with {} micro-shards on {} processes a process's rows ({}) must be a "
                "multiple of {}", m, comm.size(), x.desc(), local);
  const int64_t rows = x.size(0) / local, batch = rows * m, first = comm.rank() * local;
  const Tensor xd = x.device() == device_ ? x : to(x, device_);
  state_->train();
  PrecisionGuard precision(options_.precision);  // the matrix kernels of forward and backward

  // 1. Forward each micro-shard with the noise of its rows' global positions. Each forward draws
  // through a window from a copy of the stream and leaves it where the whole batch's would.
  std::vector<VaeOutputs> outs;
  outs.reserve(static_cast<size_t>(local));
  uint64_t after = gen.offset();
  for (int64_t j = 0; j < local; ++j) {
    Generator g = gen;
    // A fresh copy of the rows: the same allocation whichever process computes the micro-shard.
    const Tensor xj = clone(slice(xd, 0, j * rows, (j + 1) * rows));
    outs.push_back(state_->vae().forward(xj, g, options_.samples,
                                         BatchWindow{batch, (first + j) * rows}));
    after = g.offset();
  }
  gen.set_offset(after);
  std::vector<ObjectiveInput> ins;
  for (const VaeOutputs& o : outs) ins.push_back(objective_input(o, state_->prior()));

  // 2. The whole batch's per-row values on every process: KL (the controller's input),
  // posterior (read_log's KL per latent) and, for auxiliary updates, the first codes. Each
  // micro-shard's rows [kl | mean | logvar | codes] are stacked on the device and all-gathered
  // there, which puts the batch's rows in micro-shard order.
  const int64_t d = outs[0].posterior.dim();
  const bool codes = !aux_.empty();
  const int64_t per_row = 1 + 2 * d + (codes ? d : 0);
  std::vector<Tensor> parts;
  {
    NoGradGuard ng;
    TensorList mine;
    for (int64_t j = 0; j < local; ++j) {
      const DiagonalGaussian& q = outs[static_cast<size_t>(j)].posterior;
      TensorList cols = {reshape(ins[static_cast<size_t>(j)].kl, Shape{rows, 1}), q.mean(),
                         q.logvar()};
      if (codes) cols.push_back(first_sample(outs[static_cast<size_t>(j)].z));
      for (Tensor& c : cols) c = reshape(flat_f32(c), Shape{rows, -1});
      mine.push_back(concat(cols, 1));
    }
    const Tensor send = contiguous(concat(mine, 0));  // [L·rows, per_row]
    UNRAVEL_CHECK(send.size(1) == per_row, "micro-shards: {} values per row, expected {}",
                  send.size(1), per_row);
    const Tensor all = Tensor::empty(Shape{batch, per_row}, DType::f32, device_);
    dist::Collectives& coll = dist::collectives(device_);
    coll.wait(coll.allgather(send.raw_data(), static_cast<size_t>(send.numel()) * sizeof(float),
                             all.raw_data(), 0));
    parts.push_back(contiguous(reshape(slice(all, 1, 0, 1), Shape{batch})));
    for (int64_t c = 0; c < (codes ? 3 : 2); ++c)
      parts.push_back(contiguous(slice(all, 1, 1 + c * d, 1 + (c + 1) * d)));
  }
  StepResult r;
  r.schedule = controller_->update(mean(parts[0]));
  r.posterior = DiagonalGaussian::from_logvar(parts[1], parts[2]);

  // 3. The objective and backward per micro-shard, then the combined gradient and one update.
  GradExchange main(comm, device_, opt_->params(), local, m, options_.ordered,
                    options_.bucket_bytes);
  for (int64_t j = 0; j < local; ++j) {
    Generator g = gen;
    LossTerms t = state_->objective().compute(ins[static_cast<size_t>(j)], r.schedule, g);
    UNRAVEL_CHECK(g.offset() == gen.offset(), "objective '{}' draws random numbers per batch: "
                  "micro-shards cannot reproduce them; use --micro-shards 1 in one process",
                  state_->objective().name());
    opt_->zero_grad();
    for (auto& [a, o] : aux_) o->zero_grad();
    // A backward clears the whole tape unless it retains it; the later micro-shards' forwards
    // are still on it, so all but the last retain (the memory of one unsharded forward).
    const GradReady hook = main.watch(j);
    tape().backward({t.total}, {}, j + 1 < local, &hook);
    main.add_terms(j, t);
  }
  r.terms = main.finish();
  opt_->step();

  // 4. Auxiliary updates: whole-batch inputs drawn once from the gathered codes (the same on
  // every process), the update's loss per micro-shard, combined the same way.
  for (auto& [a, o] : aux_) {
    const TensorList whole_inputs = a->batch_inputs(parts[3], gen);
    GradExchange ex(comm, device_, a->parameters(), local, m, options_.ordered,
                    options_.bucket_bytes);
    for (int64_t j = 0; j < local; ++j) {
      TensorList rows_j;
      const int64_t lo = (first + j) * rows;
      for (const Tensor& w : whole_inputs) rows_j.push_back(clone(slice(w, 0, lo, lo + rows)));
      o->zero_grad();  // the main loss reached these parameters too
      LossTerms t = a->shard_loss(rows_j);
      const GradReady hook = ex.watch(j);
      tape().backward({t.total}, {}, false, &hook);
      ex.add_terms(j, t);
    }
    LossTerms c = ex.finish();
    o->step();
    for (auto& term : c.terms) r.terms.add(term.first, term.second);
  }
  {  // Non-finite total: as eager_step does.
    NoGradGuard ng;
    add_(count_, 1.0);
    Tensor dd = r.terms.total - r.terms.total;
    Tensor bad = to(ne(dd, dd), DType::f64);
    copy_(first_bad_, minimum(first_bad_, count_ / bad));
  }
  return r;
}

}  // namespace unravel
