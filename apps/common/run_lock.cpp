#include "apps/common/run_lock.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <utime.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string this_host() {
  char h[256] = {0};
  if (gethostname(h, sizeof(h) - 1) != 0) return "unknown";
  return h;
}

struct Holder {
  std::string host, slurm_job, token;
  long pid = 0;
  bool valid = false;
};

Holder read_holder(const std::string& path) {
  Holder h;
  std::ifstream in(path);
  if (!in) return h;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) return h;
  h.host = j.value("host", "");
  h.pid = j.value("pid", 0L);
  h.slurm_job = j.value("slurm_job", "");
  h.token = j.value("token", "");
  h.valid = true;
  return h;
}

std::string describe(const Holder& h) {
  if (!h.valid) return "an unreadable lock file";
  std::string s = fmt::format("host {}, pid {}", h.host, h.pid);
  if (!h.slurm_job.empty()) s += ", Slurm job " + h.slurm_job;
  return s;
}

/// Seconds since the lock file was last touched (its holder's heartbeat).
double age_seconds(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return 0;
  return std::difftime(std::time(nullptr), st.st_mtime);
}

/// Dead: same host and the pid is gone, or (any host) no heartbeat for kStaleSeconds.
/// A process of this host that is gone, or a zombie (killed, not yet reaped: an orphan waits
/// for PID 1, which may reap late).
bool process_gone(long pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');  // "pid (comm) S ...": comm may hold spaces
  return close != std::string::npos && close + 2 < text.size() &&
         (text[close + 2] == 'Z' || text[close + 2] == 'X');
}

/// (A live pid of this host whose lock went untouched is a reused pid: stale as well.)
bool is_stale(const std::string& path, const Holder& h) {
  if (h.valid && h.host == this_host() && h.pid > 0 && process_gone(h.pid)) return true;
  return age_seconds(path) > RunLock::kStaleSeconds;
}

}  // namespace

RunLock::RunLock(const std::string& run_dir) : path_((fs::path(run_dir) / ".lock").string()) {
  const char* job = std::getenv("SLURM_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* array = std::getenv("SLURM_ARRAY_JOB_ID");
  std::string slurm = job ? job : "";
  if (array && task) slurm = fmt::format("{}_{} ({})", array, task, slurm);
  token_ = fmt::format("{}:{}:{}", this_host(), getpid(),
                       std::chrono::steady_clock::now().time_since_epoch().count());
  json j = {{"host", this_host()}, {"pid", static_cast<long>(getpid())}, {"slurm_job", slurm},
            {"token", token_}, {"started", static_cast<long>(std::time(nullptr))}};
  const std::string tmp = path_ + "." + std::to_string(getpid()) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    UNRAVEL_CHECK(out.good(), "cannot lock run directory '{}': cannot write {} ({})", run_dir, tmp,
                  std::strerror(errno));
    out << j.dump() << "\n";
    out.flush();
    UNRAVEL_CHECK(out.good(), "cannot lock run directory '{}': writing {} failed ({})", run_dir,
                  tmp, std::strerror(errno));
  }
  for (int attempt = 0;; ++attempt) {
    if (link(tmp.c_str(), path_.c_str()) == 0) break;
    int err = errno;
    if (err != EEXIST) {
      fs::remove(tmp);
      UNRAVEL_CHECK(false, "cannot lock run directory '{}': link to {} failed ({})", run_dir,
                    path_, std::strerror(err));
    }
    Holder h = read_holder(path_);
    if (attempt < 3 && is_stale(path_, h)) {
      std::fprintf(stderr, "unravel: taking over the stale lock of %s (its holder, %s, is gone)\n",
                   run_dir.c_str(), describe(h).c_str());
      // Rename first: of two processes taking it over at once, one rename wins and the other
      // finds the new lock on its next attempt.
      std::string dead = path_ + ".stale." + std::to_string(getpid());
      if (std::rename(path_.c_str(), dead.c_str()) == 0) fs::remove(dead);
      continue;
    }
    fs::remove(tmp);
    UNRAVEL_CHECK(false, "run directory '{}' is being written by another process ({}); refusing to "
                  "write it too (remove {} if that process is gone)", run_dir, describe(h), path_);
  }
  fs::remove(tmp);
  // Confirm it is ours (a takeover race on a network file system could have replaced it).
  UNRAVEL_CHECK(read_holder(path_).token == token_,
                "run directory '{}' was locked by another process at the same moment ({})", run_dir,
                describe(read_holder(path_)));
  heartbeat_ = std::thread([this] {
    int waited = 0;
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (++waited * 200 >= kHeartbeatSeconds * 1000) {
        waited = 0;
        utime(path_.c_str(), nullptr);  // touch: the holder is alive
      }
    }
  });
}

RunLock::~RunLock() {
  stop_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  if (read_holder(path_).token == token_) fs::remove(path_);
}

std::string RunLock::holder(const std::string& run_dir) {
  std::string p = (fs::path(run_dir) / ".lock").string();
  if (!fs::exists(p)) return "";
  return describe(read_holder(p));
}

bool RunLock::held_by_live_writer(const std::string& run_dir) {
  std::string p = (fs::path(run_dir) / ".lock").string();
  if (!fs::exists(p)) return false;
  return !is_stale(p, read_holder(p));
}

}  // namespace unravel::apps
