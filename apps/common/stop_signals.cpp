// Stop signals taken by one watcher thread (see stop_signals.h).
#include "apps/common/stop_signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace unravel::apps {

namespace {
std::atomic<int> g_stop{0};
std::atomic<bool> g_defer{false};

extern "C" void on_stop(int sig) {
  // Async-signal-safe only: atomics and _exit.
  if (!g_defer.load() || g_stop.exchange(sig) != 0) _exit(128 + sig);
}
}  // namespace

void install_stop_signals() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // Started before the mask below, so the watcher alone keeps the signals unblocked.
    std::thread([] {
      for (;;) pause();
    }).detach();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  });
}

int stop_signal() { return g_stop.load(); }

DeferStop::DeferStop() {
  g_stop.store(0);
  g_defer.store(true);
}

DeferStop::~DeferStop() { g_defer.store(false); }

}  // namespace unravel::apps
