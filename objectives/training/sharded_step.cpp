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
//  * Transfers go through the host (MPI without device awareness); on the CPU device that is a
//    memcpy of each gradient.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/check.h"
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

// Tensors' values as f32 on the host, one after another from dst: a memcpy per tensor on the
// CPU, one concatenation and one transfer elsewhere.
void to_host(const TensorList& ts, float* dst) {
  NoGradGuard ng;
  auto host_f32 = [](Tensor t) {
    if (!t.is_strided()) t = t.with_layout(kStrided);
    if (!t.device().is_cpu()) t = to(t, kCPU);
    if (t.dtype() != DType::f32) t = to(t, DType::f32);
    return contiguous(t);
  };
  bool cpu = true;
  for (const Tensor& t : ts) cpu = cpu && t.device().is_cpu();
  if (cpu) {
    for (const Tensor& t : ts) {
      const Tensor c = host_f32(t);
      std::memcpy(dst, c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
      dst += c.numel();
    }
    return;
  }
  TensorList flat;
  for (const Tensor& t : ts) flat.push_back(reshape(t.with_layout(kStrided), Shape{-1}));
  const Tensor c = host_f32(flat.size() == 1 ? flat[0] : concat(flat, 0));
  std::memcpy(dst, c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
}

// A device tensor of `shape` from n host floats.
Tensor from_host(const float* src, const Shape& shape, Device device) {
  Tensor t = Tensor::empty(shape, DType::f32, kCPU);
  std::memcpy(t.data<float>(), src, static_cast<size_t>(t.numel()) * sizeof(float));
  return device.is_cpu() ? t : to(t, device);
}

// One exchange of the M micro-shards' results of one update (the main one, or an auxiliary
// one): per micro-shard, its logged terms (f64) and, per parameter, a has-gradient flag and the
// gradient (f32). Slot j of this process is global micro-shard first + j.
//
// The gradients travel in buckets: the parameters in reverse order (the last layers' gradients
// are final first in backward), cut where a bucket's floats reach the bucket size. The tape
// announces each parameter as its gradient becomes final (GradReady); a bucket whose parameters
// are all final is copied into its slot, and in the last micro-shard's backward its exchange is
// started at once, so the exchange of the later layers overlaps the backward of the earlier
// ones. Every element is still the sum of micro-shards 0..M−1 in that order, so the bits do not
// depend on the bucket size.
class GradExchange {
 public:
  GradExchange(dist::Communicator& comm, const TensorList& params, int64_t local, int64_t m,
               bool ordered, int64_t bucket_bytes)
      : comm_(comm), params_(params), local_(local), m_(m), ordered_(ordered) {
    const size_t cap = static_cast<size_t>(std::max<int64_t>(bucket_bytes, 4)) / sizeof(float);
    bucket_of_.resize(params_.size());
    for (size_t i = params_.size(); i-- > 0;) {
      const size_t n = static_cast<size_t>(params_[i].numel());
      if (buckets_.empty() || (buckets_.back().floats > 0 && buckets_.back().floats + 1 + n > cap))
        buckets_.emplace_back();
      Bucket& b = buckets_.back();
      b.params.push_back(i);
      b.floats += 1 + n;  // its flag and its gradient
      bucket_of_[i] = buckets_.size() - 1;
    }
    for (Bucket& b : buckets_) b.send.assign(static_cast<size_t>(local_) * b.floats, 0.0f);
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
                       advance(false);
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
  // exact), as 0-d f64 tensors on `device`, "total" as the total.
  LossTerms finish(Device device) {
    for (Bucket& b : buckets_)
      UNRAVEL_CHECK(b.phase != Phase::idle, "micro-shards: a gradient bucket was never started "
                    "(the last backward did not announce all of its parameters)");
    advance(true);
    started_.clear();
    // Every micro-shard's logged terms on every process (a few doubles each).
    const size_t t = names_.size();
    std::vector<double> terms(t * static_cast<size_t>(m_));
    comm_.allgather(terms_.data(), terms_.size() * sizeof(double), terms.data());
    // The batch's loss is the mean of the micro-shards' means (or the sum of their sums under
    // sum_over_batch, where total_items is the micro-shard's row count).
    const float scale = total_items_ == 1.0 ? 1.0f / static_cast<float>(m_) : 1.0f;
    for (Bucket& b : buckets_) {
      size_t at = b.params.size();
      for (size_t q = 0; q < b.params.size(); ++q) {
        Tensor& p = params_[b.params[q]];
        const size_t n = static_cast<size_t>(p.numel());
        p.zero_grad();
        if (b.sum[q] != 0) {
          if (scale != 1.0f)
            for (size_t e = 0; e < n; ++e) b.sum[at + e] *= scale;
          p.set_grad(from_host(b.sum.data() + at, p.shape(), p.device()));
        }
        at += n;
      }
    }
    LossTerms out;
    for (size_t k = 0; k < t; ++k) {
      double s = 0;
      for (int64_t j = 0; j < m_; ++j) s += terms[static_cast<size_t>(j) * t + k];
      Tensor v = Tensor::full(Shape{}, s / static_cast<double>(m_), DType::f64, device);
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
    size_t floats = 0;           // flags + gradients
    size_t ready = 0;            // parameters announced in the current backward
    std::vector<float> send;     // local slots of `floats`: flags, then gradients
    std::vector<float> out, in, mine, whole, sum;
    Phase phase = Phase::idle;
    dist::Communicator::Request request = 0;
  };

  // Copies the bucket's flags and final gradients into slot j.
  void pack(Bucket& b, int64_t j) {
    float* flags = b.send.data() + static_cast<size_t>(j) * b.floats;
    float* grads = flags + b.params.size();
    TensorList defined;
    for (size_t q = 0; q < b.params.size(); ++q) {
      const Tensor g = params_[b.params[q]].grad();
      flags[q] = g.defined() ? 1.0f : 0.0f;
      if (g.defined()) defined.push_back(g);
    }
    std::vector<float> packed(b.floats);
    to_host(defined, packed.data());
    size_t at = 0, from = 0;
    for (size_t q = 0; q < b.params.size(); ++q) {
      const size_t n = static_cast<size_t>(params_[b.params[q]].numel());
      if (flags[q] != 0) std::memcpy(grads + at, packed.data() + from, n * sizeof(float));
      else std::memset(grads + at, 0, n * sizeof(float));  // no gradient: zeros
      from += flags[q] != 0 ? n : 0;
      at += n;
    }
  }

  // Starts the bucket's exchange once all local slots are packed.
  void start(Bucket& b) {
    const size_t n = static_cast<size_t>(comm_.size()), local = static_cast<size_t>(local_);
    if (ordered_) {
      // An ordered reduce-scatter, then an all-gather: process q receives chunk q of every
      // micro-shard's floats (MPI_Alltoall; source p's block holds micro-shards p·L..p·L+L−1,
      // so the blocks arrive in micro-shard order), adds them in the order 0..M−1, and the
      // summed chunks are all-gathered. Each process sends and receives about (L + 1)·P floats
      // (P gradients, L = M/N micro-shards per process), about what a ring all-reduce moves
      // when M = N, instead of the M·P of all-gathering every micro-shard's gradient.
      const size_t chunk = chunk_of(b);
      b.out.assign(n * local * chunk, 0.0f);
      b.in.resize(n * local * chunk);
      for (size_t q = 0; q < n; ++q)
        for (size_t j = 0; j < local; ++j) {
          const size_t lo = std::min(b.floats, q * chunk), hi = std::min(b.floats, lo + chunk);
          std::memcpy(b.out.data() + (q * local + j) * chunk, b.send.data() + j * b.floats + lo,
                      (hi - lo) * sizeof(float));
        }
      b.request = comm_.ialltoall(b.out.data(), local * chunk * sizeof(float), b.in.data(),
                                  kScatterLane);
      b.phase = Phase::scatter;
    } else {
      // This process's micro-shards in order, then MPI's sum over processes (its order).
      b.sum.assign(b.send.begin(), b.send.begin() + static_cast<std::ptrdiff_t>(b.floats));
      for (size_t j = 1; j < local; ++j)
        for (size_t i = 0; i < b.floats; ++i) b.sum[i] += b.send[j * b.floats + i];
      b.request = comm_.iallreduce_sum(b.sum.data(), b.sum.size(), kScatterLane);
      b.phase = Phase::gather;
    }
    started_.push_back(&b);
  }

  // Moves the started exchanges on as far as they go without waiting (or to the end). MPI
  // matches collectives by the order each process starts them, per communicator. The reduce-
  // scatters start in bucket order (the order backward finishes them, the same everywhere), but
  // when one completes, and so when its all-gather can start, differs between processes: so
  // the all-gathers have a lane of their own, and a bucket's starts only after those of every
  // bucket started before it.
  void advance(bool block) {
    auto complete = [&](Bucket& b) {
      if (!block) return comm_.test(b.request);
      comm_.wait(b.request);
      return true;
    };
    bool in_order = true;  // every earlier bucket is past its reduce-scatter
    for (Bucket* bp : started_) {
      Bucket& b = *bp;
      if (b.phase == Phase::scatter) {
        if (!in_order || !complete(b)) {
          in_order = false;
          continue;
        }
        const size_t chunk = chunk_of(b);
        b.mine.assign(b.in.begin(), b.in.begin() + static_cast<std::ptrdiff_t>(chunk));
        for (size_t k = 1; k < static_cast<size_t>(m_); ++k)
          for (size_t i = 0; i < chunk; ++i) b.mine[i] += b.in[k * chunk + i];
        b.whole.resize(static_cast<size_t>(comm_.size()) * chunk);
        b.request = comm_.iallgather(b.mine.data(), chunk * sizeof(float), b.whole.data(),
                                     kGatherLane);
        b.phase = Phase::gather;
      }
      if (b.phase == Phase::gather && complete(b)) {
        if (ordered_)
          b.sum.assign(b.whole.begin(), b.whole.begin() + static_cast<std::ptrdiff_t>(b.floats));
        b.phase = Phase::done;
      }
    }
  }

  size_t chunk_of(const Bucket& b) const {
    const size_t n = static_cast<size_t>(comm_.size());
    return (b.floats + n - 1) / n;
  }

  dist::Communicator& comm_;
  TensorList params_;
  int64_t local_, m_;
  bool ordered_;
  std::vector<Bucket> buckets_;
  std::vector<Bucket*> started_;  // in the order their exchanges started (the same everywhere)
  std::vector<size_t> bucket_of_;
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
  // posterior (read_log's KL per latent) and, for auxiliary updates, the first codes.
  const int64_t d = outs[0].posterior.dim();
  const bool codes = !aux_.empty();
  const int64_t per_row = 1 + 2 * d + (codes ? d : 0);
  const size_t slot = static_cast<size_t>(rows * per_row);
  std::vector<float> mine(static_cast<size_t>(local) * slot), all(static_cast<size_t>(m) * slot);
  for (int64_t j = 0; j < local; ++j) {
    NoGradGuard ng;
    const DiagonalGaussian& q = outs[static_cast<size_t>(j)].posterior;
    TensorList ts = {ins[static_cast<size_t>(j)].kl, q.mean(), q.logvar()};
    if (codes) ts.push_back(first_sample(outs[static_cast<size_t>(j)].z));
    to_host(ts, mine.data() + static_cast<size_t>(j) * slot);
  }
  comm.allgather(mine.data(), mine.size() * sizeof(float), all.data());
  // Column blocks of the batch (kl | mean | logvar | codes), micro-shards in order.
  std::vector<float> whole(all.size());
  const int64_t widths[4] = {1, d, d, d};
  size_t at = 0;
  std::vector<Tensor> parts;
  for (int c = 0, col = 0; c < (codes ? 4 : 3); col += static_cast<int>(widths[c]), ++c) {
    const size_t begin = at;
    for (int64_t k = 0; k < m; ++k) {
      const float* src = all.data() + static_cast<size_t>(k) * slot + rows * col;
      std::memcpy(whole.data() + at, src, static_cast<size_t>(rows * widths[c]) * sizeof(float));
      at += static_cast<size_t>(rows * widths[c]);
    }
    parts.push_back(from_host(whole.data() + begin, c == 0 ? Shape{batch} : Shape{batch, d},
                              device_));
  }
  StepResult r;
  r.schedule = controller_->update(mean(parts[0]));
  r.posterior = DiagonalGaussian::from_logvar(parts[1], parts[2]);

  // 3. The objective and backward per micro-shard, then the combined gradient and one update.
  GradExchange main(comm, opt_->params(), local, m, options_.ordered, options_.bucket_bytes);
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
  r.terms = main.finish(device_);
  opt_->step();

  // 4. Auxiliary updates: whole-batch inputs drawn once from the gathered codes (the same on
  // every process), the update's loss per micro-shard, combined the same way.
  for (auto& [a, o] : aux_) {
    const TensorList whole_inputs = a->batch_inputs(parts[3], gen);
    GradExchange ex(comm, a->parameters(), local, m, options_.ordered, options_.bucket_bytes);
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
    LossTerms c = ex.finish(device_);
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
