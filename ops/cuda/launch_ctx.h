// Kernel contexts: what a kernel body asks of the launch it runs in, so the per-thread code of
// the CUDA kernels (ops/cuda/*_body.h) is plain C++ that both nvcc and the host compiler build.
//
// A body is `template <class Ctx> UNRAVEL_HD void xxx_body(Ctx& ctx, args...)` and reads
//   ctx.block_idx_x(), ctx.block_idx_y(), ctx.thread_idx_x(), ctx.block_dim_x(), ctx.grid_dim_x()
//   ctx.template shared<T>()   the block's dynamic shared memory (the launch's shared bytes)
//   ctx.sync()                 the block barrier
//
// * DeviceCtx (nvcc only): blockIdx / threadIdx / extern __shared__ / __syncthreads. A kernel is
//   a thin wrapper: `__global__ void k(args) { DeviceCtx c; xxx_body(c, args); }`.
// * HostCtx + emulate_launch (host compiler only): runs a launch on the CPU, for CI machines
//   without a GPU (tests/engine/test_cuda_emulated.cpp). The threads of a block are real,
//   concurrent std::threads (kept in a pool across launches) that share one shared-memory
//   buffer and meet at a std::barrier in sync(), so a missing barrier or a race in a reduction
//   tree gives a wrong result (or a ThreadSanitizer report), not a silently sequential right
//   one. Blocks run one after another (the same threads go on to the next block). Shared memory is filled with 0xFF bytes (NaN
//   for floats, -1 for integers) before every block, as a GPU leaves it uninitialised. A block
//   whose threads disagree about barriers (one reaches the end of the body while another waits
//   in sync(): __syncthreads in divergent code) aborts with a message instead of hanging.
//   Launches outside CUDA's limits (block > 1024 threads, grid.y > 65535, shared > 48 KiB) throw.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/hd.h"

#if !defined(__CUDACC__)
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#endif

namespace unravel::cuda {

/// A launch extent (CUDA's dim3, without CUDA headers).
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// Everything <<<grid, block, shared>>> takes besides the stream.
struct LaunchDims {
  Dim3 grid;
  Dim3 block;
  size_t shared = 0;  ///< dynamic shared memory bytes per block
};

#if defined(__CUDACC__)

/// The kernel context of real CUDA threads.
struct DeviceCtx {
  __device__ __forceinline__ unsigned block_idx_x() const { return blockIdx.x; }
  __device__ __forceinline__ unsigned block_idx_y() const { return blockIdx.y; }
  __device__ __forceinline__ unsigned thread_idx_x() const { return threadIdx.x; }
  __device__ __forceinline__ unsigned block_dim_x() const { return blockDim.x; }
  __device__ __forceinline__ unsigned grid_dim_x() const { return gridDim.x; }
  template <class T> __device__ __forceinline__ T* shared() const {
    extern __shared__ __align__(16) unsigned char unravel_dynamic_smem[];
    return reinterpret_cast<T*>(unravel_dynamic_smem);
  }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
};

inline dim3 to_dim3(Dim3 d) { return dim3(d.x, d.y, d.z); }

/// kernel<<<UNRAVEL_LAUNCH_DIMS(dims, stream)>>>(args...)
#define UNRAVEL_LAUNCH_DIMS(d, stream) \
  ::unravel::cuda::to_dim3((d).grid), ::unravel::cuda::to_dim3((d).block), (d).shared, (stream)

#else  // host compiler: the emulation

namespace emu {

/// CUDA's limits on a launch (compute capability 9.x without opt-in shared memory).
constexpr unsigned kMaxBlockThreads = 1024;
constexpr unsigned kMaxGridX = 2147483647u, kMaxGridYZ = 65535;
constexpr size_t kMaxShared = 48 * 1024;

/// The threads that emulate a block's threads, kept across launches (creating hundreds of
/// threads per launch would dominate the emulation's time). run(n, f) calls f(0) on the caller
/// and f(1) .. f(n - 1) on n - 1 pool threads, concurrently, and returns when all are done.
/// One launch at a time; a body must not start another launch.
class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }
  ~ThreadPool() {
    stop_.store(true);
    for (auto& w : workers_) w->go.release();
    for (auto& w : workers_) w->thread.join();
  }

  void run(unsigned n, const std::function<void(unsigned)>& f) {
    std::lock_guard<std::mutex> lock(run_mu_);
    while (workers_.size() + 1 < n) {
      auto w = std::make_unique<Worker>();
      Worker* raw = w.get();
      const unsigned t = static_cast<unsigned>(workers_.size()) + 1;
      w->thread = std::thread([this, raw, t] { loop(raw, t); });
      workers_.push_back(std::move(w));
    }
    job_ = &f;
    pending_.store(n - 1);
    for (unsigned i = 0; i + 1 < n; ++i) workers_[i]->go.release();
    f(0);
    for (unsigned p = pending_.load(); p != 0; p = pending_.load()) pending_.wait(p);
    job_ = nullptr;
  }

 private:
  struct Worker {
    std::thread thread;
    std::binary_semaphore go{0};
  };
  ThreadPool() = default;

  void loop(Worker* w, unsigned t) {
    for (;;) {
      w->go.acquire();  // job_ was written before the release
      if (stop_.load()) return;
      (*job_)(t);
      if (pending_.fetch_sub(1) == 1) pending_.notify_one();
    }
  }

  std::mutex run_mu_;
  std::vector<std::unique_ptr<Worker>> workers_;
  const std::function<void(unsigned)>* job_ = nullptr;
  std::atomic<unsigned> pending_{0};
  std::atomic<bool> stop_{false};
};

/// What one emulated launch shares between its threads.
class Launch {
 public:
  Launch(Dim3 grid, unsigned threads, size_t shared_bytes)
      : grid_(grid), threads_(threads), shared_bytes_(shared_bytes),
        smem_(static_cast<unsigned char*>(
            ::operator new(shared_bytes ? shared_bytes : 1, std::align_val_t{16}))),
        arrival_(threads, kNone), syncs_(threads, 0), bar_(threads, Completion{this}) {
    poison();
  }
  ~Launch() { ::operator delete(smem_, std::align_val_t{16}); }
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  Dim3 grid() const { return grid_; }
  unsigned threads() const { return threads_; }
  unsigned char* smem() const { return smem_; }
  size_t shared_bytes() const { return shared_bytes_; }

  /// Thread t waits in sync().
  void sync(unsigned t) {
    arrival_[t] = kSync;
    ++syncs_[t];
    bar_.arrive_and_wait();
  }
  /// Thread t has finished the body for the current block.
  void end_block(unsigned t) {
    arrival_[t] = kEnd;
    bar_.arrive_and_wait();
  }
  uint64_t block_count() const { return uint64_t{grid_.x} * grid_.y * grid_.z; }

 private:
  enum Arrival : unsigned char { kNone, kSync, kEnd };

  struct Completion {
    Launch* l;
    void operator()() noexcept { l->phase_done(); }
  };

  void poison() {
    if (shared_bytes_) std::memset(smem_, 0xFF, shared_bytes_);
  }

  /// Runs once per barrier phase, after every thread arrived and before any leaves.
  void phase_done() noexcept {
    const Arrival first = arrival_[0];
    for (unsigned t = 1; t < threads_; ++t) {
      if (arrival_[t] != first) {
        const unsigned waiting = first == kSync ? 0 : t, ended = first == kSync ? t : 0;
        std::fprintf(stderr,
                     "emulate_launch: block %llu: thread %u reached the end of the kernel after "
                     "%u sync() calls while thread %u waits in sync() number %u (a barrier in "
                     "divergent code)\n",
                     static_cast<unsigned long long>(block_), ended, syncs_[ended], waiting,
                     syncs_[waiting]);
        std::abort();
      }
    }
    if (first == kEnd) {
      ++block_;
      for (unsigned t = 0; t < threads_; ++t) syncs_[t] = 0;
      poison();
    }
  }

  Dim3 grid_;
  unsigned threads_;
  size_t shared_bytes_;
  unsigned char* smem_;
  std::vector<Arrival> arrival_;
  std::vector<unsigned> syncs_;
  uint64_t block_ = 0;
  std::barrier<Completion> bar_;
};

}  // namespace emu

/// The kernel context of one emulated thread.
class HostCtx {
 public:
  HostCtx(emu::Launch& l, unsigned bx, unsigned by, unsigned t)
      : l_(&l), bx_(bx), by_(by), t_(t) {}
  unsigned block_idx_x() const { return bx_; }
  unsigned block_idx_y() const { return by_; }
  unsigned thread_idx_x() const { return t_; }
  unsigned block_dim_x() const { return l_->threads(); }
  unsigned grid_dim_x() const { return l_->grid().x; }
  template <class T> T* shared() const {
    if (l_->shared_bytes() < sizeof(T)) {
      std::fprintf(stderr, "emulate_launch: the body uses shared memory but the launch has %zu "
                   "bytes\n", l_->shared_bytes());
      std::abort();
    }
    return reinterpret_cast<T*>(l_->smem());
  }
  void sync() const { l_->sync(t_); }

 private:
  emu::Launch* l_;
  unsigned bx_, by_, t_;
};

/// Runs body(HostCtx&) as the launch <<<grid, block, shared_bytes>>> would on a GPU: block.x
/// concurrent threads per block, blocks in order (x fastest, then y). 1-D blocks, 2-D grids.
template <class Body>
void emulate_launch(Dim3 grid, Dim3 block, size_t shared_bytes, Body&& body) {
  using namespace emu;
  if (block.y != 1 || block.z != 1 || grid.z != 1)
    throw std::invalid_argument("emulate_launch: only 1-D blocks and 2-D grids are emulated");
  if (block.x < 1 || block.x > kMaxBlockThreads)
    throw std::invalid_argument("emulate_launch: " + std::to_string(block.x) +
                                " threads per block (CUDA allows 1 to 1024)");
  if (grid.x < 1 || grid.x > kMaxGridX || grid.y < 1 || grid.y > kMaxGridYZ || grid.z < 1 ||
      grid.z > kMaxGridYZ)
    throw std::invalid_argument("emulate_launch: grid (" + std::to_string(grid.x) + ", " +
                                std::to_string(grid.y) + ", " + std::to_string(grid.z) +
                                ") is outside CUDA's limits");
  if (shared_bytes > kMaxShared)
    throw std::invalid_argument("emulate_launch: " + std::to_string(shared_bytes) +
                                " bytes of shared memory (CUDA allows 48 KiB without opt-in)");
  Launch l(grid, block.x, shared_bytes);
  const uint64_t blocks = l.block_count();
  auto run = [&](unsigned t) {
    for (uint64_t b = 0; b < blocks; ++b) {
      const unsigned bx = static_cast<unsigned>(b % grid.x);
      const unsigned by = static_cast<unsigned>((b / grid.x) % grid.y);
      HostCtx c(l, bx, by, t);
      try {
        body(c);
      } catch (const std::exception& e) {  // the other threads would wait forever
        std::fprintf(stderr, "emulate_launch: a kernel body threw: %s\n", e.what());
        std::abort();
      }
      l.end_block(t);
    }
  };
  ThreadPool::instance().run(block.x, run);
}

template <class Body> void emulate_launch(const LaunchDims& d, Body&& body) {
  emulate_launch(d.grid, d.block, d.shared, static_cast<Body&&>(body));
}

#endif  // __CUDACC__

}  // namespace unravel::cuda
