// One writer per run directory. `unravel train` (new or resumed), a sweep task and reproduce
// hold RUN/.lock while they write; a second writer is refused with the holder's name (host, pid,
// Slurm job). The lock works on a network file system: it is created by link(2) of a unique
// temporary file (atomic on NFS, unlike O_EXCL on old clients), and its holder touches it every
// kHeartbeatSeconds, so that a holder on another host is known dead when its lock has not been
// touched for kStaleSeconds. A holder on this host is dead when its pid no longer exists. A stale
// lock is taken over with a message naming the dead holder.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace unravel::apps {

class RunLock {
 public:
  static constexpr int kHeartbeatSeconds = 30;
  static constexpr int kStaleSeconds = 300;

  /// Takes RUN/.lock (RUN must exist) or throws naming the live holder.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();  ///< removes the lock (if it is still ours)
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  /// Who holds the lock of `run_dir` ("" when none): "host H, pid P[, Slurm job J]".
  static std::string holder(const std::string& run_dir);
  /// True when `run_dir` is locked by a holder that is alive (as far as this host can tell).
  static bool held_by_live_writer(const std::string& run_dir);

 private:
  std::string path_, token_;
  std::atomic<bool> stop_{false};
  std::thread heartbeat_;
};

}  // namespace unravel::apps
