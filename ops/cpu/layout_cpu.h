// The CPU backend's layout registry (engine/layout.h), internal to ops/cpu: the oneDNN blocked
// activation formats the CPU offers, keyed by the ids CpuBackend::find_layout hands out, and
// the oneDNN engine shared by the convolution kernels and the layout reorders. This header
// includes oneDNN, so no public header may include it.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>

#include "engine/tensor_view.h"

namespace unravel::cpu {

/// One CPU format: rank-4 (N, C, H, W) with the channels in blocks of `block`, the last block
/// padded with zeros. Its id is its index in the registry + 1.
struct CpuFormat {
  const char* name;
  int64_t block;
  dnnl::memory::format_tag tag;
};

/// The format with id `format`; throws naming the id when the CPU has none.
const CpuFormat& cpu_format(uint32_t format);
/// Checks that v's opaque layout is a CPU format that can hold v (rank 4); `fn` and `what`
/// name the caller and operand in the error.
void check_cpu_layout(const TensorView& v, const char* fn, const char* what);
/// oneDNN's description of dims `d` in CPU format `format` (0: plain row-major).
dnnl::memory::desc format_desc(uint32_t format, const dnnl::memory::dims& d,
                               dnnl::memory::data_type dt);

/// The oneDNN CPU engine of the backend.
dnnl::engine& dnnl_engine();

}  // namespace unravel::cpu
