// The emulated CUDA backend of the host-emulation tests (test_cuda_emulated*.cpp): CudaBackend's
// host code with emulate_launch (ops/cuda/launch_ctx.h) for each <<<>>> launch, and the tensors
// and comparisons the tests share. Built by the host compiler alone: no nvcc, no CUDA headers.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <numeric>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "ops/cuda/elementwise_body.h"
#include "ops/cuda/index_body.h"
#include "ops/cuda/launch_ctx.h"
#include "ops/cuda/optim_body.h"
#include "ops/cuda/random_body.h"
#include "ops/cuda/reduce_body.h"
#include "ops/functors.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

namespace unravel::emulated {

namespace cu = unravel::cuda;
using cu::HostCtx;

// --- the emulated CUDA backend: CudaBackend's host code with emulate_launch for <<<>>> ---------

namespace emu {

using cu::elementwise_dims;
using cu::emulate_launch;

/// How often each reduce plan ran (so the tests can insist on having reached each one).
inline std::atomic<int> g_plan_runs[3];

inline void copy(const TensorView& src, const TensorView& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  if (src.dtype == dst.dtype && src.contiguous() && dst.contiguous()) {  // cudaMemcpyAsync
    std::memcpy(dst.data, src.data, static_cast<size_t>(n) * size_of(dst.dtype));
    return;
  }
  const cu::CastArgs g = cu::cast_args(src, dst);
  cu::dispatch_all(dst.dtype, [&](auto to) {
    using To = decltype(to);
    cu::dispatch_all(src.dtype, [&](auto from) {
      using From = decltype(from);
      emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
        cu::cast_body<To, From>(c, static_cast<To*>(dst.data), g.ys,
                                static_cast<const From*>(src.data), g.xs, n, g.dense);
      });
    });
  });
}

inline void fill(const TensorView& y, double value) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::Strided ys = cu::strided_of(y, "fill");
  cu::dispatch_all(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = cu::fill_value<T>(value);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::fill_body<T>(c, static_cast<T*>(y.data), ys, n, y.contiguous(), v);
    });
  });
}

inline void arange(const TensorView& y, double start, double step) {
  const int64_t n = y.numel();
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n),
                   [&](HostCtx& c) { cu::arange_body<T>(c, y.ptr<T>(), n, start, step); });
  });
}

/// `dims`: the launch (default: the backend's plan), to run the bodies on other grids too.
inline void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha,
           const cu::LaunchDims* dims = nullptr) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::UnaryArgs g = cu::unary_args(x, y, fn::unary_name(op));
  fn::visit_unary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        emulate_launch(dims ? *dims : elementwise_dims(n), [&](HostCtx& c) {
          cu::unary_body<T, F>(c, y.ptr<T>(), g.ys, x.ptr<T>(), g.xs, n, g.dense, alpha);
        });
      }
    });
  });
}

inline void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
            double alpha) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::BinaryArgs g = cu::binary_args(a, b, y, fn::binary_name(op));
  fn::visit_binary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(a.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        using R = std::conditional_t<F::kCompare, uint8_t, T>;
        emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
          cu::binary_body<T, R, F>(c, y.ptr<R>(), g.ys, a.ptr<T>(), g.as, b.ptr<T>(), g.bs, n,
                                   g.dense, alpha);
        });
      }
    });
  });
}

inline void where(const TensorView& cond, const TensorView& a, const TensorView& b, const TensorView& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::WhereArgs g = cu::where_args(cond, a, b, y);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::where_body<T>(c, y.ptr<T>(), g.ys, cond.ptr<uint8_t>(), g.cs, a.ptr<T>(), g.as,
                        b.ptr<T>(), g.bs, n);
    });
  });
}

template <ReduceOp Op, class T> void reduce_impl(const TensorView& x, const TensorView& y) {
  using Acc = typename cu::AccType<T>::type;
  using Kind = cu::ReducePlan::Kind;
  const cu::ReduceGeom g = cu::reduce_geometry(x, y, "reduce");
  if (g.out_n == 0) return;
  const Acc init = cu::reduce_identity<Acc>(Op);
  const Acc empty_mean = cu::reduce_empty_mean<Acc>();
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  const cu::ReducePlan p = cu::reduce_plan<Acc>(g.out_n, g.red_n);
  g_plan_runs[static_cast<int>(p.kind)]++;
  switch (p.kind) {
    case Kind::serial:
      emulate_launch(p.main, [&](HostCtx& c) {
        cu::reduce_serial_body<Op, T, Acc, T>(c, xp, g.kept, g.red, g.out_n, g.red_n, yp, g.ys,
                                              init, g.red_n, empty_mean);
      });
      return;
    case Kind::block:
      emulate_launch(p.main, [&](HostCtx& c) {
        cu::reduce_block_body<Op, T, Acc, T>(c, xp, g.kept, g.red, g.out_n, g.red_n, 1, p.chunk,
                                             yp, g.ys, nullptr, init, g.red_n, empty_mean);
      });
      return;
    case Kind::chunked: {
      std::vector<Acc> partial(static_cast<size_t>(g.out_n * p.parts));
      emulate_launch(p.main, [&](HostCtx& c) {
        cu::reduce_block_body<Op, T, Acc, T>(c, xp, g.kept, g.red, g.out_n, g.red_n, p.parts,
                                             p.chunk, yp, g.ys, partial.data(), init, g.red_n,
                                             empty_mean);
      });
      emulate_launch(p.combine, [&](HostCtx& c) {
        cu::reduce_serial_body<Op, Acc, Acc, T>(c, partial.data(), p.pk, p.pr, g.out_n, p.parts,
                                                yp, g.ys, init, g.red_n, empty_mean);
      });
      return;
    }
  }
}

inline void reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    dispatch_reduce(op, [&](auto o) { reduce_impl<decltype(o)::value, T>(x, y); });
  });
}

/// Returns whether the block path ran.
inline bool arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) {
  const cu::ArgGeom g = cu::arg_geometry(x, axis, y, is_max ? "argmax" : "argmin");
  if (g.out_n == 0) return false;
  bool block = false;
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const cu::ArgPlan p = cu::arg_plan<T>(g.n, g.out_n);
    block = !p.serial;
    emulate_launch(p.dims, [&](HostCtx& c) {
      if (p.serial)
        cu::arg_serial_body<T>(c, x.ptr<T>(), g.kept, g.xs, g.n, g.out_n, y.ptr<int64_t>(), g.ys,
                               is_max);
      else
        cu::arg_block_body<T>(c, x.ptr<T>(), g.kept, g.xs, g.n, g.out_n, y.ptr<int64_t>(), g.ys,
                              is_max);
    });
  });
  return block;
}

inline void random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::Strided ys = cu::strided_of(y, "random");
  const bool dense = y.contiguous();
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::random_body<T>(c, op, st.seed, st.offset, st.base, a, b, y.ptr<T>(), ys, n, dense);
    });
  });
}

/// CUB's SortPairs: (key, value) pairs ordered by the key's bits [0, bits), stably.
inline void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int64_t* vals_in,
                int64_t* vals_out, int64_t n, int bits) {
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return (keys_in[a] & mask) < (keys_in[b] & mask);
  });
  for (int64_t i = 0; i < n; ++i) {
    keys_out[i] = keys_in[order[i]];
    vals_out[i] = vals_in[order[i]];
  }
}

inline void random_permutation(PhiloxState st, const TensorView& y) {
  const int64_t rows = y.shape[0], n = y.shape[1], total = rows * n;
  if (total == 0) return;
  std::vector<uint64_t> keys(total), keys_out(total);
  std::vector<int64_t> vals(total);
  emulate_launch(elementwise_dims(total), [&](HostCtx& c) {
    cu::perm_keys_body(c, st.seed, st.offset, st.base, n, total, keys.data(), vals.data());
  });
  int64_t* out = y.ptr<int64_t>();
  if (rows == 1 || n >= cu::kLongRow) {
    for (int64_t r = 0; r < rows; ++r)
      sort_pairs(keys.data() + r * n, keys_out.data() + r * n, vals.data() + r * n, out + r * n, n,
                 64);
    return;
  }
  std::vector<int> offsets(rows + 1);
  emulate_launch(elementwise_dims(rows + 1),
                 [&](HostCtx& c) { cu::row_offsets_body(c, offsets.data(), rows, n); });
  for (int64_t r = 0; r < rows; ++r)  // the segmented sort
    sort_pairs(keys.data() + offsets[r], keys_out.data() + offsets[r], vals.data() + offsets[r],
               out + offsets[r], offsets[r + 1] - offsets[r], 64);
}

inline void gather(const TensorView& x, int axis, const TensorView& index, const TensorView& y) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const cu::GatherGeom g = cu::gather_geom(y, axis, index, x);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::gather_body<T>(c, x.ptr<T>(), index.ptr<int64_t>(), g, n, y.ptr<T>());
    });
  });
}

/// Sorted (key, position) pairs as SortedKeys::sort leaves them.
struct Sorted {
  std::vector<uint64_t> keys_in, keys_out;
  std::vector<int64_t> pos_in, pos_out;
  explicit Sorted(int64_t n) : keys_in(n), keys_out(n), pos_in(n), pos_out(n) {}
  void sort(int64_t n, int bits) {
    sort_pairs(keys_in.data(), keys_out.data(), pos_in.data(), pos_out.data(), n, bits);
  }
};

inline void scatter_add(const TensorView& src, int axis, const TensorView& index, const TensorView& y) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const cu::ScatterPlan p = cu::scatter_add_plan(src, axis, index, y);
  Sorted keys(n);
  emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
    cu::scatter_keys_body(c, index.ptr<int64_t>(), p.g, n, p.inner, keys.keys_in.data(),
                          keys.pos_in.data());
  });
  keys.sort(n, p.bits);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::scatter_apply_body<T>(c, src.ptr<T>(), keys.keys_out.data(), keys.pos_out.data(), p.g,
                                n, y.ptr<T>());
    });
  });
}

inline void index_select(const TensorView& x, int axis, const TensorView& index, const TensorView& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const cu::SelectArgs g = cu::index_select_args(x, axis, index, y);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n), [&](HostCtx& c) {
      cu::index_select_body<T>(c, x.ptr<T>(), g.xrest, g.x_axis, g.extent, index.ptr<int64_t>(),
                               g.is, g.n_idx, g.inner, y.ptr<T>(), g.ys, n);
    });
  });
}

inline void index_add(const TensorView& src, int axis, const TensorView& index, const TensorView& y) {
  const int64_t n_idx = index.numel();
  if (src.numel() == 0) return;
  const cu::IndexAddPlan p = cu::index_add_plan(src, axis, index, y);
  Sorted keys(n_idx);
  emulate_launch(elementwise_dims(n_idx), [&](HostCtx& c) {
    cu::select_keys_body(c, index.ptr<int64_t>(), p.is, n_idx, p.extent, keys.keys_in.data(),
                         keys.pos_in.data());
  });
  keys.sort(n_idx, p.bits);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n_idx * p.rest_n), [&](HostCtx& c) {
      cu::index_add_apply_body<T>(c, src.ptr<T>(), p.srest, p.s_axis, y.ptr<T>(), p.yrest,
                                  p.y_axis, keys.keys_out.data(), keys.pos_out.data(), n_idx,
                                  p.rest_n, p.extent);
    });
  });
}

inline void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) {
  for (const auto& [key, idx] : cu::optim_groups(slots)) {
    dispatch_dtype(key.second, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        for (const cu::OptimLaunch<T>& l : cu::optim_launches<T>(h, slots, idx)) {
          if (h.rule == OptimRule::adam) {
            const fn::AdamConsts<T> c(h);
            cu::visit_adam_flags(h, [&](auto l2, auto dw, auto ams, auto low) {
              emulate_launch(l.dims, [&](HostCtx& ctx) {
                cu::adam_body<T, decltype(l2)::value, decltype(dw)::value, decltype(ams)::value,
                              decltype(low)::value>(ctx, l.pk, c, h);
              });
            });
          } else {
            const fn::SgdConsts<T> c(h);
            emulate_launch(l.dims, [&](HostCtx& ctx) {
              cu::sgd_body<T>(ctx, l.pk, c, h.first, h.nesterov, h.weight_decay != 0, h);
            });
          }
          if (h.lr_device)
            emulate_launch(l.steps_dims,
                           [&](HostCtx& ctx) { cu::advance_steps_body<T>(ctx, l.pk, l.count); });
        }
      }
    });
  }
}

}  // namespace emu

// --- tensors and comparisons ---------------------------------------------------------------------

inline Backend& cpu() { return backend(kCPU); }

/// Random values uniform in [lo, hi) in dtype `dt` (integers truncated).
inline Tensor rnd(const Shape& shape, DType dt, uint64_t seed, double lo = -2, double hi = 2) {
  return to(testing::rand64(shape, seed, lo, hi), dt);
}

/// How an operand is laid out.
enum class Lay { dense, transposed, sliced };

/// A `lay` view of shape `shape` (rank >= 2 for transposed) over a fresh base tensor.
inline Tensor make(const Shape& shape, DType dt, Lay lay, uint64_t seed, double lo = -2, double hi = 2) {
  if (lay == Lay::dense) return rnd(shape, dt, seed, lo, hi);
  Shape base = shape;
  const int r = shape.size();
  if (lay == Lay::transposed) {
    std::swap(base[r - 2], base[r - 1]);
    return transpose(rnd(base, dt, seed, lo, hi), -2, -1);
  }
  base[r - 1] = 2 * shape[r - 1] + 1;
  return slice(rnd(base, dt, seed, lo, hi), -1, 1, 2 * shape[r - 1] + 1, 2);
}

/// An output of `shape`: dense, or a transposed / sliced view of a zeroed base.
inline Tensor make_out(const Shape& shape, DType dt, Lay lay) {
  if (lay == Lay::dense) return Tensor::zeros(shape, dt);
  Shape base = shape;
  const int r = shape.size();
  if (lay == Lay::transposed) {
    std::swap(base[r - 2], base[r - 1]);
    return transpose(Tensor::zeros(base, dt), -2, -1);
  }
  base[r - 1] = 2 * shape[r - 1] + 1;
  return slice(Tensor::zeros(base, dt), -1, 1, 2 * shape[r - 1] + 1, 2);
}

/// got == want element by element: the same value and sign (NaN matches NaN), or within
/// rtol·max(|got|, |want|) + atol when rtol > 0.
inline bool same(const Tensor& got, const Tensor& want, const std::string& what, double rtol = 0,
          double atol = 0) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const double a = g[i], b = w[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    bool ok;
    if (rtol > 0 || atol > 0)
      ok = std::fabs(a - b) <= rtol * std::max(std::fabs(a), std::fabs(b)) + atol ||
           (a == b);  // equal infinities
    else
      ok = a == b && std::signbit(a) == std::signbit(b);
    if (!ok) {
      FAIL_CHECK(what << ": element " << i << " is " << std::setprecision(17) << a
                      << ", the CPU gives " << b);
      return false;
    }
  }
  return true;
}

inline constexpr DType kFloats[] = {DType::f32, DType::f64};

inline std::string dn(DType dt) { return std::string(dtype_name(dt)); }

/// A few units in the last place of dt (0 for integers): the tolerance for arithmetic, which the
/// host compiler (and nvcc) may contract into FMAs differently in two translation units, here
/// and in the CPU backend. Data movement (indexing, broadcasting, copies, max / min, the scatters'
/// sums, random fills) is compared bit for bit.
inline double ulps(DType dt) {
  return dt == DType::f32 ? 16 * FLT_EPSILON : (dt == DType::f64 ? 16 * DBL_EPSILON : 0);
}

}  // namespace unravel::emulated
