// The CUDA kernels' own logic, tested where there is no GPU (CI): the per-thread bodies of
// ops/cuda/*_body.h (index arithmetic, broadcasting, strided access, the reduction trees, Philox,
// the sort-based scatters' keys and runs, the optimiser updates) run here through emulate_launch
// (ops/cuda/launch_ctx.h), which executes a launch grid on the CPU with real concurrent threads
// per block, shared memory and block barriers, under the very launch plans the CUDA backend
// picks (the host-side functions of the same headers). Every result is compared with the CPU
// backend's. This file is built by the host compiler alone: no nvcc, no CUDA headers.
//
// What stays GPU-only: the CUB radix sorts (the scatters and permutations sort here with
// std::stable_sort, the order CUB's stable sort gives), cuBLAS, cuDNN, the device's libm (normal's
// log and cos) and nvcc's FMA contraction.
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

using namespace unravel;
namespace cu = unravel::cuda;
using cu::HostCtx;

namespace {

// --- the emulated CUDA backend: CudaBackend's host code with emulate_launch for <<<>>> ---------

namespace emu {

using cu::elementwise_dims;
using cu::emulate_launch;

/// How often each reduce plan ran (so the tests can insist on having reached each one).
std::atomic<int> g_plan_runs[3];

void copy(const TensorView& src, const TensorView& dst) {
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

void fill(const TensorView& y, double value) {
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

void arange(const TensorView& y, double start, double step) {
  const int64_t n = y.numel();
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    emulate_launch(elementwise_dims(n),
                   [&](HostCtx& c) { cu::arange_body<T>(c, y.ptr<T>(), n, start, step); });
  });
}

/// `dims`: the launch (default: the backend's plan), to run the bodies on other grids too.
void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha,
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

void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
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

void where(const TensorView& cond, const TensorView& a, const TensorView& b, const TensorView& y) {
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

void reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::sum: reduce_impl<ReduceOp::sum, T>(x, y); break;
      case ReduceOp::mean: reduce_impl<ReduceOp::mean, T>(x, y); break;
      case ReduceOp::max: reduce_impl<ReduceOp::max, T>(x, y); break;
      case ReduceOp::min: reduce_impl<ReduceOp::min, T>(x, y); break;
      case ReduceOp::prod: reduce_impl<ReduceOp::prod, T>(x, y); break;
      default: FAIL("unknown reduce op");
    }
  });
}

/// Returns whether the block path ran.
bool arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) {
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

void random(RandomOp op, PhiloxState st, double a, double b, const TensorView& y) {
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
void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int64_t* vals_in,
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

void random_permutation(PhiloxState st, const TensorView& y) {
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

void gather(const TensorView& x, int axis, const TensorView& index, const TensorView& y) {
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

void scatter_add(const TensorView& src, int axis, const TensorView& index, const TensorView& y) {
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

void index_select(const TensorView& x, int axis, const TensorView& index, const TensorView& y) {
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

void index_add(const TensorView& src, int axis, const TensorView& index, const TensorView& y) {
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

void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) {
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

Backend& cpu() { return backend(kCPU); }

/// Random values uniform in [lo, hi) in dtype `dt` (integers truncated).
Tensor rnd(const Shape& shape, DType dt, uint64_t seed, double lo = -2, double hi = 2) {
  return to(testing::rand64(shape, seed, lo, hi), dt);
}

/// How an operand is laid out.
enum class Lay { dense, transposed, sliced };

/// A `lay` view of shape `shape` (rank >= 2 for transposed) over a fresh base tensor.
Tensor make(const Shape& shape, DType dt, Lay lay, uint64_t seed, double lo = -2, double hi = 2) {
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
Tensor make_out(const Shape& shape, DType dt, Lay lay) {
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
bool same(const Tensor& got, const Tensor& want, const std::string& what, double rtol = 0,
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

const DType kFloats[] = {DType::f32, DType::f64};

std::string dn(DType dt) { return std::string(dtype_name(dt)); }

/// A few units in the last place of dt (0 for integers): the tolerance for arithmetic, which the
/// host compiler (and nvcc) may contract into FMAs differently in two translation units, here
/// and in the CPU backend. Data movement (indexing, broadcasting, copies, max / min, the scatters'
/// sums, random fills) is compared bit for bit.
double ulps(DType dt) {
  return dt == DType::f32 ? 16 * FLT_EPSILON : (dt == DType::f64 ? 16 * DBL_EPSILON : 0);
}

}  // namespace

// --- the emulator itself ---------------------------------------------------------------------------

TEST_CASE("emulate_launch: every (block, thread) once, per-block shared memory, barriers") {
  // Indices: a 2-D grid of 1-D blocks covers each (x, y, thread) exactly once.
  const cu::Dim3 grid{5, 3}, block{64};
  std::vector<std::atomic<int>> seen(5 * 3 * 64);
  cu::emulate_launch(grid, block, 0, [&](HostCtx& c) {
    CHECK(c.block_dim_x() == 64u);
    CHECK(c.grid_dim_x() == 5u);
    seen[(c.block_idx_y() * 5 + c.block_idx_x()) * 64 + c.thread_idx_x()]++;
  });
  int once = 0;
  for (auto& s : seen) once += s.load() == 1;
  CHECK(once == 5 * 3 * 64);

  // Shared memory: one buffer per block, uninitialised (0xFF) when a block starts; a rotation
  // through it is right only if sync() orders the writes before the reads.
  const unsigned threads = 128, blocks = 4;
  std::vector<int> out(threads * blocks), fresh(threads * blocks);
  cu::emulate_launch(cu::Dim3{blocks}, cu::Dim3{threads}, threads * sizeof(int), [&](HostCtx& c) {
    int* s = c.shared<int>();
    const unsigned t = c.thread_idx_x(), b = c.block_idx_x();
    fresh[b * threads + t] = s[t];  // before anyone of this block wrote
    c.sync();
    s[t] = static_cast<int>(b * 1000 + t);
    c.sync();
    out[b * threads + t] = s[(t + 1) % threads];
  });
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t) {
      CHECK(out[b * threads + t] == static_cast<int>(b * 1000 + (t + 1) % threads));
      CHECK(fresh[b * threads + t] == -1);
    }

  // CUDA's launch limits are refused.
  auto noop = [](HostCtx&) {};
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1}, cu::Dim3{1025}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1, 65536}, cu::Dim3{32}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{0}, cu::Dim3{32}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1}, cu::Dim3{32}, 48 * 1024 + 1, noop));
}

// --- elementwise -----------------------------------------------------------------------------------

TEST_CASE("emulated CUDA unary: every op, dense / strided / broadcast / strided output") {
  struct Layout {
    const char* name;
    Shape xshape;
    Lay xlay, ylay;
  };
  const Shape shape{20, 17};  // 340 elements: two blocks of 256
  const Layout layouts[] = {{"dense", shape, Lay::dense, Lay::dense},
                            {"transposed x", shape, Lay::transposed, Lay::dense},
                            {"broadcast x", Shape{1, 17}, Lay::dense, Lay::dense},
                            {"sliced x, transposed y", shape, Lay::sliced, Lay::transposed}};
  int n_ops = 0;
  for (int o = 0; o < kNumUnaryOps; ++o) {
    const UnaryOp op = static_cast<UnaryOp>(o);
    bool ints = false;
    fn::visit_unary(op, [&](auto f) { ints = decltype(f)::kInt; });
    std::vector<DType> dts = {DType::f32, DType::f64};
    if (ints) dts.insert(dts.end(), {DType::i32, DType::i64, DType::u8});
    // float32 exp / log1p / softplus / sigmoid run the CPU's own vector kernels (vec_math.h).
    const bool vec = op == UnaryOp::exp || op == UnaryOp::log1p || op == UnaryOp::softplus ||
                     op == UnaryOp::sigmoid;
    for (DType dt : dts) {
      for (const Layout& l : layouts) {
        if (is_floating(dt) || l.xlay == Lay::dense) {  // integers: two layouts are enough
          const double lo = dt == DType::u8 ? 0 : -3, hi = dt == DType::u8 ? 9 : 3;
          const Tensor x = expand(make(l.xshape, dt, l.xlay, 11 + o, lo, hi), shape);
          Tensor y = make_out(shape, dt, l.ylay), want = make_out(shape, dt, l.ylay);
          emu::unary(op, x.view(), y.view(), 0.25);
          cpu().unary(op, x.view(), want.view(), 0.25);
          const double tol = vec && dt == DType::f32 ? 1e-6 : ulps(dt);
          same(y, want, std::string(fn::unary_name(op)) + " " + dn(dt) + " " + l.name, tol, tol);
        }
      }
    }
    ++n_ops;
  }
  CHECK(n_ops == kNumUnaryOps);

  // The grid-stride loop (only the largest tensors reach it under the backend's plan): run the
  // body on 3 blocks of 64 threads for 5000 elements.
  const Tensor x = make({50, 100}, DType::f64, Lay::transposed, 3);
  Tensor y = Tensor::zeros({50, 100}, DType::f64), want = Tensor::zeros({50, 100}, DType::f64);
  const cu::LaunchDims small{cu::Dim3{3}, cu::Dim3{64}, 0};
  emu::unary(UnaryOp::tanh, x.view(), y.view(), 0, &small);
  cpu().unary(UnaryOp::tanh, x.view(), want.view(), 0);
  same(y, want, "tanh on a 3-block grid", ulps(DType::f64), ulps(DType::f64));
}

TEST_CASE("emulated CUDA binary and where: every op, broadcasting both sides, strided operands") {
  const Shape shape{12, 30};  // 360 elements
  struct Layout {
    const char* name;
    Shape ashape, bshape;
    Lay alay, blay, ylay;
  };
  const Layout layouts[] = {
      {"dense", shape, shape, Lay::dense, Lay::dense, Lay::dense},
      {"broadcast a and b", Shape{12, 1}, Shape{1, 30}, Lay::dense, Lay::dense, Lay::dense},
      {"transposed a, sliced b, transposed y", shape, shape, Lay::transposed, Lay::sliced,
       Lay::transposed}};
  for (int o = 0; o < kNumBinaryOps; ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    bool ints = false, cmp = false;
    fn::visit_binary(op, [&](auto f) {
      ints = decltype(f)::kInt;
      cmp = decltype(f)::kCompare;
    });
    std::vector<DType> dts = {DType::f32, DType::f64};
    if (ints) dts.insert(dts.end(), {DType::i32, DType::u8});
    const bool vec = op == BinaryOp::softplus_grad;  // f32: the CPU's vector kernel
    for (DType dt : dts) {
      for (const Layout& l : layouts) {
        if (!is_floating(dt) && l.alay != Lay::dense) continue;
        // Integers: b in [1, 9] (no division by zero).
        const double alo = dt == DType::u8 ? 0 : -3, blo = is_floating(dt) ? -3 : 1;
        // Broadcast operands are expanded views (0 strides), as the ops hand them over.
        const Tensor a = expand(make(l.ashape, dt, l.alay, 100 + o, alo, 9), shape);
        Tensor b = expand(make(l.bshape, dt, l.blay, 200 + o, blo, 9), shape);
        if (cmp && is_floating(dt) && l.ashape == l.bshape) {  // equal pairs for eq / le / ge
          Tensor bd = contiguous(b);
          copy_(slice(bd, 0, 0, 4), slice(a, 0, 0, 4));
          b = bd;
        }
        const DType ydt = cmp ? DType::u8 : dt;
        Tensor y = make_out(shape, ydt, l.ylay), want = make_out(shape, ydt, l.ylay);
        emu::binary(op, a.view(), b.view(), y.view(), 0.5);
        cpu().binary(op, a.view(), b.view(), want.view(), 0.5);
        const double tol = cmp ? 0 : (vec && dt == DType::f32 ? 1e-6 : ulps(dt));
        same(y, want, std::string(fn::binary_name(op)) + " " + dn(dt) + " " + l.name, tol, tol);
      }
    }
  }
  for (DType dt : {DType::f32, DType::i64}) {
    const Tensor cond = expand(to(make({1, 30}, DType::f64, Lay::dense, 5, 0, 2), DType::u8), shape);
    const Tensor a = make(shape, dt, Lay::transposed, 6, 0, 50);
    const Tensor b = expand(make({12, 1}, dt, Lay::dense, 7), shape);
    Tensor y = make_out(shape, dt, Lay::sliced), want = make_out(shape, dt, Lay::sliced);
    emu::where(cond.view(), a.view(), b.view(), y.view());
    cpu().where(cond.view(), a.view(), b.view(), want.view());
    same(y, want, std::string("where ") + dn(dt));
  }
}

TEST_CASE("emulated CUDA copy (every dtype pair, bf16 included), fill and arange") {
  const DType all[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8, DType::bf16};
  const Shape shape{9, 31};
  for (DType from : all) {
    for (DType to_dt : all) {
      for (Lay lay : {Lay::dense, Lay::transposed}) {
        // Source values: integers in [0, 120) fit every dtype; floats get fractions.
        const Tensor src = make(shape, from, lay, 21, 0, 120);
        Tensor y = make_out(shape, to_dt, lay == Lay::dense ? Lay::sliced : Lay::dense);
        Tensor want = make_out(shape, to_dt, lay == Lay::dense ? Lay::sliced : Lay::dense);
        emu::copy(src.view(), y.view());
        cpu().copy(src.view(), want.view());
        same(to(y, DType::f64), to(want, DType::f64),
             std::string("copy ") + dn(from) + " -> " + dn(to_dt));
      }
    }
  }
  for (DType dt : all) {
    for (Lay lay : {Lay::dense, Lay::transposed}) {
      Tensor y = make_out(shape, dt, lay), want = make_out(shape, dt, lay);
      emu::fill(y.view(), 3.7);
      cpu().fill(want.view(), 3.7);
      same(to(y, DType::f64), to(want, DType::f64), std::string("fill ") + dn(dt));
    }
    if (dt == DType::bf16) continue;
    Tensor y = Tensor::zeros({700}, dt), want = Tensor::zeros({700}, dt);
    emu::arange(y.view(), 2, dt == DType::u8 ? 0.25 : 0.37);
    cpu().arange(want.view(), 2, dt == DType::u8 ? 0.25 : 0.37);
    same(y, want, std::string("arange ") + dn(dt), ulps(dt), ulps(dt));
  }
}

// --- reductions ------------------------------------------------------------------------------------

TEST_CASE("emulated CUDA reduce: serial, block-tree and chunked two-pass plans") {
  for (auto& r : emu::g_plan_runs) r = 0;
  struct Case {
    const char* name;
    Shape shape;
    std::vector<int> axes;  // reduced
    Lay lay;
  };
  const Case cases[] = {
      {"serial, axis 1", {7, 20}, {1}, Lay::dense},
      {"serial, axis 0 of a transposed x", {25, 9}, {0}, Lay::transposed},
      {"empty reduction", {3, 0}, {1}, Lay::dense},
      {"block tree, last axis", {5, 1000}, {1}, Lay::dense},
      {"block tree, axis 0 (strided)", {300, 6}, {0}, Lay::dense},
      {"block tree, two reduced axes of a sliced x", {5, 6, 9}, {0, 2}, Lay::sliced},
      {"chunked two-pass, 2 outputs", {2, 40000}, {1}, Lay::dense},
      {"chunked two-pass, everything", {180, 190}, {0, 1}, Lay::transposed},
  };
  const ReduceOp ops[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min,
                          ReduceOp::prod};
  const char* names[] = {"sum", "mean", "max", "min", "prod"};
  for (const Case& k : cases) {
    Shape yshape = k.shape;
    for (int a : k.axes) yshape[a] = 1;
    const bool big = numel(k.shape) > 20000;
    for (int oi = 0; oi < 5; ++oi) {
      const ReduceOp op = ops[oi];
      if (numel(k.shape) == 0 && (op == ReduceOp::max || op == ReduceOp::min)) continue;
      std::vector<DType> dts = {DType::f32, DType::f64};
      if (!big || op == ReduceOp::sum) dts.push_back(DType::i32);
      if (!big && op == ReduceOp::sum) dts.push_back(DType::u8);
      for (DType dt : dts) {
        // prod: values near 1 (no overflow over 40000 elements); integers: small.
        double lo = -2, hi = 2;
        if (op == ReduceOp::prod) lo = 0.9, hi = 1.1;
        if (!is_floating(dt)) lo = 0, hi = op == ReduceOp::prod ? 2 : 7;
        Tensor x = make(k.shape, dt, k.lay, 31 + oi, lo, hi);
        Tensor y = Tensor::zeros(yshape, dt), want = Tensor::zeros(yshape, dt);
        emu::reduce(op, x.view(), y.view());
        cpu().reduce(op, x.view(), want.view());
        // Sums and products combine in another order than the CPU's.
        const bool exact = op == ReduceOp::max || op == ReduceOp::min || !is_floating(dt);
        same(y, want, std::string(names[oi]) + " " + dn(dt) + " " + k.name,
             exact ? 0 : (dt == DType::f32 ? 1e-6 : 1e-12), exact ? 0 : 1e-12);
      }
    }
  }
  // max / min propagate a NaN through the block tree and the two passes.
  for (const Shape& s : {Shape{5, 1000}, Shape{2, 40000}}) {
    for (DType dt : kFloats) {
      Tensor x = rnd(s, dt, 77);
      Tensor xd = to(x, DType::f64);
      std::vector<double> v = xd.to_vector<double>();
      v[s[1] + 517] = NAN;  // row 1
      x = to(Tensor::from_vector(v, s), dt);
      for (ReduceOp op : {ReduceOp::max, ReduceOp::min, ReduceOp::sum}) {
        Tensor y = Tensor::zeros({s[0], 1}, dt), want = Tensor::zeros({s[0], 1}, dt);
        emu::reduce(op, x.view(), y.view());
        cpu().reduce(op, x.view(), want.view());
        same(y, want, "NaN in row 1", op == ReduceOp::sum ? 1e-6 : 0, 1e-12);
        CHECK(std::isnan(y.to_vector<double>()[1]));
      }
    }
  }
  CHECK(emu::g_plan_runs[0] > 0);
  CHECK(emu::g_plan_runs[1] > 0);
  CHECK(emu::g_plan_runs[2] > 0);
}

TEST_CASE("emulated CUDA block reductions on fewer blocks than outputs (grid-stride loops)") {
  // The plans give each output (or chunk) its own block up to 2^20 blocks; on a 3-block grid
  // every block walks several outputs and reuses its shared memory for each.
  const Tensor x = make({7, 300}, DType::f64, Lay::transposed, 91);
  Tensor y = Tensor::zeros({7, 1}, DType::f64), want = Tensor::zeros({7, 1}, DType::f64);
  const cu::ReduceGeom g = cu::reduce_geometry(x.view(), y.view(), "reduce");
  const cu::ReducePlan p = cu::reduce_plan<double>(g.out_n, g.red_n);
  REQUIRE(p.kind == cu::ReducePlan::Kind::block);
  cu::LaunchDims d = p.main;
  d.grid.x = 3;
  cu::emulate_launch(d, [&](HostCtx& c) {
    cu::reduce_block_body<ReduceOp::max, double, double, double>(
        c, x.view().ptr<double>(), g.kept, g.red, g.out_n, g.red_n, 1, p.chunk, y.view().ptr<double>(), g.ys,
        nullptr, cu::reduce_identity<double>(ReduceOp::max), g.red_n, 0.0);
  });
  cpu().reduce(ReduceOp::max, x.view(), want.view());
  same(y, want, "max on 3 blocks");

  const Tensor xa = to(floor(rnd({7, 300}, DType::f64, 92, 0, 4)), DType::f32);
  Tensor ya = Tensor::zeros({7, 1}, DType::i64), wa = Tensor::zeros({7, 1}, DType::i64);
  const cu::ArgGeom ga = cu::arg_geometry(xa.view(), 1, ya.view(), "argmax");
  cu::ArgPlan pa = cu::arg_plan<float>(ga.n, ga.out_n);
  REQUIRE(!pa.serial);
  pa.dims.grid.x = 3;
  cu::emulate_launch(pa.dims, [&](HostCtx& c) {
    cu::arg_block_body<float>(c, xa.view().ptr<float>(), ga.kept, ga.xs, ga.n, ga.out_n,
                              ya.view().ptr<int64_t>(), ga.ys, true);
  });
  cpu().arg_reduce(true, xa.view(), 1, wa.view());
  same(ya, wa, "argmax on 3 blocks");
}

TEST_CASE("emulated CUDA arg_reduce: ties and NaN pick the CPU's index, serial and block paths") {
  int block_runs = 0;
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::u8}) {
    for (const Shape& s : {Shape{6, 20}, Shape{4, 700}}) {
      for (int axis : {0, 1}) {
        // Few distinct values: many ties.
        Tensor x = to(floor(rnd(s, DType::f64, 41 + axis, 0, 5)), dt);
        if (is_floating(dt) && axis == 1) {  // NaNs (two in row 2) win over every number
          std::vector<double> v = to(x, DType::f64).to_vector<double>();
          v[2 * s[1] + s[1] / 2] = NAN;
          v[2 * s[1] + s[1] - 3] = NAN;
          x = to(Tensor::from_vector(v, s), dt);
        }
        for (bool is_max : {true, false}) {
          Shape ys = s;
          ys[axis] = 1;
          Tensor y = Tensor::zeros(ys, DType::i64), want = Tensor::zeros(ys, DType::i64);
          block_runs += emu::arg_reduce(is_max, x.view(), axis, y.view());
          cpu().arg_reduce(is_max, x.view(), axis, want.view());
          same(y, want, std::string(is_max ? "argmax " : "argmin ") + dn(dt) +
                            " shape " + s.str() + " axis " + std::to_string(axis));
        }
      }
    }
  }
  CHECK(block_runs > 0);
}

// --- random ------------------------------------------------------------------------------------------

TEST_CASE("emulated CUDA random: uniform / normal / bernoulli and permutations equal the CPU's bits") {
  const int64_t base_value = 1000;
  for (DType dt : {DType::f32, DType::f64, DType::i32}) {
    for (RandomOp op : {RandomOp::uniform, RandomOp::normal, RandomOp::bernoulli}) {
      if (dt == DType::i32 && op != RandomOp::bernoulli) continue;
      for (Lay lay : {Lay::dense, Lay::transposed}) {
        for (const int64_t* base : {static_cast<const int64_t*>(nullptr), &base_value}) {
          const PhiloxState st{1234567, 77, base};
          const double a = op == RandomOp::bernoulli ? 0.3 : -1.5, b = 2.5;
          Tensor y = make_out({23, 29}, dt, lay), want = make_out({23, 29}, dt, lay);
          emu::random(op, st, a, b, y.view());
          cpu().random(op, st, a, b, want.view());
          same(y, want, std::string("random ") + std::to_string(static_cast<int>(op)) + " " +
                            dn(dt));
        }
      }
    }
  }
  // Permutations: one row (device-wide sort), several short rows (segmented sort).
  for (const Shape& s : {Shape{1, 1000}, Shape{5, 300}}) {
    const PhiloxState st{99, 5, &base_value};
    Tensor y = Tensor::zeros(s, DType::i64), want = Tensor::zeros(s, DType::i64);
    emu::random_permutation(st, y.view());
    cpu().random_permutation(st, want.view());
    same(y, want, "random_permutation " + s.str());
  }
}

// --- indexing -------------------------------------------------------------------------------------

namespace {

/// i64 index of `shape` with values in [0, extent), repeats included.
Tensor index_of(const Shape& shape, int64_t extent, uint64_t seed) {
  return to(floor(testing::rand64(shape, seed, 0, static_cast<double>(extent))), DType::i64);
}

}  // namespace

TEST_CASE("emulated CUDA gather / scatter_add / index_select / index_add equal the CPU") {
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8}) {
    const double hi = dt == DType::u8 ? 8 : 5, lo = dt == DType::u8 ? 0 : -5;
    for (int axis : {0, 1}) {
      // gather from a transposed x; index of shape (9, 13) into x of shape (11, 15).
      const Tensor x = make({11, 15}, dt, Lay::transposed, 51, lo, hi);
      const Tensor idx = index_of({9, 13}, axis == 0 ? 11 : 15, 52 + axis);
      Tensor y = Tensor::zeros({9, 13}, dt), want = Tensor::zeros({9, 13}, dt);
      emu::gather(x.view(), axis, idx.view(), y.view());
      cpu().gather(x.view(), axis, idx.view(), want.view());
      same(y, want, std::string("gather ") + dn(dt) + " axis " + std::to_string(axis));

      // scatter_add (repeated targets: runs of equal sort keys) into a sliced y.
      const Tensor src = make({9, 13}, dt, Lay::dense, 53, lo, hi);
      Tensor ys = make(Shape{11, 15}, dt, Lay::sliced, 54, lo, hi);
      Tensor ys_want = make(Shape{11, 15}, dt, Lay::sliced, 54, lo, hi);
      emu::scatter_add(src.view(), axis, idx.view(), ys.view());
      cpu().scatter_add(src.view(), axis, idx.view(), ys_want.view());
      same(ys, ys_want, std::string("scatter_add ") + dn(dt) + " axis " +
                            std::to_string(axis));

      // index_select / index_add along `axis` of a (6, 7, 5) tensor, 40 indices with repeats.
      const int64_t extent = axis == 0 ? 6 : 7;
      const Tensor sel = index_of({40}, extent, 55 + axis);
      Shape sshape{6, 7, 5};
      sshape[axis] = 40;
      const Tensor xs = make({6, 7, 5}, dt, Lay::transposed, 56, lo, hi);
      Tensor yi = make_out(sshape, dt, Lay::sliced), yi_want = make_out(sshape, dt, Lay::sliced);
      emu::index_select(xs.view(), axis, sel.view(), yi.view());
      cpu().index_select(xs.view(), axis, sel.view(), yi_want.view());
      same(yi, yi_want, std::string("index_select ") + dn(dt));

      const Tensor sa = make(sshape, dt, Lay::transposed, 57, lo, hi);
      Tensor ya = make(Shape{6, 7, 5}, dt, Lay::dense, 58, lo, hi);
      Tensor ya_want = make(Shape{6, 7, 5}, dt, Lay::dense, 58, lo, hi);
      emu::index_add(sa.view(), axis, sel.view(), ya.view());
      cpu().index_add(sa.view(), axis, sel.view(), ya_want.view());
      same(ya, ya_want, std::string("index_add ") + dn(dt));
    }
  }
}

TEST_CASE("emulated CUDA indexing: out-of-range indices read 0 and are skipped when adding") {
  // The CPU refuses bad indices; the device (which cannot read them on the host) defines them.
  const Tensor x = rnd({5, 4}, DType::f64, 61);
  const Tensor idx = Tensor::from_vector<int64_t>({0, -1, 4, 5, 2, 5, 1, 7}, {2, 4});
  Tensor y = Tensor::zeros({2, 4}, DType::f64);
  emu::gather(x.view(), 0, idx.view(), y.view());
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const std::vector<int64_t> iv = idx.to_vector<int64_t>();
  for (int i = 0; i < 8; ++i) {
    const int64_t v = iv[i];
    CHECK(yv[i] == (v >= 0 && v < 5 ? xv[v * 4 + i % 4] : 0.0));
  }
  Tensor acc = Tensor::zeros({5, 4}, DType::f64);
  const Tensor src = Tensor::ones({2, 4}, DType::f64);
  emu::scatter_add(src.view(), 0, idx.view(), acc.view());
  CHECK(sum(acc).item() == 4.0);  // four of the eight are out of range

  const Tensor sel = Tensor::from_vector<int64_t>({3, -2, 9, 3}, {4});
  Tensor ysel = Tensor::zeros({4, 4}, DType::f64);
  emu::index_select(x.view(), 0, sel.view(), ysel.view());
  CHECK(sum(slice(ysel, 0, 1, 3)).item() == 0.0);
  CHECK(testing::max_abs_diff(slice(ysel, 0, 3, 4), slice(x, 0, 3, 4)) == 0.0);
  Tensor yadd = Tensor::zeros({5, 4}, DType::f64);
  emu::index_add(Tensor::ones({4, 4}, DType::f64).view(), 0, sel.view(), yadd.view());
  CHECK(sum(yadd).item() == 8.0);
  CHECK(sum(slice(yadd, 0, 3, 4)).item() == 8.0);
}

// --- optimiser ---------------------------------------------------------------------------------------

namespace {

/// Parameters, gradients and states of `sizes` slots in dtype dt.
struct Params {
  std::vector<Tensor> p, g, s0, s1, s2;
  std::vector<double> steps;
  Params(const std::vector<int64_t>& sizes, DType dt, uint64_t seed) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Shape s{sizes[i]};
      p.push_back(rnd(s, dt, seed + 10 * i));
      g.push_back(rnd(s, dt, seed + 10 * i + 1));
      s0.push_back(rnd(s, dt, seed + 10 * i + 2, -0.1, 0.1));
      s1.push_back(rnd(s, dt, seed + 10 * i + 3, 0, 0.1));
      s2.push_back(rnd(s, dt, seed + 10 * i + 4, 0, 0.1));
      steps.push_back(static_cast<double>(i));  // slots at different step counts
    }
  }
  std::vector<OptimSlot> slots(const OptimStep& h) {
    std::vector<OptimSlot> out;
    for (size_t i = 0; i < p.size(); ++i) {
      OptimSlot s;
      s.p = p[i].view();
      s.g = g[i].view();
      s.s0 = (h.rule == OptimRule::adam || h.momentum != 0) ? s0[i].view() : TensorView{};
      if (h.rule == OptimRule::adam) s.s1 = s1[i].view();
      if (h.rule == OptimRule::adam && h.amsgrad) s.s2 = s2[i].view();
      s.steps = &steps[i];
      out.push_back(s);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("emulated CUDA optimiser: Adam / AdamW / AMSGrad / SGD, host and device learning rate") {
  struct Rule {
    const char* name;
    OptimStep h;
  };
  std::vector<Rule> rules;
  auto adam = [](double wd, bool decoupled, bool ams, double beta1) {
    OptimStep h;
    h.rule = OptimRule::adam;
    h.lr = 1e-2;
    h.weight_decay = wd;
    h.decoupled = decoupled;
    h.amsgrad = ams;
    h.beta1 = beta1;
    h.step_size = h.lr / (1 - std::pow(h.beta1, 3));
    h.bc2_sqrt = std::sqrt(1 - std::pow(h.beta2, 3));
    return h;
  };
  auto sgd = [](double momentum, bool nesterov, double wd, bool first) {
    OptimStep h;
    h.rule = OptimRule::sgd;
    h.lr = 0.05;
    h.momentum = momentum;
    h.dampening = momentum ? 0.1 : 0;
    h.nesterov = nesterov;
    h.weight_decay = wd;
    h.first = first;
    return h;
  };
  rules.push_back({"adam", adam(0, false, false, 0.9)});
  rules.push_back({"adam, L2 decay", adam(0.1, false, false, 0.9)});
  rules.push_back({"adamw", adam(0.1, true, false, 0.9)});
  rules.push_back({"amsgrad, beta1 0.3", adam(0, false, true, 0.3)});
  rules.push_back({"sgd", sgd(0, false, 0, false)});
  rules.push_back({"sgd momentum, first step", sgd(0.9, false, 0.01, true)});
  rules.push_back({"sgd nesterov", sgd(0.9, true, 0, false)});

  const std::vector<int64_t> sizes = {300, 33, 1};
  for (const Rule& r : rules) {
    for (DType dt : kFloats) {
      for (bool device_lr : {false, true}) {
        Params emu_p(sizes, dt, 71), cpu_p(sizes, dt, 71);
        OptimStep h = r.h;
        const double lr = 3e-3;
        if (device_lr) h.lr_device = &lr;
        for (int step = 0; step < 2; ++step) {  // the device path advances the step counts
          emu::optimizer_step(h, emu_p.slots(h));
          cpu().optimizer_step(h, cpu_p.slots(h));
        }
        const std::string what = std::string(r.name) + " " + dn(dt) +
                                 (device_lr ? " device lr" : " host lr");
        const double tol = ulps(dt);
        for (size_t i = 0; i < sizes.size(); ++i) {
          same(emu_p.p[i], cpu_p.p[i], what + " p", tol, tol);
          same(emu_p.s0[i], cpu_p.s0[i], what + " s0", tol, tol);
          same(emu_p.s1[i], cpu_p.s1[i], what + " s1", tol, tol);
          same(emu_p.s2[i], cpu_p.s2[i], what + " s2", tol, tol);
          CHECK(emu_p.steps[i] == cpu_p.steps[i]);
        }
      }
    }
  }

  // More slots than one launch takes (kSlotsPerLaunch): two launches, two dtypes.
  std::vector<int64_t> many(cu::kSlotsPerLaunch + 3, 5);
  many[7] = 300;
  OptimStep h = rules[2].h;
  const double lr = 1e-3;
  h.lr_device = &lr;
  Params emu_f(many, DType::f32, 81), cpu_f(many, DType::f32, 81);
  Params emu_d(many, DType::f64, 82), cpu_d(many, DType::f64, 82);
  std::vector<OptimSlot> es = emu_f.slots(h), cs = cpu_f.slots(h);
  for (const OptimSlot& s : emu_d.slots(h)) es.push_back(s);
  for (const OptimSlot& s : cpu_d.slots(h)) cs.push_back(s);
  emu::optimizer_step(h, es);
  cpu().optimizer_step(h, cs);
  for (size_t i = 0; i < many.size(); ++i) {
    same(emu_f.p[i], cpu_f.p[i], "many slots f32", ulps(DType::f32), ulps(DType::f32));
    same(emu_d.p[i], cpu_d.p[i], "many slots f64", ulps(DType::f64), ulps(DType::f64));
    CHECK(emu_f.steps[i] == cpu_f.steps[i]);
    CHECK(emu_d.steps[i] == cpu_d.steps[i]);
  }
}
