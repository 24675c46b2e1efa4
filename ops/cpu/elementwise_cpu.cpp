// CPU elementwise kernels: copy with cast, fill, unary, binary, where. One template per family;
// the math comes from ops/functors.h, except float32 exp / log1p / softplus / sigmoid and
// softplus_grad, which run the AVX2 kernels of ops/cpu/vec_math.h when the build has them
// (strided rows are gathered into a small buffer first, so every element takes the same code).
#include <algorithm>
#include <cstring>
#include <optional>

#include "engine/check.h"
#include "ops/cpu/bf16_cpu.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/loops.h"
#include "ops/cpu/vec_math.h"
#include "ops/functors.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

void copy(const TensorView& src, const TensorView& dst) {
  UNRAVEL_CHECK(src.shape == dst.shape, "copy: source {} and destination {} differ in shape",
                src.shape.str(), dst.shape.str());
  if (dst.numel() == 0) return;
  if (src.dtype == dst.dtype && src.contiguous() && dst.contiguous()) {
    std::memcpy(dst.data, src.data, static_cast<size_t>(dst.numel()) * size_of(dst.dtype));
    return;
  }
  if (src.dtype == DType::bf16 || dst.dtype == DType::bf16) return cpu::copy_bf16(src, dst);
  auto L = make_layout<2>({&dst, &src});
  dispatch_dtype(dst.dtype, [&](auto to) {
    using To = decltype(to);
    dispatch_dtype(src.dtype, [&](auto from) {
      using From = decltype(from);
      for_each_row(L, 1, [](char* const* p, const int64_t* s, int64_t n) {
        if (s[0] == sizeof(To) && s[1] == sizeof(From)) {
          To* y = reinterpret_cast<To*>(p[0]);
          const From* x = reinterpret_cast<const From*>(p[1]);
          for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i)
            *reinterpret_cast<To*>(p[0] + i * s[0]) =
                static_cast<To>(*reinterpret_cast<const From*>(p[1] + i * s[1]));
        }
      });
    });
  });
}

void arange(const TensorView& y, double start, double step) {
  UNRAVEL_CHECK(y.rank() == 1 && y.contiguous(), "arange: want a contiguous 1-D output, got {}",
                y.shape.str());
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = y.ptr<T>();
    for (int64_t i = 0, n = y.numel(); i < n; ++i)
      out[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
}

void fill(const TensorView& y, double value) {
  if (y.numel() == 0) return;
  if (y.dtype == DType::bf16) return cpu::fill_bf16(y, value);
  auto L = make_layout<1>({&y});
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T v = static_cast<T>(value);
    for_each_row(L, 1, [v](char* const* p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* out = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) out[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

namespace {

template <class T, class F>
void unary_loop(const cpu::StridedLayout<2>& L, F f, double alpha, int64_t cost) {
  for_each_row(L, cost, [f, alpha](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
      T* y = reinterpret_cast<T*>(p[0]);
      const T* x = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < n; ++i) y[i] = f(x[i], alpha);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]), alpha);
    }
  });
}

// The vector kernel for a float32 unary op, if there is one in this build.
std::optional<cpu::VecFn> vec_fn(UnaryOp op) {
  if (!cpu::have_vec_math()) return std::nullopt;
  switch (op) {
    case UnaryOp::exp: return cpu::VecFn::exp;
    case UnaryOp::log1p: return cpu::VecFn::log1p;
    case UnaryOp::softplus: return cpu::VecFn::softplus;
    case UnaryOp::sigmoid: return cpu::VecFn::sigmoid;
    default: return std::nullopt;
  }
}

// Elements per gather block of a strided row in the vector paths.
constexpr int64_t kVecBlock = 256;

// y = f(x) over float32 rows with the vector kernel; strided rows go through a dense buffer.
void vec_unary_loop(const cpu::StridedLayout<2>& L, cpu::VecFn f, int64_t cost) {
  for_each_row(L, cost, [f](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(float) && s[1] == sizeof(float)) {
      cpu::vec_unary_f32(f, reinterpret_cast<const float*>(p[1]), reinterpret_cast<float*>(p[0]), n);
      return;
    }
    float buf[kVecBlock];
    for (int64_t b = 0; b < n; b += kVecBlock) {
      const int64_t m = std::min(kVecBlock, n - b);
      for (int64_t i = 0; i < m; ++i) buf[i] = *reinterpret_cast<const float*>(p[1] + (b + i) * s[1]);
      cpu::vec_unary_f32(f, buf, buf, m);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (b + i) * s[0]) = buf[i];
    }
  });
}

// Rough cost per element relative to an add, so transcendental ops thread earlier.
int64_t unary_cost(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: case UnaryOp::abs: case UnaryOp::square: case UnaryOp::relu:
    case UnaryOp::leaky_relu: case UnaryOp::sign: case UnaryOp::floor: case UnaryOp::logical_not:
      return 1;
    default:
      return 8;
  }
}

}  // namespace

void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha) {
  UNRAVEL_CHECK(x.dtype == y.dtype, "{}: input {} and output {} dtypes differ", fn::unary_name(op),
                dtype_name(x.dtype), dtype_name(y.dtype));
  if (y.numel() == 0) return;
  auto L = make_layout<2>({&y, &x});
  int64_t cost = unary_cost(op);
  if (x.dtype == DType::f32) {
    if (const auto vf = vec_fn(op)) return vec_unary_loop(L, *vf, cost);
  }
  fn::visit_unary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        unary_loop<T>(L, f, alpha, cost);
      } else {
        UNRAVEL_CHECK(false, "{}: not defined for {} tensors", fn::unary_name(op), dtype_name(x.dtype));
      }
    });
  });
}

namespace {

template <class T, class R, class F>
void binary_loop(const cpu::StridedLayout<3>& L, F f, double alpha) {
  for_each_row(L, 1, [f, alpha](char* const* p, const int64_t* s, int64_t n) {
    R* y = reinterpret_cast<R*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    const T* b = reinterpret_cast<const T*>(p[2]);
    if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
      for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i], alpha);
    } else if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == 0) {
      const T bv = *b;
      for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv, alpha);
    } else if (s[0] == sizeof(R) && s[1] == 0 && s[2] == sizeof(T)) {
      const T av = *a;
      for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i], alpha);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<R*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const T*>(p[1] + i * s[1]),
              *reinterpret_cast<const T*>(p[2] + i * s[2]), alpha);
    }
  });
}

// y = a · sigmoid(b) (softplus_grad) over float32 rows with the vector kernel.
void vec_softplus_grad_loop(const cpu::StridedLayout<3>& L) {
  for_each_row(L, 8, [](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(float) && s[1] == sizeof(float) && s[2] == sizeof(float)) {
      cpu::vec_softplus_grad_f32(reinterpret_cast<const float*>(p[1]),
                                 reinterpret_cast<const float*>(p[2]),
                                 reinterpret_cast<float*>(p[0]), n);
      return;
    }
    float ba[kVecBlock], bb[kVecBlock];
    for (int64_t b = 0; b < n; b += kVecBlock) {
      const int64_t m = std::min(kVecBlock, n - b);
      for (int64_t i = 0; i < m; ++i) {
        ba[i] = *reinterpret_cast<const float*>(p[1] + (b + i) * s[1]);
        bb[i] = *reinterpret_cast<const float*>(p[2] + (b + i) * s[2]);
      }
      cpu::vec_softplus_grad_f32(ba, bb, ba, m);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (b + i) * s[0]) = ba[i];
    }
  });
}

}  // namespace

void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
                        double alpha) {
  UNRAVEL_CHECK(a.dtype == b.dtype, "{}: operand dtypes differ ({} vs {})", fn::binary_name(op),
                dtype_name(a.dtype), dtype_name(b.dtype));
  if (y.numel() == 0) return;
  auto L = make_layout<3>({&y, &a, &b});
  if (op == BinaryOp::softplus_grad && a.dtype == DType::f32 && y.dtype == DType::f32 &&
      cpu::have_vec_math())
    return vec_softplus_grad_loop(L);
  fn::visit_binary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(a.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        if constexpr (F::kCompare) {
          UNRAVEL_CHECK(y.dtype == DType::u8, "{}: output must be u8", fn::binary_name(op));
          binary_loop<T, uint8_t>(L, f, alpha);
        } else {
          UNRAVEL_CHECK(y.dtype == a.dtype, "{}: output dtype {} differs from inputs' {}",
                        fn::binary_name(op), dtype_name(y.dtype), dtype_name(a.dtype));
          binary_loop<T, T>(L, f, alpha);
        }
      } else {
        UNRAVEL_CHECK(false, "{}: not defined for {} tensors", fn::binary_name(op), dtype_name(a.dtype));
      }
    });
  });
}

void where(const TensorView& cond, const TensorView& a, const TensorView& b,
                       const TensorView& y) {
  UNRAVEL_CHECK(cond.dtype == DType::u8, "where: condition must be u8 (bool), got {}", dtype_name(cond.dtype));
  UNRAVEL_CHECK(a.dtype == b.dtype && a.dtype == y.dtype, "where: branch dtypes differ");
  if (y.numel() == 0) return;
  auto L = make_layout<4>({&y, &cond, &a, &b});
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    for_each_row(L, 1, [](char* const* p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) =
            *reinterpret_cast<const uint8_t*>(p[1] + i * s[1])
                ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
