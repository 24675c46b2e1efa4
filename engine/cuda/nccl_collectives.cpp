// The CUDA backend's collectives: NCCL on the device's memory, for data-parallel training
// (engine/dist/collectives.h). Without NCCL in the build, CudaBackend::collectives returns
// nullptr and gradients cross processes through host copies and MPI.
//
// Each lane is an NCCL communicator; all of them run on one stream of the collectives' own, so an
// exchange overlaps the kernels queued after its start (the backward of earlier layers): a start
// records an event on the device's compute stream and makes the collectives' stream wait for it
// (the producers of the send buffer), enqueues the NCCL call, and records a completion event.
// test() asks that event; wait() makes the compute stream wait for it, without blocking the
// host. One stream for every lane, because NCCL kernels of two communicators on two streams can
// wait on each other's peers and hang unless every rank launched them in the same order (NCCL's
// guide, "Using multiple NCCL communicators concurrently"); on one stream they run in the order
// they were started, which collectives.h asks to be the same on every process across lanes
// too. Processes that share a GPU exchange through the host (NCCL needs a GPU per rank). The buffers come from the compute stream's caching allocator and stay with
// their owner until a test() or wait() has ordered the compute stream after the NCCL call, so
// their reuse cannot overtake it. The communicators are set up once, from a unique id that
// process 0 makes and dist::Communicator's all-gather hands to the others.
//
// NCCL is loaded with dlopen (libnccl.so.2) the first time collectives are asked for, not
// linked: the plugin loads where NCCL is absent (NCCL is not part of the CUDA toolkit; a node
// may lack it), and gradients then go through host copies, with the reason on the start line.
#include <memory>
#include <string>
#include <type_traits>

#include "engine/config.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/dist/collectives.h"
#include "engine/dist/communicator.h"

#if UNRAVEL_HAVE_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <cstring>
#include <map>
#include <vector>

#include "engine/check.h"
#include "engine/cuda/cuda_check.h"

namespace unravel {

namespace {

// The NCCL entry points used here, from libnccl.so.2 (loaded once; `error` says why not).
struct NcclApi {
  decltype(&ncclGetVersion) GetVersion = nullptr;
  decltype(&ncclGetErrorString) GetErrorString = nullptr;
  decltype(&ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&ncclCommInitRank) CommInitRank = nullptr;
  decltype(&ncclAllGather) AllGather = nullptr;
  decltype(&ncclAllReduce) AllReduce = nullptr;
  decltype(&ncclSend) Send = nullptr;
  decltype(&ncclRecv) Recv = nullptr;
  decltype(&ncclGroupStart) GroupStart = nullptr;
  decltype(&ncclGroupEnd) GroupEnd = nullptr;
  std::string error;
};

const NcclApi& nccl() {
  static const NcclApi api = [] {
    NcclApi a;
    void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      a.error = e ? e : "libnccl.so.2 could not be loaded";
      return a;
    }
    auto bind = [&](auto& f, const char* name) {
      f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(h, name));
      if (!f && a.error.empty()) a.error = fmt::format("libnccl.so.2 has no {}", name);
    };
    bind(a.GetVersion, "ncclGetVersion");
    bind(a.GetErrorString, "ncclGetErrorString");
    bind(a.GetUniqueId, "ncclGetUniqueId");
    bind(a.CommInitRank, "ncclCommInitRank");
    bind(a.AllGather, "ncclAllGather");
    bind(a.AllReduce, "ncclAllReduce");
    bind(a.Send, "ncclSend");
    bind(a.Recv, "ncclRecv");
    bind(a.GroupStart, "ncclGroupStart");
    bind(a.GroupEnd, "ncclGroupEnd");
    return a;
  }();
  return api;
}

#define UNRAVEL_NCCL(expr)                                                               \
  do {                                                                                   \
    ncclResult_t unravel_nccl_r_ = (expr);                                               \
    if (unravel_nccl_r_ != ncclSuccess)                                                  \
      throw_error(fmt::format("NCCL error {} ({}) in {} at {}:{}",                       \
                              static_cast<int>(unravel_nccl_r_),                         \
                              nccl().GetErrorString(unravel_nccl_r_), #expr, __FILE__,   \
                              __LINE__));                                                \
  } while (0)

class NcclCollectives final : public dist::Collectives {
 public:
  NcclCollectives(int device, dist::Communicator& world) : device_(device) {
    cuda::stream_for(device_);  // makes the device current
    name_ = nccl_version();
    const int n = world.size(), rank = world.rank();
    for (int lane = 0; lane < dist::Communicator::kLanes; ++lane) {
      ncclUniqueId id{};
      if (rank == 0) UNRAVEL_NCCL(nccl().GetUniqueId(&id));
      std::vector<ncclUniqueId> ids(static_cast<size_t>(n));
      world.allgather(&id, sizeof id, ids.data());
      UNRAVEL_NCCL(nccl().CommInitRank(&comms_[lane], n, ids[0], rank));
    }
    UNRAVEL_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    size_ = n;
  }
  // The communicators and streams live as long as the process (collectives() keeps this object
  // to the end): at exit the driver may already be shutting down, and NCCL's own teardown then
  // fails.
  ~NcclCollectives() override = default;

  std::string name() const override { return name_; }
  bool host_timed() const override { return false; }

  Request allgather(const void* send, size_t bytes, void* recv, int lane) override {
    return enqueue(lane, [&](ncclComm_t c, cudaStream_t s) {
      UNRAVEL_NCCL(nccl().AllGather(send, recv, bytes, ncclChar, c, s));
    });
  }
  Request alltoall(const void* send, size_t bytes, void* recv, int lane) override {
    return enqueue(lane, [&](ncclComm_t c, cudaStream_t s) {
      UNRAVEL_NCCL(nccl().GroupStart());
      for (int q = 0; q < size_; ++q) {
        const size_t at = static_cast<size_t>(q) * bytes;
        UNRAVEL_NCCL(nccl().Send(static_cast<const char*>(send) + at, bytes, ncclChar, q, c, s));
        UNRAVEL_NCCL(nccl().Recv(static_cast<char*>(recv) + at, bytes, ncclChar, q, c, s));
      }
      UNRAVEL_NCCL(nccl().GroupEnd());
    });
  }
  Request allreduce_sum(float* data, size_t n, int lane) override {
    return enqueue(lane, [&](ncclComm_t c, cudaStream_t s) {
      UNRAVEL_NCCL(nccl().AllReduce(data, data, n, ncclFloat, ncclSum, c, s));
    });
  }

  bool test(Request r) override {
    auto it = pending_.find(r);
    UNRAVEL_CHECK(it != pending_.end(), "NCCL collectives: request {} is not pending", r);
    cuda::stream_for(device_);
    const cudaError_t e = cudaEventQuery(it->second);
    if (e == cudaErrorNotReady) return false;
    UNRAVEL_CUDA(e);
    release(it);
    return true;
  }
  void wait(Request r) override {
    auto it = pending_.find(r);
    UNRAVEL_CHECK(it != pending_.end(), "NCCL collectives: request {} is not pending", r);
    UNRAVEL_CUDA(cudaStreamWaitEvent(cuda::stream_for(device_), it->second, 0));
    release(it);
  }

 private:
  template <class F> Request enqueue(int lane, F&& call) {
    UNRAVEL_CHECK(lane >= 0 && lane < dist::Communicator::kLanes, "NCCL collectives: lane {} of {}",
                  lane, dist::Communicator::kLanes);
    cudaStream_t compute = cuda::stream_for(device_), s = stream_;
    cudaEvent_t ready = nullptr, done = nullptr;
    UNRAVEL_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    UNRAVEL_CUDA(cudaEventRecord(ready, compute));
    UNRAVEL_CUDA(cudaStreamWaitEvent(s, ready, 0));
    UNRAVEL_CUDA(cudaEventDestroy(ready));  // released once the wait above has used it
    call(comms_[lane], s);
    UNRAVEL_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    UNRAVEL_CUDA(cudaEventRecord(done, s));
    pending_.emplace(next_, done);
    return next_++;
  }
  void release(std::map<Request, cudaEvent_t>::iterator it) {
    UNRAVEL_CUDA(cudaEventDestroy(it->second));
    pending_.erase(it);
  }

  int device_ = 0, size_ = 1;
  std::string name_;
  ncclComm_t comms_[dist::Communicator::kLanes] = {};
  cudaStream_t stream_ = nullptr;  // every lane's calls, in the order they were started
  std::map<Request, cudaEvent_t> pending_;
  Request next_ = 0;
};

}  // namespace

std::string nccl_version() {
  const NcclApi& api = nccl();
  if (!api.error.empty()) return fmt::format("no NCCL ({})", api.error);
  int v = 0;
  if (api.GetVersion(&v) != ncclSuccess) return "NCCL (version unknown)";
  return fmt::format("NCCL {}.{}.{}", v / 10000, v / 100 % 100, v % 100);
}

std::unique_ptr<dist::Collectives> CudaBackend::collectives(Device device,
                                                            dist::Communicator& world) {
  // NCCL takes one GPU per rank of a communicator ("Duplicate GPU detected" otherwise, or a
  // hang): ranks that share a GPU (more processes than GPUs on a node, or --device cuda:0 for
  // all) exchange through the host instead. Every rank gathers every rank's GPU UUID, so all
  // reach the same decision.
  cudaDeviceProp prop{};
  UNRAVEL_CUDA(cudaGetDeviceProperties(&prop, device.index));
  std::vector<cudaUUID_t> uuids(static_cast<size_t>(world.size()));
  world.allgather(&prop.uuid, sizeof prop.uuid, uuids.data());
  for (size_t a = 0; a < uuids.size(); ++a)
    for (size_t b = a + 1; b < uuids.size(); ++b)
      if (std::memcmp(&uuids[a], &uuids[b], sizeof(cudaUUID_t)) == 0)
        return dist::host_staged_collectives(
            world, device,
            fmt::format("processes {} and {} share one GPU, and NCCL needs a GPU of its own per "
                        "process",
                        a, b));
  if (!nccl().error.empty())
    return dist::host_staged_collectives(world, device,
                                         fmt::format("NCCL not loaded: {}", nccl().error));
  return std::make_unique<NcclCollectives>(device.index, world);
}

}  // namespace unravel

#else

namespace unravel {

std::string nccl_version() { return "no NCCL (gradients through the host)"; }

std::unique_ptr<dist::Collectives> CudaBackend::collectives(Device, dist::Communicator&) {
  return nullptr;  // no NCCL in this build: through the host
}

}  // namespace unravel

#endif
