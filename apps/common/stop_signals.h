// Ctrl-C and SIGTERM for the command line. While training (a DeferStop is alive) the first stop
// signal is only recorded, so the loop can finish its step, write a checkpoint and exit 130; a
// second one, or any stop signal outside training, ends the process at once (exit 128 + signal;
// every file is written atomically, so nothing half-written is left).
//
// The signals are taken by one watcher thread: every other thread blocks them. The reason is a
// bug of oneDNN 2.6 (Debian's): its JIT sgemm kernels point rsp into the heap while they run, so a
// signal delivered to a thread inside one has its frame pushed onto the heap and corrupts it
// (oneDNN issue #4845, fixed upstream by PR #4855). Before this, 3 of 30 interrupted trainings here
// aborted with "corrupted size vs. prev_size"; blocking the signals in the compute threads (the
// main thread and the OpenMP workers it starts) means no signal frame is ever pushed there.
#pragma once

namespace unravel::apps {

/// Installs the handler and the watcher thread and blocks SIGINT / SIGTERM in the calling thread
/// (and so in every thread it starts later). Call first in main(), before any work.
void install_stop_signals();
/// The first stop signal received while training (0 = none).
int stop_signal();

/// RAII: while alive, the first stop signal is recorded (stop_signal()) instead of ending the
/// process. Clears any earlier record.
class DeferStop {
 public:
  DeferStop();
  ~DeferStop();
  DeferStop(const DeferStop&) = delete;
  DeferStop& operator=(const DeferStop&) = delete;
};

}  // namespace unravel::apps
