// datasets/isolated.h: a third-party parser in a forked child.
#include "datasets/isolated.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "engine/check.h"

namespace unravel {

namespace {

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

/// Closes both ends of a pipe on scope exit (those still open).
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

}  // namespace

std::string run_isolated(const std::string& what, const std::string& library,
                         const std::function<std::string()>& work, bool isolate) {
  if (!isolate) return work();
  Pipe p;
  UNRAVEL_CHECK(::pipe(p.fd) == 0, "{}: cannot create a pipe to read it with {} in a child "
                "process: {}", what, library, std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  UNRAVEL_CHECK(pid >= 0, "{}: cannot start a child process to read it with {}: {}", what,
                library, std::strerror(errno));
  if (pid == 0) {
    // The child: the answer is one tag byte ('O' bytes or 'E' message) and the payload.
    ::close(p.fd[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(111);  // the parent died before prctl
    // The default dispositions, none blocked: a crash ends the child by its signal (not in a
    // handler the parent installed: a test framework's, a sanitizer's, Python's faulthandler),
    // and Ctrl-C or SIGTERM ends it at once (the parent handles its own copy of the signal).
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGINT, SIGTERM, SIGHUP,
                    SIGQUIT, SIGPIPE})
      ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::string out;
    try {
      out = work();
      out.insert(out.begin(), 'O');
    } catch (const std::exception& e) {
      out = std::string("E") + e.what();
    } catch (...) {
      out = "Ean unknown exception";
    }
    // _exit: no atexit handlers, static destructors or leak checks of the parent's state.
    ::_exit(write_all(p.fd[1], out.data(), out.size()) ? 0 : 112);
  }
  ::close(p.fd[1]);
  p.fd[1] = -1;
  std::string answer;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(p.fd[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    answer.append(buf, static_cast<size_t>(r));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !answer.empty()) {
    if (answer[0] == 'O') return answer.substr(1);
    throw Error(answer.substr(1));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    UNRAVEL_CHECK(sig != SIGINT && sig != SIGTERM && sig != SIGHUP && sig != SIGKILL, "{}: "
                  "reading it with {} was stopped (signal {}, SIG{})", what, library, sig,
                  name ? name : "?");
    UNRAVEL_CHECK(false, "{}: {} crashed reading it (signal {}, SIG{}): the file is corrupt or "
                  "truncated; the crash was contained in a child process", what, library, sig,
                  name ? name : "?");
  }
  UNRAVEL_CHECK(false, "{}: the child process reading it with {} ended with status {} and no "
                "answer (a sanitizer report or a crash inside {}: the file is corrupt or "
                "truncated)", what, library, WIFEXITED(status) ? WEXITSTATUS(status) : -1, library);
  return {};
}

}  // namespace unravel
