// doctest runner. Exits 77 (Meson: SKIP) when --require-cuda is given and no GPU is present, and
// when UNRAVEL_CPU_ISA names a CPU loop variant this CPU cannot run (the per-variant reruns of
// tests/meson.build on a machine without AVX-512, say); other bad names fail.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"

int main(int argc, char** argv) {
  // (Not in test_cpu_isa's child process, which checks the error a kernel call throws.)
  const char* isa = std::getenv("UNRAVEL_CPU_ISA");
  if (isa && !std::getenv("UNRAVEL_ISA_TEST_CHILD")) {
    try {
      std::fprintf(stderr, "CPU loops: %s (UNRAVEL_CPU_ISA=%s)\n", unravel::cpu_isa().c_str(), isa);
    } catch (const unravel::Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return std::string(e.what()).find("cannot run") != std::string::npos ? 77 : 1;
    }
  }
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
