// The sim device (see sim_backend.h): a locked arena, a kernel queue and counters around the CPU
// kernels. Every Backend call checks that its views lie in the arena, then queues a closure that
// runs the CPU kernel on the same views (retagged as CPU) when the queue is flushed. Memory
// layouts are the CPU's: the sim hands out the CPU's format ids under its own kind (a Layout of
// the sim backend) and retags them with the views, so blocked tensors live in sim memory and the
// CPU's conversions and layout-aware conv run on them there.
#include "engine/sim/sim_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <vector>

#include "engine/check.h"
#include "engine/dist/collectives.h"
#include "engine/dist/communicator.h"

namespace unravel {

namespace {

/// Address space reserved for sim memory (virtual only: pages are committed when first written).
constexpr size_t kReserve = size_t{32} << 30;
/// The queue runs by itself once it holds this many operations (a GPU would be executing them).
constexpr size_t kMaxQueued = 4096;

size_t page_size() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

/// The sim device's memory: one reserved address range carved by a bump pointer, behind the
/// caching allocator. Freed blocks are reused by size class in call order, which is safe because
/// the queue is one in-order stream (as a stream-ordered CUDA pool).
class SimArena final : public CachingAllocator {
 public:
  SimArena() {
    void* p = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    UNRAVEL_CHECK(p != MAP_FAILED, "sim device: cannot reserve {} GiB of address space: {}",
                  kReserve >> 30, std::strerror(errno));
    base_ = static_cast<char*>(p);
  }
  void empty_cache() override {}  // the range stays reserved: blocks stay cached

  bool owns(const void* p) const {
    auto c = static_cast<const char*>(p);
    return c >= base_ && c < base_ + kReserve;
  }
  /// The used part of the range becomes readable and writable (unlock) or inaccessible (lock).
  void protect(bool accessible) {
    const size_t used = (top_.load() + page_size() - 1) / page_size() * page_size();
    if (used == 0) return;
    int rc = mprotect(base_, used, accessible ? PROT_READ | PROT_WRITE : PROT_NONE);
    UNRAVEL_CHECK(rc == 0, "sim device: mprotect failed: {}", std::strerror(errno));
  }

 protected:
  void* fresh(size_t bytes) override {
    const size_t at = top_.fetch_add(bytes);
    if (at + bytes > kReserve) return nullptr;
    return base_ + at;
  }
  void release(void*, size_t) override {}
  const char* what() const override { return "sim device"; }

 private:
  char* base_ = nullptr;
  std::atomic<size_t> top_{0};
};

class SimBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::sim; }
  std::string name() const override { return "sim"; }
  int device_count(std::string*) const override { return 4; }
  Allocator& allocator() override { return arena_; }
  bool supports(Kernel k) const override {
    if (k == Kernel::graph) return !declined_[static_cast<size_t>(k)].load();
    return cpu().supports(k) && !declined_[static_cast<size_t>(k)].load();
  }

  void synchronize() override {
    UNRAVEL_CHECK(!recording_, "sim: synchronize while recording (a CUDA graph capture cannot wait)");
    ++stats_.syncs;
    flush();
  }

  // Recording: closures are kept instead of queued, then queued again on each replay, with the
  // arguments they were recorded with, as a CUDA graph replays its kernels.
  void capture_begin(Device) override {
    check(Kernel::graph);
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    UNRAVEL_CHECK(!recording_, "sim: capture_begin while already recording");
    run_queue();
    pool_ = arena_.begin_pool();
    recording_ = true;
    recorded_.clear();
  }
  std::unique_ptr<RecordedWork> capture_end(Device) override {
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    UNRAVEL_CHECK(recording_, "sim: capture_end without capture_begin");
    recording_ = false;
    arena_.end_pool();
    struct Recorded final : RecordedWork {
      SimBackend* be;
      std::vector<std::function<void()>> work;
      uint64_t pool;
      void replay() override {
        for (const auto& f : work) be->push(f);
      }
      size_t size() const override { return work.size(); }
      ~Recorded() override { be->arena_.release_pool(pool); }
    };
    auto r = std::make_unique<Recorded>();
    r->be = this;
    r->work.swap(recorded_);
    r->pool = pool_;
    return r;
  }

  std::unique_ptr<dist::Collectives> collectives(Device, dist::Communicator& world) override;
  /// Queues collective `what` on the buffers [p, p + bytes) of `bufs` and runs the queue (see
  /// SimCollectives).
  void queue_collective(const char* what,
                        std::initializer_list<std::pair<const void*, size_t>> bufs,
                        std::function<void()> f) {
    for (const auto& [p, bytes] : bufs)
      UNRAVEL_CHECK(owns(p, bytes), "sim {}: a buffer is not sim memory (a host or CPU pointer "
                    "given to the device's collectives)", what);
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    UNRAVEL_CHECK(!recording_, "sim {}: a collective while recording", what);
    push(std::move(f));
    run_queue();
  }

  void copy(const TensorView& src, const TensorView& dst) override {
    mine({&src, &dst}, "copy");
    push([=] { cpu().copy(host(src), host(dst)); });
  }
  void copy_to_host(const void* src, void* host_dst, size_t nbytes) override {
    UNRAVEL_CHECK(owns(src, nbytes), "sim copy_to_host: the source is not sim memory");
    UNRAVEL_CHECK(!recording_, "sim: a host read while recording (recorded work cannot read "
                  "values back; a CUDA graph capture would fail here)");
    ++stats_.host_reads;
    stats_.host_read_bytes += nbytes;
    ++stats_.syncs;
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    run_queue();
    arena_.protect(true);
    std::memcpy(host_dst, src, nbytes);
    arena_.protect(false);
  }
  void copy_from_host(const void* host_src, void* dst, size_t nbytes) override {
    UNRAVEL_CHECK(owns(dst, nbytes), "sim copy_from_host: the destination is not sim memory");
    UNRAVEL_CHECK(!arena_.owns(host_src), "sim copy_from_host: the source is sim memory, not the host");
    UNRAVEL_CHECK(!recording_, "sim: an upload from the host while recording (a CUDA graph "
                  "capture cannot copy from pageable host memory); upload before recording");
    ++stats_.uploads;
    stats_.upload_bytes += nbytes;
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(host_src),
                                                      static_cast<const char*>(host_src) + nbytes);
    push([=] { std::memcpy(dst, staged->data(), nbytes); });
  }
  void fill(const TensorView& y, double value) override {
    mine({&y}, "fill");
    push([=] { cpu().fill(host(y), value); });
  }
  void arange(const TensorView& y, double start, double step) override {
    check(Kernel::arange);
    mine({&y}, "arange");
    push([=] { cpu().arange(host(y), start, step); });
  }

  // Layouts: host-side queries answered by the CPU registry (declining layout_convert makes the
  // sim a backend without layouts); conversions queued like every kernel.
  uint32_t find_layout(std::string_view name) const override {
    return declined(Kernel::layout_convert) ? 0 : cpu().find_layout(name);
  }
  std::string layout_name(uint32_t format) const override { return cpu().layout_name(format); }
  int64_t layout_channel_block(uint32_t format) const override {
    return cpu().layout_channel_block(format);
  }
  uint32_t conv_chain_format(int64_t channels, DType dtype) const override {
    return declined(Kernel::layout_convert) ? 0 : cpu().conv_chain_format(channels, dtype);
  }
  size_t layout_nbytes(uint32_t format, const Shape& shape, DType dtype) const override {
    if (declined(Kernel::layout_convert)) unsupported(Kernel::layout_convert);  // a query, not a call
    return cpu().layout_nbytes(format, shape, dtype);
  }
  void convert_layout(const TensorView& src, const TensorView& dst) override {
    check(Kernel::layout_convert);
    mine({&src, &dst}, "convert_layout");
    push([=] { cpu().convert_layout(host(src), host(dst)); });
  }

  void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha) override {
    check(Kernel::unary);
    mine({&x, &y}, "unary");
    push([=] { cpu().unary(op, host(x), host(y), alpha); });
  }
  void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
              double alpha) override {
    check(Kernel::binary);
    mine({&a, &b, &y}, "binary");
    push([=] { cpu().binary(op, host(a), host(b), host(y), alpha); });
  }
  void where(const TensorView& c, const TensorView& a, const TensorView& b,
             const TensorView& y) override {
    check(Kernel::where);
    mine({&c, &a, &b, &y}, "where");
    push([=] { cpu().where(host(c), host(a), host(b), host(y)); });
  }
  void reduce(ReduceOp op, const TensorView& x, const TensorView& y) override {
    check(Kernel::reduce);
    mine({&x, &y}, "reduce");
    push([=] { cpu().reduce(op, host(x), host(y)); });
  }
  void arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) override {
    check(Kernel::arg_reduce);
    mine({&x, &y}, "arg_reduce");
    push([=] { cpu().arg_reduce(is_max, host(x), axis, host(y)); });
  }
  void gemm(bool ta, bool tb, double alpha, const TensorView& a, const TensorView& b, double beta,
            const TensorView& c, Precision precision = Precision::fp32) override {
    check(precision == Precision::bf16 ? Kernel::gemm_bf16 : Kernel::gemm);
    mine({&a, &b, &c}, "gemm");
    push([=] { cpu().gemm(ta, tb, alpha, host(a), host(b), beta, host(c), precision); });
  }
  void gather(const TensorView& x, int axis, const TensorView& index, const TensorView& y) override {
    check(Kernel::gather);
    mine({&x, &index, &y}, "gather");
    push([=] { cpu().gather(host(x), axis, host(index), host(y)); });
  }
  void scatter_add(const TensorView& src, int axis, const TensorView& index,
                   const TensorView& y) override {
    check(Kernel::scatter_add);
    mine({&src, &index, &y}, "scatter_add");
    push([=] { cpu().scatter_add(host(src), axis, host(index), host(y)); });
  }
  void index_select(const TensorView& x, int axis, const TensorView& index,
                    const TensorView& y) override {
    check(Kernel::index_select);
    mine({&x, &index, &y}, "index_select");
    push([=] { cpu().index_select(host(x), axis, host(index), host(y)); });
  }
  void index_add(const TensorView& src, int axis, const TensorView& index,
                 const TensorView& y) override {
    check(Kernel::index_add);
    mine({&src, &index, &y}, "index_add");
    push([=] { cpu().index_add(host(src), axis, host(index), host(y)); });
  }
  void conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                      const TensorView& y, const Conv2dParams& p) override {
    check(p.relu ? Kernel::conv2d_forward_relu : Kernel::conv2d_forward);
    if (p.precision == Precision::bf16) check(Kernel::conv2d_bf16);
    mine({&x, &w, &b, &y}, "conv2d_forward");
    push([=] { cpu().conv2d_forward(host(x), host(w), host(b), host(y), p); });
  }
  void conv2d_backward_data(const TensorView& dy, const TensorView& w, const TensorView& dx,
                            const Conv2dParams& p) override {
    check(Kernel::conv2d_backward_data);
    if (p.precision == Precision::bf16) check(Kernel::conv2d_bf16);
    mine({&dy, &w, &dx}, "conv2d_backward_data");
    push([=] { cpu().conv2d_backward_data(host(dy), host(w), host(dx), p); });
  }
  void conv2d_backward_weights(const TensorView& x, const TensorView& dy, const TensorView& dw,
                               const TensorView& db, const Conv2dParams& p) override {
    check(Kernel::conv2d_backward_weights);
    if (p.precision == Precision::bf16) check(Kernel::conv2d_bf16);
    mine({&x, &dy, &dw, &db}, "conv2d_backward_weights");
    push([=] { cpu().conv2d_backward_weights(host(x), host(dy), host(dw), host(db), p); });
  }
  void batch_norm_forward(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                          const TensorView& mean, const TensorView& var, bool training, double eps,
                          const TensorView& y, const TensorView& save_mean,
                          const TensorView& save_invstd) override {
    check(Kernel::batch_norm_forward);
    mine({&x, &gamma, &beta, &mean, &var, &y, &save_mean, &save_invstd}, "batch_norm_forward");
    push([=] {
      cpu().batch_norm_forward(host(x), host(gamma), host(beta), host(mean), host(var), training,
                               eps, host(y), host(save_mean), host(save_invstd));
    });
  }
  void batch_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& gamma,
                           const TensorView& save_mean, const TensorView& save_invstd,
                           const TensorView& dx, const TensorView& dgamma,
                           const TensorView& dbeta) override {
    check(Kernel::batch_norm_backward);
    mine({&dy, &x, &gamma, &save_mean, &save_invstd, &dx, &dgamma, &dbeta}, "batch_norm_backward");
    push([=] {
      cpu().batch_norm_backward(host(dy), host(x), host(gamma), host(save_mean), host(save_invstd),
                                host(dx), host(dgamma), host(dbeta));
    });
  }
  void pairwise_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                    const std::vector<double>& c, const TensorView& y, const TensorView& ga,
                    const TensorView& gb) override {
    check(Kernel::pairwise_imq);
    mine({&a, &b, &y, &ga, &gb}, "pairwise_imq");
    push([=] { cpu().pairwise_imq(mode, host(a), host(b), c, host(y), host(ga), host(gb)); });
  }
  void random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) override {
    check(Kernel::random);
    mine({&y}, "random");
    push([=] { cpu().random(op, st, a, b, host(y)); });
  }
  void random_permutation(PhiloxState st, const TensorView& y) override {
    check(Kernel::random_permutation);
    mine({&y}, "random_permutation");
    push([=] { cpu().random_permutation(st, host(y)); });
  }
  void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) override {
    check(Kernel::optimizer_step);
    std::vector<OptimSlot> hs;
    hs.reserve(slots.size());
    for (const OptimSlot& s : slots) {
      mine({&s.p, &s.g, &s.s0, &s.s1, &s.s2}, "optimizer_step");
      UNRAVEL_CHECK(!s.steps || owns(s.steps, sizeof(double)),
                    "sim optimizer_step: a step count is not in sim device memory");
      hs.push_back({host(s.p), host(s.g), host(s.s0), host(s.s1), host(s.s2), s.steps});
    }
    UNRAVEL_CHECK(!h.lr_device || owns(h.lr_device, sizeof(double)),
                  "sim optimizer_step: the learning rate is not in sim device memory");
    push([=] { cpu().optimizer_step(h, hs); });
  }

  SimStats stats() const {
    SimStats s;
    s.host_reads = stats_.host_reads;
    s.host_read_bytes = stats_.host_read_bytes;
    s.syncs = stats_.syncs;
    s.kernels = stats_.kernels;
    s.uploads = stats_.uploads;
    s.upload_bytes = stats_.upload_bytes;
    s.flushes = stats_.flushes;
    for (int k = 0; k < kNumKernels; ++k) s.calls[k] = stats_.calls[k];
    return s;
  }
  void reset_stats() {
    stats_.host_reads = stats_.host_read_bytes = stats_.syncs = stats_.kernels = 0;
    stats_.uploads = stats_.upload_bytes = stats_.flushes = 0;
    for (auto& c : stats_.calls) c = 0;
  }
  bool decline(Kernel k, bool on) { return declined_[static_cast<size_t>(k)].exchange(on); }
  bool owns(const void* p, size_t nbytes = 0) const {
    return arena_.owns(p) && (nbytes == 0 || arena_.owns(static_cast<const char*>(p) + nbytes - 1));
  }

 private:
  static Backend& cpu() { return backend(kCPU); }

  bool declined(Kernel k) const { return declined_[static_cast<size_t>(k)].load(); }
  void check(Kernel k) {
    if (declined(k)) unsupported(k);
    ++stats_.calls[static_cast<size_t>(k)];
  }
  /// Refuses views whose memory is not sim memory (a CPU tensor mixed with sim ones).
  void mine(std::initializer_list<const TensorView*> views, const char* op) const {
    for (const TensorView* v : views) {
      if (!v->data || v->numel() == 0) continue;
      UNRAVEL_CHECK(owns(v->data) && v->device.is_sim(),
                    "sim {}: an operand ({}{} on {}) is not in sim device memory; tensors of "
                    "different devices cannot be mixed", op, dtype_name(v->dtype), v->shape.str(),
                    v->device.str());
      UNRAVEL_CHECK(v->layout.is_strided() || v->layout.backend == DeviceKind::sim,
                    "sim {}: an operand ({}{}) has a layout format of the {} backend", op,
                    dtype_name(v->dtype), v->shape.str(), device_kind_name(v->layout.backend));
    }
  }
  /// The view as the CPU kernels see it: device and layout retagged as the CPU's (the format
  /// ids are the CPU's, so a blocked view stays blocked).
  static TensorView host(TensorView v) {
    v.device = kCPU;
    if (!v.layout.is_strided()) v.layout.backend = DeviceKind::cpu;
    return v;
  }

  void push(std::function<void()> f) {
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    ++stats_.kernels;
    if (recording_) {
      recorded_.push_back(std::move(f));
      return;
    }
    queue_.push_back(std::move(f));
    if (queue_.size() >= kMaxQueued) run_queue();
  }
  void flush() {
    std::lock_guard<std::recursive_mutex> lock(queue_mu_);
    run_queue();
  }
  /// Runs and empties the queue with the arena unlocked (caller holds queue_mu_).
  void run_queue() {
    if (queue_.empty()) return;
    ++stats_.flushes;
    std::vector<std::function<void()>> work;
    work.swap(queue_);
    arena_.protect(true);
    try {
      for (auto& f : work) f();
    } catch (const std::exception& e) {
      arena_.protect(false);
      throw_error(fmt::format("sim device: a queued kernel failed: {}", e.what()));
    }
    arena_.protect(false);
  }

  struct Counters {
    std::atomic<uint64_t> host_reads{0}, host_read_bytes{0}, syncs{0}, kernels{0}, uploads{0},
        upload_bytes{0}, flushes{0};
    std::array<std::atomic<uint64_t>, kNumKernels> calls{};
  };
  SimArena arena_;
  std::recursive_mutex queue_mu_;
  std::vector<std::function<void()>> queue_;
  bool recording_ = false;
  uint64_t pool_ = 0;
  std::vector<std::function<void()>> recorded_;
  Counters stats_;
  std::array<std::atomic<bool>, kNumKernels> declined_{};
};

// The sim's collectives: each is queued like a kernel and done by MPI on the sim memory when the
// queue reaches it, so it follows the kernels queued before it (the producers of its send
// buffer) and the kernels queued after it see its result, as NCCL's do on a CUDA stream. A GPU
// runs its stream by itself; the sim runs its queue only when the host synchronises, and a
// process blocked in a host MPI call while its peer's queue waits in a collective for it would
// deadlock. So the queue runs at once when a collective is queued: the one difference from a
// GPU (it is a flush, not a host read or a sync). As on GPUs, a collective is not seen complete
// at the same point on every process: process r's test() answers false the first 1000·r times it
// is asked about a request (process 0 sees it complete at once, the others much later). A caller
// that chose what to start from test()'s answers would then start the processes' calls in
// different orders, which the one queue turns into the hang it would be on NCCL's one stream
// (collectives.h).
class SimCollectives final : public dist::Collectives {
 public:
  SimCollectives(SimBackend& be, dist::Communicator& comm) : be_(be), comm_(comm) {}
  std::string name() const override { return "MPI in the sim device queue (stands in for NCCL)"; }
  Request allgather(const void* send, size_t bytes, void* recv, int) override {
    const size_t all = bytes * static_cast<size_t>(comm_.size());
    be_.queue_collective("allgather", {{send, bytes}, {recv, all}},
                         [&c = comm_, send, bytes, recv] { c.allgather(send, bytes, recv); });
    return issue();
  }
  Request alltoall(const void* send, size_t bytes, void* recv, int) override {
    const size_t all = bytes * static_cast<size_t>(comm_.size());
    be_.queue_collective("alltoall", {{send, all}, {recv, all}},
                         [&c = comm_, send, bytes, recv] { c.alltoall(send, bytes, recv); });
    return issue();
  }
  Request allreduce_sum(float* data, size_t n, int) override {
    be_.queue_collective("allreduce_sum", {{data, n * sizeof(float)}},
                         [&c = comm_, data, n] { c.allreduce_sum(data, n); });
    return issue();
  }
  bool test(Request r) override {
    auto it = pending_.find(r);
    UNRAVEL_CHECK(it != pending_.end(), "sim collectives: request {} is not pending", r);
    if (it->second > 0) {
      --it->second;
      return false;
    }
    pending_.erase(it);
    return true;
  }
  void wait(Request r) override {  // the queue ran it when it was started
    UNRAVEL_CHECK(pending_.erase(r) == 1, "sim collectives: request {} is not pending", r);
  }

 private:
  Request issue() {
    pending_.emplace(next_, 1000 * comm_.rank());
    return next_++;
  }

  SimBackend& be_;
  dist::Communicator& comm_;
  std::map<Request, int> pending_;  // started, not yet released: the "not yet" answers left
  Request next_ = 0;
};

std::unique_ptr<dist::Collectives> SimBackend::collectives(Device, dist::Communicator& world) {
  return std::make_unique<SimCollectives>(*this, world);
}

SimBackend& sim() {
  // Leaked on purpose: tensors with static storage duration may outlive main().
  static SimBackend* b = new SimBackend();
  return *b;
}

}  // namespace

Backend& sim_backend() { return sim(); }
SimStats sim_stats() { return sim().stats(); }
void sim_reset_stats() { sim().reset_stats(); }
bool sim_decline(Kernel k, bool decline) { return sim().decline(k, decline); }
bool sim_owns(const void* p) { return sim().owns(p); }

}  // namespace unravel
