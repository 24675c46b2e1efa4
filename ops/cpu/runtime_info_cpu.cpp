// CpuBackend::runtime_info: the oneDNN and OpenBLAS versions and the instruction set oneDNN
// dispatches to on this CPU (provenance of a run: the same build can take other kernels on
// another machine).
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <fmt/format.h>

#include <fstream>
#include <string>

#include "engine/cpu/cpu_backend.h"

namespace unravel {

namespace {

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "other";
  }
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace

std::string CpuBackend::runtime_info() const {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{} (ISA {}), CPU loops {}, {}, {}", v->major, v->minor,
                     v->patch, isa_name(dnnl_get_effective_cpu_isa()), cpu_isa(),
                     openblas_get_config(), cpu_model());
}

}  // namespace unravel
