// One ISA variant's KernelTable (ops/cpu/kernels.h): compiled once per variant, like the loops.
#include "ops/cpu/kernels.h"

#ifndef UNRAVEL_CPU_ISA
#error "ops/cpu/kernel_table_cpu.cpp is compiled once per ISA variant (meson.build passes UNRAVEL_CPU_ISA)"
#endif

#define UNRAVEL_CPU_ISA_STR_(x) #x
#define UNRAVEL_CPU_ISA_STR(x) UNRAVEL_CPU_ISA_STR_(x)

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

const KernelTable& kernel_table() {
  // "isa_avx2" → "avx2".
  static constexpr KernelTable table{
      &UNRAVEL_CPU_ISA_STR(UNRAVEL_CPU_ISA)[4],
#define UNRAVEL_CPU_KERNEL_ENTRY_(name, params, args) &name,
      UNRAVEL_CPU_KERNELS(UNRAVEL_CPU_KERNEL_ENTRY_)
#undef UNRAVEL_CPU_KERNEL_ENTRY_
  };
  return table;
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
