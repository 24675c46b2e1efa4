// CPU copies and fills that involve bf16 (engine/bf16.h): every dtype converts to and from bf16
// through float (round to nearest even into bf16; exact out of it), any strides on both sides.
// CpuBackend::copy and fill hand bf16 here; the generic kernels do not take bf16.
#include "ops/cpu/bf16_cpu.h"

#include <type_traits>

#include "engine/bf16.h"
#include "engine/check.h"
#include "ops/cpu/loops.h"

namespace unravel::cpu {

namespace {
struct Bf16 {
  uint16_t bits;
};

/// Calls f(T{}) with T the C++ type of `t`, Bf16 for bf16.
template <class F> void with_type(DType t, F&& f) {
  if (t == DType::bf16) f(Bf16{});
  else dispatch_dtype(t, f);
}

template <class To, class From> inline To convert(From x) {
  if constexpr (std::is_same_v<From, Bf16> && std::is_same_v<To, Bf16>) {
    return x;
  } else if constexpr (std::is_same_v<From, Bf16>) {
    return static_cast<To>(bf16_to_float(x.bits));
  } else if constexpr (std::is_same_v<To, Bf16>) {
    return Bf16{float_to_bf16(static_cast<float>(x))};
  } else {
    return static_cast<To>(x);
  }
}
}  // namespace

void copy_bf16(const TensorView& src, const TensorView& dst) {
  auto L = make_layout<2>({&dst, &src});
  with_type(dst.dtype, [&](auto to) {
    using To = decltype(to);
    with_type(src.dtype, [&](auto from) {
      using From = decltype(from);
      for_each_row(L, 1, [](char* const* p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<To*>(p[0] + i * s[0]) =
              convert<To>(*reinterpret_cast<const From*>(p[1] + i * s[1]));
      });
    });
  });
}

void fill_bf16(const TensorView& y, double value) {
  auto L = make_layout<1>({&y});
  const Bf16 v{float_to_bf16(static_cast<float>(value))};
  for_each_row(L, 1, [v](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) *reinterpret_cast<Bf16*>(p[0] + i * s[0]) = v;
  });
}

}  // namespace unravel::cpu
