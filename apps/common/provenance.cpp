#include "apps/common/provenance.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "apps/build_info.h"
#include "apps/build_options.h"
#include "apps/common/run_dir.h"
#include "engine/backend.h"
#include "engine/config.h"
#include "engine/cpu/cpu_backend.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The -march of the build ("default": the toolchain's, x86-64 on Debian 12).
const char* build_march() { return *UNRAVEL_BUILD_CPU_ISA ? UNRAVEL_BUILD_CPU_ISA : "default"; }

json build_json() {
  return {{"version", UNRAVEL_VERSION},           {"code_version", UNRAVEL_GIT_DESCRIBE},
          {"buildtype", UNRAVEL_BUILD_TYPE},      {"cpu_isa", build_march()},
          {"compiler", UNRAVEL_BUILD_COMPILER},   {"sanitize", UNRAVEL_BUILD_SANITIZE},
          {"cuda", UNRAVEL_BUILD_CUDA != 0}};
}

std::string path_of(const std::string& run) { return (fs::path(run) / "provenance.json").string(); }

}  // namespace

std::string build_description() {
  return fmt::format("{} ({}, -march={}, {}{}{})", UNRAVEL_GIT_DESCRIBE, UNRAVEL_BUILD_TYPE,
                     build_march(), UNRAVEL_BUILD_COMPILER,
                     UNRAVEL_BUILD_CUDA ? ", CUDA" : "",
                     std::string(UNRAVEL_BUILD_SANITIZE) == "none" ? ""
                         : std::string(", sanitize=") + UNRAVEL_BUILD_SANITIZE);
}

void record_provenance(const std::string& run, const TrainConfig& c, const std::string& what) {
  json all = json::array();
  if (fs::exists(path_of(run))) {
    all = json::parse(read_text(path_of(run)), nullptr, false);
    if (!all.is_array()) all = json::array();  // unreadable: start again rather than stop training
  }
  const Device dev = Device::parse(c.device);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string runtime, loops;
  try {
    loops = cpu_isa();
    runtime = backend(dev).runtime_info();
    if (!dev.is_cpu()) runtime += "; host: " + backend(kCPU).runtime_info();
  } catch (const std::exception& e) {
    runtime = std::string("unknown (") + e.what() + ")";
  }
  all.push_back({{"what", what},
                 {"started", static_cast<long>(std::time(nullptr))},
                 {"host", host},
                 {"device", dev.str()},
                 {"precision", c.precision},
                 {"build", build_json()},
                 {"runtime", runtime},
                 // The CPU instruction set used by our own loops: the variant picked at run time
                 // (ops/cpu/dispatch_cpu.cpp); oneDNN's own ISA is in "runtime".
                 {"cpu_loops", loops}});
  write_text_atomic(path_of(run), all.dump(1));
}

void warn_if_other_build(const std::string& run) {
  if (!fs::exists(path_of(run))) return;
  json all = json::parse(read_text(path_of(run)), nullptr, false);
  if (!all.is_array() || all.empty() || !all.back().contains("build")) return;
  const json& was = all.back()["build"];
  const json now = build_json();
  std::string diff;
  for (const char* k : {"code_version", "buildtype", "cpu_isa", "compiler", "sanitize", "cuda"})
    if (was.value(k, json()) != now[k])
      diff += fmt::format("{}{} {} (now {})", diff.empty() ? "" : ", ", k, was.value(k, json()).dump(),
                          now[k].dump());
  // The run-time variant of the CPU loops: last bits may differ between variants.
  if (all.back().contains("cpu_loops") && all.back()["cpu_loops"].is_string()) {
    std::string now_loops;
    try {
      now_loops = cpu_isa();
    } catch (const std::exception&) {
    }
    const std::string was_loops = all.back()["cpu_loops"].get<std::string>();
    if (!was_loops.empty() && !now_loops.empty() && was_loops != now_loops)
      diff += fmt::format("{}CPU loops \"{}\" (now \"{}\")", diff.empty() ? "" : ", ", was_loops,
                          now_loops);
  }
  if (!diff.empty())
    std::fprintf(stderr, "warning: %s was trained by another build: %s; its numbers may differ "
                         "slightly from this build's\n", run.c_str(), diff.c_str());
}

}  // namespace unravel::apps
