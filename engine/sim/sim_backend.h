// The stand-in device `sim`: the CPU kernels served through the Backend interface under the rules
// a GPU imposes, with teeth, so that CI (which has no GPU) proves every path a GPU would take is
// device-clean:
//  * memory is its own: one reserved address range, kept PROT_NONE (mprotect) except while the
//    queue runs, so host code that dereferences a sim pointer crashes; a kernel given memory
//    outside that range (a CPU tensor mixed in) is refused with a message;
//  * kernels do not run when called: they are queued, as on a GPU stream, and run in order when
//    the host synchronises (synchronize(), a copy to the host) or the queue grows long, so
//    reading results without a synchronisation sees nothing;
//  * every host read (copy to the host: item(), to_vector(), to(cpu)) and every synchronisation
//    is counted (sim_stats()), so tests can assert how many a training step makes.
// Uploads (copy_from_host) snapshot the host bytes at call time, like a pinned staging copy.
#pragma once
#include <array>
#include <cstdint>

#include "engine/backend.h"

namespace unravel {

/// What the sim device has done since the last sim_reset_stats().
struct SimStats {
  uint64_t host_reads = 0;       ///< copies to the host (each a blocking read)
  uint64_t host_read_bytes = 0;
  uint64_t syncs = 0;            ///< synchronisations: explicit, or by a host read
  uint64_t kernels = 0;          ///< queued operations (kernels, device copies, uploads)
  uint64_t uploads = 0;          ///< copies from the host
  uint64_t upload_bytes = 0;
  uint64_t flushes = 0;          ///< times the queue ran (syncs + when it grew long)
  /// Backend calls per kernel family (a bf16 convolution counts under its pass and conv2d_bf16).
  std::array<uint64_t, kNumKernels> calls{};
};

/// The sim backend (one for every sim:N).
Backend& sim_backend();
/// Counters since the last reset.
SimStats sim_stats();
void sim_reset_stats();
/// Makes the sim backend decline (or accept again) kernel family k, so tests can run the
/// composite fallbacks that op code takes where a backend lacks a fused kernel. Returns the
/// previous setting.
bool sim_decline(Kernel k, bool decline);
/// True when p points into sim device memory.
bool sim_owns(const void* p);

}  // namespace unravel
