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
//    logged terms. One fused exchange after the last backward of an update: the tape's backward
//    is one call with no per-leaf completion hook, so bucketed all-reduce overlapped with
//    backward is not done.
//  * Transfers go through the host (MPI without device awareness); on the CPU device that is a
//    memcpy of each gradient.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/check.h"
#include "engine/dist/communicator.h"
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
class GradExchange {
 public:
  GradExchange(const TensorList& params, int64_t local) : params_(params), local_(local) {
    for (const Tensor& p : params_) numel_ += static_cast<size_t>(p.numel());
  }

  // Stores micro-shard j's terms and the parameters' current gradients.
  void add(int64_t j, const LossTerms& t) {
    const auto scalars = t.scalars();
    TensorList values;
    for (const auto& [n, v] : scalars) values.push_back(v);
    if (j == 0) {
      for (const auto& [n, v] : scalars) names_.push_back(n);
      total_items_ = t.total_items;
      const size_t floats = params_.size() + numel_;
      slot_ = (names_.size() * sizeof(double) + floats * sizeof(float) + 7) / 8 * 8;
      send_.assign(static_cast<size_t>(local_) * slot_, 0);
    }
    UNRAVEL_CHECK(scalars.size() == names_.size() && t.total_items == total_items_,
                  "micro-shards: micro-shard {} logged {} terms, the first {}", j, scalars.size(),
                  names_.size());
    uint8_t* s = send_.data() + static_cast<size_t>(j) * slot_;
    const std::vector<double> v = read_scalars(values);
    std::memcpy(s, v.data(), v.size() * sizeof(double));
    float* flags = reinterpret_cast<float*>(s + names_.size() * sizeof(double));
    float* grads = flags + params_.size();
    TensorList defined;
    for (size_t i = 0; i < params_.size(); ++i) {
      const Tensor g = params_[i].grad();
      flags[i] = g.defined() ? 1.0f : 0.0f;
      if (g.defined()) defined.push_back(g);
    }
    // Parameters without a gradient hold zeros (the buffer starts zeroed; rewrite each step).
    std::vector<float> packed(numel_);
    to_host(defined, packed.data());
    size_t at = 0, from = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      const size_t n = static_cast<size_t>(params_[i].numel());
      if (flags[i] != 0) std::memcpy(grads + at, packed.data() + from, n * sizeof(float));
      else std::memset(grads + at, 0, n * sizeof(float));
      from += flags[i] != 0 ? n : 0;
      at += n;
    }
  }

  // Exchanges the slots and sets each parameter's gradient to the combination of the M
  // micro-shards' (undefined where none had one). Returns the terms: each the mean over the M
  // micro-shards in order (in f64, so a term equal on every micro-shard, such as β, stays
  // exact), as 0-d f64 tensors on `device`, "total" as the total.
  LossTerms combine(dist::Communicator& comm, int64_t m, bool ordered, Device device) {
    const size_t t = names_.size(), np = params_.size(), floats = np + numel_;
    const size_t n = static_cast<size_t>(comm.size()), local = static_cast<size_t>(local_);
    auto floats_of = [&](size_t j) {
      return reinterpret_cast<const float*>(send_.data() + j * slot_ + t * sizeof(double));
    };
    std::vector<float> acc(floats);
    if (ordered) {
      // An ordered reduce-scatter, then an all-gather: process q receives chunk q of every
      // micro-shard's floats (MPI_Alltoall; source p's block holds micro-shards p·L..p·L+L−1,
      // so the blocks arrive in micro-shard order), adds them in the order 0..M−1, and the
      // summed chunks are all-gathered. Each process sends and receives about (L + 1)·P floats
      // (P gradients, L = M/N micro-shards per process), about what a ring all-reduce moves
      // when M = N, instead of the M·P of all-gathering every micro-shard's gradient.
      const size_t chunk = (floats + n - 1) / n;
      std::vector<float> out(n * local * chunk, 0.0f), in(n * local * chunk);
      for (size_t q = 0; q < n; ++q)
        for (size_t j = 0; j < local; ++j) {
          const size_t lo = std::min(floats, q * chunk), hi = std::min(floats, lo + chunk);
          std::memcpy(out.data() + (q * local + j) * chunk, floats_of(j) + lo,
                      (hi - lo) * sizeof(float));
        }
      comm.alltoall(out.data(), local * chunk * sizeof(float), in.data());
      std::vector<float> mine(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(chunk));
      for (size_t k = 1; k < static_cast<size_t>(m); ++k)
        for (size_t i = 0; i < chunk; ++i) mine[i] += in[k * chunk + i];
      std::vector<float> whole(n * chunk);
      comm.allgather(mine.data(), chunk * sizeof(float), whole.data());
      std::memcpy(acc.data(), whole.data(), floats * sizeof(float));
    } else {
      // This process's micro-shards in order, then MPI's sum over processes (its order).
      std::memcpy(acc.data(), floats_of(0), floats * sizeof(float));
      for (size_t j = 1; j < local; ++j)
        for (size_t i = 0; i < floats; ++i) acc[i] += floats_of(j)[i];
      comm.allreduce_sum(acc.data(), acc.size());
    }
    // Every micro-shard's logged terms on every process (a few doubles each).
    std::vector<double> mine_terms(t * local), terms(t * static_cast<size_t>(m));
    for (size_t j = 0; j < local; ++j)
      std::memcpy(mine_terms.data() + j * t, send_.data() + j * slot_, t * sizeof(double));
    comm.allgather(mine_terms.data(), mine_terms.size() * sizeof(double), terms.data());
    // The batch's loss is the mean of the micro-shards' means (or the sum of their sums under
    // sum_over_batch, where total_items is the micro-shard's row count).
    const float scale = total_items_ == 1.0 ? 1.0f / static_cast<float>(m) : 1.0f;
    size_t at = np;
    for (size_t i = 0; i < np; ++i) {
      Tensor& p = params_[i];
      const size_t n = static_cast<size_t>(p.numel());
      p.zero_grad();
      if (acc[i] != 0) {
        if (scale != 1.0f)
          for (size_t e = 0; e < n; ++e) acc[at + e] *= scale;
        p.set_grad(from_host(acc.data() + at, p.shape(), p.device()));
      }
      at += n;
    }
    LossTerms out;
    for (size_t k = 0; k < t; ++k) {
      double s = 0;
      for (int64_t j = 0; j < m; ++j) s += terms[j * t + k];
      Tensor v = Tensor::full(Shape{}, s / static_cast<double>(m), DType::f64, device);
      if (names_[k] == "total") out.total = v;
      else out.add(names_[k], v);
    }
    return out;
  }

 private:
  TensorList params_;
  int64_t local_;
  size_t numel_ = 0, slot_ = 0;
  std::vector<std::string> names_;
  double total_items_ = 1.0;
  std::vector<uint8_t> send_;
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
  GradExchange main(opt_->params(), local);
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
    t.total.backward(Tensor(), j + 1 < local);
    main.add(j, t);
  }
  r.terms = main.combine(comm, m, options_.ordered, device_);
  opt_->step();

  // 4. Auxiliary updates: whole-batch inputs drawn once from the gathered codes (the same on
  // every process), the update's loss per micro-shard, combined the same way.
  for (auto& [a, o] : aux_) {
    const TensorList whole_inputs = a->batch_inputs(parts[3], gen);
    GradExchange ex(a->parameters(), local);
    for (int64_t j = 0; j < local; ++j) {
      TensorList rows_j;
      const int64_t lo = (first + j) * rows;
      for (const Tensor& w : whole_inputs) rows_j.push_back(clone(slice(w, 0, lo, lo + rows)));
      o->zero_grad();  // the main loss reached these parameters too
      LossTerms t = a->shard_loss(rows_j);
      t.total.backward();
      ex.add(j, t);
    }
    LossTerms c = ex.combine(comm, m, options_.ordered, device_);
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
