// Collectives on one device's memory between the processes of a data-parallel run: how
// gradients and per-row values cross processes without the caller knowing where they live.
// Every process must start the same collectives in the same order, across lanes too: MPI
// matches them per lane (dist::Communicator's), but a device may run every lane's in one queue
// (NCCL on one stream, sim's queue), where a call that one process started before another lane's
// and its peer after it waits for ever. When a request completes differs between processes, so
// what to start must not depend on test()'s answers. The buffers must stay allocated, and the
// send buffers unchanged, until the operation has completed.
//
// The implementations, chosen per device by collectives() below:
//  * CPU tensors: MPI on the tensors' memory (dist::Communicator's non-blocking collectives).
//  * A backend's own (Backend::collectives): NCCL on a CUDA device when the build found NCCL,
//    and on `sim` MPI run inside the device queue. These are ordered with the device's queued
//    work as a CUDA stream orders them: a start waits for the kernels queued before it (the
//    producers of `send`), and once test() is true or wait() has returned, kernels queued later
//    see the result; wait() need not block the host.
//  * Any other device: through the host (a blocking copy out at the start, MPI, a copy back in
//    at completion): how a CUDA build without NCCL exchanges. UNRAVEL_COLLECTIVES=host in the
//    environment takes this way on every device (to compare with NCCL, or to get around it);
//    UNRAVEL_COLLECTIVES=device (or unset) is the default above.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace unravel {
struct Device;
}

namespace unravel::dist {

class Collectives {
 public:
  using Request = int64_t;
  virtual ~Collectives() = default;
  /// What moves the bytes, for the start line of a run: "NCCL 2.28.9", "MPI (host memory)" …
  virtual std::string name() const = 0;
  /// True when these collectives run MPI on a host thread, so Communicator::seconds() holds
  /// their time; false when they run on the device's own streams (NCCL), outside any host
  /// clock: then the host time in collectives says nothing about the exchange.
  virtual bool host_timed() const { return true; }
  /// recv (size()·bytes bytes) = every process's `bytes` bytes of send, in rank order.
  virtual Request allgather(const void* send, size_t bytes, void* recv, int lane) = 0;
  /// Block q of send (`bytes` bytes at send + q·bytes) to process q, received there as block
  /// r (this process's rank) of recv (size()·bytes bytes).
  virtual Request alltoall(const void* send, size_t bytes, void* recv, int lane) = 0;
  /// data = the element-wise sum over the processes of their n floats, in place (the library's
  /// order of addition).
  virtual Request allreduce_sum(float* data, size_t n, int lane) = 0;
  /// True once work queued on the device from now on sees r's result (r is then released);
  /// never blocks.
  virtual bool test(Request r) = 0;
  /// Returns once work queued on the device from now on sees r's result, and releases r.
  virtual void wait(Request r) = 0;
};

/// The collectives for tensors on `device` between the processes of world(), made on first
/// use and kept for the life of the process.
Collectives& collectives(const Device& device);

class Communicator;
/// Collectives on `device` through host copies and MPI, named with `why` they are used (for a
/// backend whose own cannot run here, such as CUDA where NCCL does not load).
std::unique_ptr<Collectives> host_staged_collectives(Communicator& world, const Device& device,
                                                     const std::string& why);

}  // namespace unravel::dist
