// CUDA backend: devices, streams, the caching device allocator, host transfers and the error
// helpers shared by ops/cuda. The kernel families are in ops/cuda/*.cu.
#include "engine/cuda/cuda_backend.h"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/check.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace cuda {

void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line) {
  throw_error(UNRAVEL_FORMAT("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(e),
                          cudaGetErrorString(e), what, file, line));
}

namespace {
constexpr int kMaxDevices = 16;
cudaStream_t g_streams[kMaxDevices] = {};
std::mutex g_stream_mu;
thread_local int t_current = -1;
}  // namespace

cudaStream_t stream_for(int device) {
  UNRAVEL_CHECK(device >= 0 && device < kMaxDevices, "cuda:{}: device index out of range", device);
  if (t_current != device) {
    UNRAVEL_CUDA(cudaSetDevice(device));
    t_current = device;
  }
  cudaStream_t s = g_streams[device];
  if (s == nullptr) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    if (g_streams[device] == nullptr) {
      UNRAVEL_CUDA(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamNonBlocking));
    }
    s = g_streams[device];
  }
  return s;
}

namespace {

struct TimingLog {
  std::mutex mu;
  std::vector<std::tuple<const char*, cudaEvent_t, cudaEvent_t>> events;
  static constexpr size_t kMax = 400000;
};

TimingLog* timing_log() {
  static TimingLog* log = [] () -> TimingLog* {
    const char* e = std::getenv("UNRAVEL_CUDA_TIMING");
    if (!e || std::string(e) != "1") return nullptr;
    auto* l = new TimingLog();
    std::atexit([] {
      TimingLog* t = timing_log();
      if (cudaDeviceSynchronize() != cudaSuccess) return;
      std::map<std::string, std::pair<double, int64_t>> sum;
      double total = 0;
      for (auto& [name, a, b] : t->events) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, a, b) == cudaSuccess) {
          sum[name].first += ms;
          sum[name].second += 1;
        }
      }
      for (auto& [n, v] : sum) total += v.first;
      std::vector<std::pair<double, std::string>> order;
      for (auto& [n, v] : sum) order.emplace_back(-v.first, n);
      std::sort(order.begin(), order.end());
      std::fprintf(stderr, "\nUNRAVEL_CUDA_TIMING: GPU time per Backend family (inclusive), %zu calls\n",
                   t->events.size());
      for (auto& [neg, n] : order)
        std::fprintf(stderr, "  %-26s %10.3f ms  %8lld calls  %8.2f us/call\n", n.c_str(), -neg,
                     static_cast<long long>(sum[n].second), -neg * 1000.0 / sum[n].second);
      for (auto& [name, a, b] : t->events) {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
      }
      t->events.clear();
    });
    return l;
  }();
  return log;
}

}  // namespace

FamilyTimer::FamilyTimer(const char* family, int device) {
  TimingLog* log = timing_log();
  if (!log) return;
  cudaStream_t s = stream_for(device);
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &st) != cudaSuccess || st != cudaStreamCaptureStatusNone) return;
  {
    std::lock_guard<std::mutex> lock(log->mu);
    if (log->events.size() >= TimingLog::kMax) return;
  }
  if (cudaEventCreate(&start_) != cudaSuccess) return;
  cudaEventRecord(start_, s);
  family_ = family;
  device_ = device;
}

FamilyTimer::~FamilyTimer() {
  if (!start_) return;
  cudaEvent_t end = nullptr;
  if (cudaEventCreate(&end) != cudaSuccess) return;
  cudaEventRecord(end, stream_for(device_));
  TimingLog* log = timing_log();
  std::lock_guard<std::mutex> lock(log->mu);
  log->events.emplace_back(family_, start_, end);
}

Scratch::Scratch(size_t nbytes) : n_(nbytes == 0 ? 1 : nbytes) {
  UNRAVEL_CUDA(cudaGetDevice(&device_));
  p_ = cuda_backend_instance().allocator_on(cuda_device(device_)).allocate(n_);
}
Scratch::~Scratch() {
  cuda_backend_instance().allocator_on(cuda_device(device_)).deallocate(p_, n_);
}

}  // namespace cuda

namespace {

/// One GPU's memory behind a caching allocator: cudaMalloc on that device on a miss only (each
/// device has its own allocator, so a block is only ever reused for the device it lives on). A
/// freed block is reused at once by later work: safe because each device has one in-order
/// stream, so a kernel that reads the old contents is queued before any kernel that writes the
/// new ones.
class DeviceAllocator final : public CachingAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}

 protected:
  void* fresh(size_t bytes) override {
    cuda::stream_for(device_);  // makes the device current
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  // Frees on the block's own device (as PyTorch's allocator does) and restores the current
  // device, which the callers' stream_for() cache relies on.
  void release(void* p, size_t) override {
    int prev = 0;
    const bool had = cudaGetDevice(&prev) == cudaSuccess;
    if (!had || prev != device_) (void)cudaSetDevice(device_);
    (void)cudaFree(p);
    if (had && prev != device_) (void)cudaSetDevice(prev);
  }
  const char* what() const override { return "cuda device"; }

 private:
  int device_;
};

}  // namespace

CudaBackend::CudaBackend() = default;
CudaBackend::~CudaBackend() = default;

CudaBackend& cuda_backend_instance() {
  static CudaBackend* b = new CudaBackend();  // never destroyed: kernels may run at exit
  return *b;
}

int CudaBackend::device_count(std::string* why) const {
  static int n = -1;
  static std::string reason;
  static std::once_flag once;
  std::call_once(once, [] {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      // Name the usual causes: no driver at all (cudaDriverGetVersion reports 0 when libcuda.so.1
      // cannot be loaded) and a driver older than the runtime this plugin was built with.
      int drv = 0, rt = 0;
      (void)cudaDriverGetVersion(&drv);
      (void)cudaRuntimeGetVersion(&rt);
      auto ver = [](int v) { return UNRAVEL_FORMAT("{}.{}", v / 1000, (v % 1000) / 10); };
      if (drv == 0)
        reason = "no NVIDIA driver is installed: libcuda.so.1 could not be loaded";
      else if (e == cudaErrorInsufficientDriver)
        reason = UNRAVEL_FORMAT("the NVIDIA driver supports CUDA up to {}, but this plugin needs "
                                "CUDA {} (update the driver)", ver(drv), ver(rt));
      else
        reason = UNRAVEL_FORMAT("the CUDA runtime found no usable GPU: {} ({})",
                                cudaGetErrorName(e), cudaGetErrorString(e));
      (void)cudaGetLastError();
      n = 0;
      return;
    }
    if (count == 0) {
      reason = "no CUDA device present";
      n = 0;
      return;
    }
    const size_t v = cudnnGetVersion();
    if (v / 10000 != CUDNN_MAJOR) {
      reason = UNRAVEL_FORMAT("cuDNN {} is loaded but this plugin was built against cuDNN {}.x", v,
                           CUDNN_MAJOR);
      n = 0;
      return;
    }
    n = count;
  });
  if (n == 0 && why) *why = reason;
  return n;
}

std::string CudaBackend::runtime_info() const {
  int rt = 0, drv = 0, dev = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  cudaDeviceProp prop{};
  std::string gpu = "no device";
  if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
    gpu = UNRAVEL_FORMAT("{} (sm_{}{})", prop.name, prop.major, prop.minor);
  (void)cudaGetLastError();
  return UNRAVEL_FORMAT("CUDA runtime {}.{}, driver {}.{}, cuDNN {}, {}, GPU {}", rt / 1000,
                        (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10, cudnnGetVersion(),
                        nccl_version(), gpu);
}

Allocator& CudaBackend::allocator_on(const Device& device) {
  UNRAVEL_CHECK(device.kind == DeviceKind::cuda && device.index >= 0 &&
                    device.index < cuda::kMaxDevices,
                "cuda allocator: {} is not a CUDA device index below {}", device.str(),
                cuda::kMaxDevices);
  static std::mutex mu;
  static DeviceAllocator* allocs[cuda::kMaxDevices] = {};  // never destroyed (exit order)
  std::lock_guard<std::mutex> lock(mu);
  if (allocs[device.index] == nullptr) allocs[device.index] = new DeviceAllocator(device.index);
  return *allocs[device.index];
}

Allocator& CudaBackend::allocator() {
  int d = 0;
  UNRAVEL_CUDA(cudaGetDevice(&d));
  return allocator_on(cuda_device(d));
}

void CudaBackend::synchronize() {
  for (int d = 0; d < cuda::kMaxDevices; ++d)
    if (cuda::g_streams[d] != nullptr) UNRAVEL_CUDA(cudaStreamSynchronize(cuda::g_streams[d]));
}

bool CudaBackend::supports(Kernel k) const {
  switch (k) {
    case Kernel::conv2d_forward_relu:  // ops/conv.cpp applies the activation separately
    case Kernel::layout_convert:       // no blocked formats: cuDNN takes NCHW
      return false;
    case Kernel::gemm_bf16:    // bf16 tensor cores, f32 accumulation (ops/cuda/gemm.cu)
    case Kernel::conv2d_bf16:  // bf16-rounded operands on TF32 tensor cores (ops/cuda/conv.cu)
      return true;
    case Kernel::graph:
      return true;
    default:
      return true;
  }
}

void CudaBackend::capture_begin(Device device) {
  cudaStream_t s = cuda::stream_for(device.index);
  auto& alloc = static_cast<CachingAllocator&>(allocator_on(device));
  pool_ = alloc.begin_pool();
  const cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) {
    alloc.end_pool();
    alloc.release_pool(pool_);
    cuda::throw_cuda_error(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
}

namespace {

class CudaGraph final : public RecordedWork {
 public:
  CudaGraph(cudaGraph_t g, cudaGraphExec_t exec, int device, uint64_t pool, size_t nodes)
      : g_(g), exec_(exec), device_(device), pool_(pool), nodes_(nodes) {}
  ~CudaGraph() override {
    cudaStreamSynchronize(cuda::stream_for(device_));
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(g_);
    static_cast<CachingAllocator&>(cuda_backend_instance().allocator_on(cuda_device(device_)))
        .release_pool(pool_);
  }
  void replay() override { UNRAVEL_CUDA(cudaGraphLaunch(exec_, cuda::stream_for(device_))); }
  size_t size() const override { return nodes_; }

 private:
  cudaGraph_t g_;
  cudaGraphExec_t exec_;
  int device_;
  uint64_t pool_;
  size_t nodes_;
};

}  // namespace

std::unique_ptr<RecordedWork> CudaBackend::capture_end(Device device) {
  cudaStream_t s = cuda::stream_for(device.index);
  auto& alloc = static_cast<CachingAllocator&>(allocator_on(device));
  cudaGraph_t g = nullptr;
  const cudaError_t e = cudaStreamEndCapture(s, &g);
  alloc.end_pool();
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (g) cudaGraphDestroy(g);
    alloc.release_pool(pool_);
    cuda::throw_cuda_error(e, "cudaStreamEndCapture (something in the recorded step synchronised "
                           "or copied from pageable host memory)", __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
  if (ie != cudaSuccess) {
    cudaGraphDestroy(g);
    alloc.release_pool(pool_);
    cuda::throw_cuda_error(ie, "cudaGraphInstantiate", __FILE__, __LINE__);
  }
  size_t nodes = 0;
  UNRAVEL_CUDA(cudaGraphGetNodes(g, nullptr, &nodes));
  return std::make_unique<CudaGraph>(g, exec, device.index, pool_, nodes);
}

void CudaBackend::copy_to_host(const void* src, void* host_dst, size_t nbytes) {
  if (nbytes == 0) return;
  cudaPointerAttributes attr{};
  UNRAVEL_CUDA(cudaPointerGetAttributes(&attr, src));
  cudaStream_t s = cuda::stream_for(attr.device >= 0 ? attr.device : 0);
  UNRAVEL_CUDA(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  UNRAVEL_CUDA(cudaStreamSynchronize(s));
}

void CudaBackend::copy_from_host(const void* host_src, void* dst, size_t nbytes) {
  if (nbytes == 0) return;
  cudaPointerAttributes attr{};
  UNRAVEL_CUDA(cudaPointerGetAttributes(&attr, dst));
  cudaStream_t s = cuda::stream_for(attr.device >= 0 ? attr.device : 0);
  // From pageable memory the call returns once the bytes are staged, so the caller may reuse
  // its buffer at once (the Backend contract).
  UNRAVEL_CUDA(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, s));
}

}  // namespace unravel
