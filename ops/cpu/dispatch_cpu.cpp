// Run-time ISA dispatch of the CPU loops (baseline flags; see ops/cpu/isa.h and kernels.h).
//
// The build compiles the loop sources once per variant: "base" (the build's -march: the
// toolchain default unless -Dcpu_isa is set), "avx2" (x86-64-v3: AVX2, FMA, BMI1/2, F16C,
// LZCNT, MOVBE) and "avx512" (x86-64-v4: + AVX-512 F/BW/CD/DQ/VL). On first use the most
// capable variant this CPU runs is chosen — __builtin_cpu_supports("x86-64-v4") / ("x86-64-v3"),
// which also check that the OS saves the vector registers — unless UNRAVEL_CPU_ISA=base|avx2|
// avx512 names one (refused with an error naming the missing features when the CPU lacks it).
// Every CpuBackend kernel method below is one call through that variant's KernelTable.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/cpu_backend.h"
#include "ops/cpu/kernels.h"

namespace unravel {

namespace cpu {
namespace isa_base { const KernelTable& kernel_table(); }
#if UNRAVEL_CPU_ISA_AVX2
namespace isa_avx2 { const KernelTable& kernel_table(); }
#endif
#if UNRAVEL_CPU_ISA_AVX512
namespace isa_avx512 { const KernelTable& kernel_table(); }
#endif
}  // namespace cpu

namespace {

struct Variant {
  const char* name;
  const cpu::KernelTable& (*table)();
  const char* level;                  // the x86-64 level it is compiled for ("" = baseline)
  std::vector<const char*> features;  // what it needs, for messages
};

// Least capable first.
const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"base", &cpu::isa_base::kernel_table, "", {}},
#if UNRAVEL_CPU_ISA_AVX2
      {"avx2", &cpu::isa_avx2::kernel_table, "x86-64-v3",
       {"sse4.2", "popcnt", "avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe"}},
#endif
#if UNRAVEL_CPU_ISA_AVX512
      {"avx512", &cpu::isa_avx512::kernel_table, "x86-64-v4",
       {"sse4.2", "popcnt", "avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe",
        "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}},
#endif
  };
  return v;
}

// __builtin_cpu_supports needs string literals, hence the lists. GCC only: clang 14 knows neither
// the x86-64-vN levels nor some feature names, and a clang build has the base variant only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define UNRAVEL_CPU_PROBE 1
#else
#define UNRAVEL_CPU_PROBE 0
#endif

bool cpu_runs(const Variant& v) {
#if UNRAVEL_CPU_PROBE
  __builtin_cpu_init();
  const std::string level = v.level;
  if (level == "x86-64-v3") return __builtin_cpu_supports("x86-64-v3");
  if (level == "x86-64-v4") return __builtin_cpu_supports("x86-64-v4");
#endif
  return v.level[0] == '\0';
}

bool cpu_has(const std::string& f) {
#if UNRAVEL_CPU_PROBE
#define UNRAVEL_HAS_(name) if (f == name) return __builtin_cpu_supports(name);
  UNRAVEL_HAS_("sse4.2") UNRAVEL_HAS_("popcnt") UNRAVEL_HAS_("avx") UNRAVEL_HAS_("avx2")
  UNRAVEL_HAS_("fma") UNRAVEL_HAS_("bmi") UNRAVEL_HAS_("bmi2") UNRAVEL_HAS_("f16c")
  UNRAVEL_HAS_("lzcnt") UNRAVEL_HAS_("movbe") UNRAVEL_HAS_("avx512f") UNRAVEL_HAS_("avx512bw")
  UNRAVEL_HAS_("avx512cd") UNRAVEL_HAS_("avx512dq") UNRAVEL_HAS_("avx512vl")
#undef UNRAVEL_HAS_
#endif
  (void)f;
  return false;
}

std::string runnable_names() {
  std::string s;
  for (const Variant& v : variants())
    if (cpu_runs(v)) s += (s.empty() ? "" : ", ") + std::string(v.name);
  return s;
}

// The variant called `name`; throws a clear Error when this build lacks it or this CPU
// cannot run it. `origin` says where the name came from.
const Variant& find_variant(const std::string& name, const char* origin) {
  std::string known;
  for (const Variant& v : variants()) {
    known += (known.empty() ? "" : ", ") + std::string(v.name);
    if (name != v.name) continue;
    if (!cpu_runs(v)) {
      std::string missing;
      for (const char* f : v.features)
        if (!cpu_has(f)) missing += (missing.empty() ? "" : ", ") + std::string(f);
      UNRAVEL_CHECK(false,
                    "{}: this CPU cannot run the '{}' loops ({} needs {}; missing: {}); it runs: {}",
                    origin, name, v.level, fmt::join(v.features, ", "),
                    missing.empty() ? "a feature of that level" : missing, runnable_names());
    }
    return v;
  }
  UNRAVEL_CHECK(false, "{}: unknown CPU ISA '{}' (this build has: {}; this CPU runs: {})", origin,
                name, known, runnable_names());
  return variants().front();
}

std::atomic<const cpu::KernelTable*> g_table{nullptr};
std::mutex g_mutex;

// First use: UNRAVEL_CPU_ISA from the environment, else the most capable runnable variant.
// A bad UNRAVEL_CPU_ISA throws here (and again on every later use).
const cpu::KernelTable* select_initial() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (const cpu::KernelTable* t = g_table.load(std::memory_order_acquire)) return t;
  const cpu::KernelTable* t = nullptr;
  const char* env = std::getenv("UNRAVEL_CPU_ISA");
  if (env && *env && std::string(env) != "auto") {
    t = &find_variant(env, fmt::format("UNRAVEL_CPU_ISA={}", env).c_str()).table();
  } else {
    for (const Variant& v : variants())
      if (cpu_runs(v)) t = &v.table();
  }
  g_table.store(t, std::memory_order_release);
  return t;
}

inline const cpu::KernelTable& kernels() {
  const cpu::KernelTable* t = g_table.load(std::memory_order_acquire);
  if (!t) [[unlikely]] t = select_initial();
  return *t;
}

}  // namespace

std::string cpu_isa() { return kernels().isa; }

std::vector<std::string> cpu_isas() {
  std::vector<std::string> out;
  for (const Variant& v : variants())
    if (cpu_runs(v)) out.push_back(v.name);
  return out;
}

void set_cpu_isa(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const cpu::KernelTable* t = nullptr;
  if (name == "auto") {
    for (const Variant& v : variants())
      if (cpu_runs(v)) t = &v.table();
  } else {
    t = &find_variant(name, "set_cpu_isa").table();
  }
  g_table.store(t, std::memory_order_release);
}

#define UNRAVEL_CPU_KERNEL_FORWARD_(name, params, args) \
  void CpuBackend::name params { kernels().name args; }
UNRAVEL_CPU_KERNELS(UNRAVEL_CPU_KERNEL_FORWARD_)
#undef UNRAVEL_CPU_KERNEL_FORWARD_

}  // namespace unravel
