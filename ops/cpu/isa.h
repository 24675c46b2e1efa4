// Per-ISA compilation of the CPU loops (ops/cpu/*_cpu.cpp of the kernel families, see
// ops/cpu/kernels.h). meson.build compiles those sources three times, into one static library
// each (linked whole into libunravel.so), passing -DUNRAVEL_CPU_ISA=isa_base, isa_avx2 or
// isa_avx512; ops/cpu/dispatch_cpu.cpp picks one set at run time. This header turns the macro
// into two brackets:
//
//   UNRAVEL_CPU_ISA_BEGIN   #pragma GCC push_options + target(<the variant's features>)
//                           + `inline namespace UNRAVEL_CPU_ISA {`   (base: the namespace only)
//   UNRAVEL_CPU_ISA_END     `}` + pop_options
//
// Every function the loop sources define, and every template or inline function of our kernel
// headers (ops/functors.h, ops/optim_functors.h, ops/cpu/parallel.h, loops.h, vec_math.h),
// lies between the brackets: it gets the variant's instruction set AND a per-variant mangled
// name (unravel::cpu::isa_avx2::unary, unravel::fn::isa_avx512::Exp::operator()<float>, ...).
// Outside a variant build (generic op code, other CPU files, a CUDA build) both brackets are
// empty and the names stay unravel::fn::Exp etc.
//
// Why a target pragma and not -march on the command line: with -march=x86-64-v4 every template
// and inline function the loop files instantiate from std::, fmt:: and engine/ headers
// (std::vector<long>::_M_default_append, fmt::format<...>, Shape::str, Tensor::data<float>...)
// would be compiled for AVX-512 under the same mangled name as the baseline code's copy; the
// linker keeps one COMDAT copy at random, so baseline code could run the AVX-512 one (SIGILL on
// an AVX2 machine). Those headers are included BEFORE the brackets, so what they define keeps
// the baseline target (GCC takes a function's target from its definition, also for template
// instantiations) and is identical in every variant; it is still inlined into the variant's
// loops (GCC inlines a callee whose ISA is a subset of the caller's). The brackets change only
// ISA flags, not -march, because GCC never inlines across different `arch` settings.
// scripts/check_isa_symbols.sh (a Meson test) checks the result on the built libraries.
//
// Rule for kernel code: include every header first, then open the brackets; never include a
// header between them.
#pragma once

#define UNRAVEL_CPU_ISA_CAT_(a, b) a##b
#define UNRAVEL_CPU_ISA_CAT(a, b) UNRAVEL_CPU_ISA_CAT_(a, b)
#define UNRAVEL_CPU_ISA_LEVEL_isa_base 0
#define UNRAVEL_CPU_ISA_LEVEL_isa_avx2 1
#define UNRAVEL_CPU_ISA_LEVEL_isa_avx512 2

#define UNRAVEL_CPU_ISA_PRAGMA_(x) _Pragma(#x)

#ifdef UNRAVEL_CPU_ISA
/// 0 = baseline (the build's -march), 1 = x86-64-v3 (AVX2 + FMA), 2 = x86-64-v4 (AVX-512).
#define UNRAVEL_CPU_ISA_LEVEL UNRAVEL_CPU_ISA_CAT(UNRAVEL_CPU_ISA_LEVEL_, UNRAVEL_CPU_ISA)
#if UNRAVEL_CPU_ISA_LEVEL != 0 && (defined(__clang__) || !defined(__GNUC__))
// clang ignores GCC's target pragma (with a warning): its avx2 code would be baseline code.
#error "the avx2 / avx512 variants of the CPU loops need GCC (meson.build builds base only otherwise)"
#endif
#if UNRAVEL_CPU_ISA_LEVEL == 0
#define UNRAVEL_CPU_ISA_TARGET_
#elif UNRAVEL_CPU_ISA_LEVEL == 1
// The features of -march=x86-64-v3 (what __builtin_cpu_supports("x86-64-v3") checks).
#define UNRAVEL_CPU_ISA_TARGET_                                                              \
  UNRAVEL_CPU_ISA_PRAGMA_(GCC target("sse3,ssse3,sse4.1,sse4.2,popcnt,cx16,sahf",            \
                                     "avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe,xsave"))
#elif UNRAVEL_CPU_ISA_LEVEL == 2
// The features of -march=x86-64-v4 (x86-64-v3 + AVX-512 F, BW, CD, DQ, VL).
#define UNRAVEL_CPU_ISA_TARGET_                                                              \
  UNRAVEL_CPU_ISA_PRAGMA_(GCC target("sse3,ssse3,sse4.1,sse4.2,popcnt,cx16,sahf",            \
                                     "avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe,xsave",         \
                                     "avx512f,avx512bw,avx512cd,avx512dq,avx512vl"))
#else
#error "UNRAVEL_CPU_ISA must be isa_base, isa_avx2 or isa_avx512"
#endif
#if UNRAVEL_CPU_ISA_LEVEL == 0
// The baseline variant: its own namespace, the build's flags (no pragma, so clang stays quiet).
#define UNRAVEL_CPU_ISA_BEGIN inline namespace UNRAVEL_CPU_ISA {
#define UNRAVEL_CPU_ISA_END }
#else
#define UNRAVEL_CPU_ISA_BEGIN                                                                \
  _Pragma("GCC push_options") UNRAVEL_CPU_ISA_TARGET_ inline namespace UNRAVEL_CPU_ISA {
#define UNRAVEL_CPU_ISA_END } _Pragma("GCC pop_options")
#endif
#else
#define UNRAVEL_CPU_ISA_BEGIN
#define UNRAVEL_CPU_ISA_END
#endif
