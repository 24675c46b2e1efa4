// dist::collectives(): MPI on host memory, a backend's own collectives, or MPI through host
// copies (collectives.h says when each is used).
#include "engine/dist/collectives.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/dist/communicator.h"

namespace unravel::dist {

namespace {

// CPU tensors: MPI reads and writes them in place.
class HostCollectives final : public Collectives {
 public:
  explicit HostCollectives(Communicator& comm) : comm_(comm) {}
  std::string name() const override { return "MPI (host memory)"; }
  Request allgather(const void* send, size_t bytes, void* recv, int lane) override {
    return comm_.iallgather(send, bytes, recv, lane);
  }
  Request alltoall(const void* send, size_t bytes, void* recv, int lane) override {
    return comm_.ialltoall(send, bytes, recv, lane);
  }
  Request allreduce_sum(float* data, size_t n, int lane) override {
    return comm_.iallreduce_sum(data, n, lane);
  }
  bool test(Request r) override { return comm_.test(r); }
  void wait(Request r) override { comm_.wait(r); }

 private:
  Communicator& comm_;
};

// A device without collectives of its own: the bytes are copied to the host at the start (a
// blocking read: it waits for the kernels that produce them), exchanged by MPI, and copied back
// to the device when the exchange completes.
class StagedCollectives final : public Collectives {
 public:
  StagedCollectives(Communicator& comm, Device device, std::string why)
      : comm_(comm), device_(device), why_(std::move(why)) {}
  std::string name() const override { return fmt::format("host copies and MPI ({})", why_); }
  Request allgather(const void* send, size_t bytes, void* recv, int lane) override {
    Staged s{read(send, bytes), std::vector<char>(bytes * static_cast<size_t>(comm_.size())),
             recv};
    const Request r = comm_.iallgather(s.send.data(), bytes, s.recv.data(), lane);
    return keep(r, std::move(s));
  }
  Request alltoall(const void* send, size_t bytes, void* recv, int lane) override {
    const size_t all = bytes * static_cast<size_t>(comm_.size());
    Staged s{read(send, all), std::vector<char>(all), recv};
    const Request r = comm_.ialltoall(s.send.data(), bytes, s.recv.data(), lane);
    return keep(r, std::move(s));
  }
  Request allreduce_sum(float* data, size_t n, int lane) override {
    Staged s{{}, read(data, n * sizeof(float)), data};  // reduced in place in the host copy
    const Request r = comm_.iallreduce_sum(reinterpret_cast<float*>(s.recv.data()), n, lane);
    return keep(r, std::move(s));
  }
  bool test(Request r) override {
    auto it = pending_.find(r);
    UNRAVEL_CHECK(it != pending_.end(), "collectives: request {} is not pending", r);
    if (!comm_.test(r)) return false;
    land(it);
    return true;
  }
  void wait(Request r) override {
    auto it = pending_.find(r);
    UNRAVEL_CHECK(it != pending_.end(), "collectives: request {} is not pending", r);
    comm_.wait(r);
    land(it);
  }

 private:
  // The host copies of one exchange (moving it keeps the buffers MPI works on in place).
  struct Staged {
    std::vector<char> send, recv;
    void* device_recv = nullptr;  ///< where recv lands on the device
  };
  // `bytes` bytes of the device at `src`, read to the host (waits for the kernels before).
  std::vector<char> read(const void* src, size_t bytes) {
    std::vector<char> host(bytes);
    if (bytes) backend(device_).copy_to_host(src, host.data(), bytes);
    return host;
  }
  // (Started before s moves in: the order in which a call's arguments are made is unspecified.)
  Request keep(Request r, Staged s) {
    pending_.emplace(r, std::move(s));
    return r;
  }
  void land(std::map<Request, Staged>::iterator it) {
    const Staged& s = it->second;
    if (!s.recv.empty())
      backend(device_).copy_from_host(s.recv.data(), s.device_recv, s.recv.size());
    pending_.erase(it);
  }

  Communicator& comm_;
  Device device_;
  std::string why_;  ///< why the bytes take this way
  std::map<Request, Staged> pending_;
};

}  // namespace

Collectives& collectives(const Device& device) {
  static std::mutex mu;
  // Leaked on purpose: a device library's collectives must not be torn down after the library.
  static auto* made = new std::map<std::tuple<int, int, bool>, std::unique_ptr<Collectives>>();
  const char* env = std::getenv("UNRAVEL_COLLECTIVES");
  const std::string choice = env ? env : "";
  UNRAVEL_CHECK(choice.empty() || choice == "device" || choice == "host",
                "UNRAVEL_COLLECTIVES='{}': expected 'device' (the default: the device's own "
                "collectives, such as NCCL, where it has them) or 'host' (through host copies "
                "and MPI)", choice);
  const bool staged = choice == "host" && !device.is_cpu();
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = (*made)[{static_cast<int>(device.kind), device.index, staged}];
  if (!slot) {
    Communicator& comm = world();
    if (device.is_cpu()) slot = std::make_unique<HostCollectives>(comm);
    else if (!staged) slot = backend(device).collectives(device, comm);
    if (!slot)
      slot = host_staged_collectives(comm, device,
                                     staged ? "UNRAVEL_COLLECTIVES=host"
                                            : device.str() + " has no collectives of its own");
  }
  return *slot;
}

std::unique_ptr<Collectives> host_staged_collectives(Communicator& world, const Device& device,
                                                     const std::string& why) {
  return std::make_unique<StagedCollectives>(world, device, why);
}

}  // namespace unravel::dist
