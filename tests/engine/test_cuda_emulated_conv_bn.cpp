// The CUDA direct convolutions (ops/cuda/conv_direct_body.h: cuDNN's fallback) and batch
// normalisation (ops/cuda/batch_norm_body.h) run on the CPU through emulate_launch, under the
// launch plans the CUDA backend uses and under small grids and blocks that make every
// grid-stride loop turn, and are compared with a long-double reference written out here (the
// convolutions: groups, stride, padding, dilation, an output smaller than the full extent,
// channels-last and transposed operands) and with the CPU backend (f64 convolutions through its
// reference loops; batch norm in training and eval, with and without gamma / beta, rank 2 and 4,
// forward and backward). Host compiler only, like tests/engine/test_cuda_emulated.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.h"
#include "ops/cuda/batch_norm_body.h"
#include "ops/cuda/conv_checks.h"
#include "ops/cuda/conv_direct_body.h"
#include "ops/cuda/launch_ctx.h"
#include "ops/ops.h"

using namespace unravel;
namespace cu = unravel::cuda;
namespace cc = unravel::cuda_conv;
using cu::HostCtx;

namespace {

// --- direct convolutions ---------------------------------------------------------------------

/// One case: the geometry and how each operand is laid out in memory.
struct ConvCase {
  int64_t n, c, h, w, o, groups, kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh_cut = 0, ow_cut = 0;  ///< rows / columns fewer than the full output extent
  bool x_channels_last = false;    ///< x stored (n, h, w, c)
  bool w_transposed = false;       ///< w stored (kh, kw, cg, o)
  bool y_padded = false;           ///< y stored with a gap after every row
};

cc::Geom geom_of(const ConvCase& k) {
  cc::Geom g{};
  g.n = k.n, g.c = k.c, g.h = k.h, g.w = k.w, g.o = k.o, g.groups = k.groups;
  g.cg = k.c / k.groups, g.og = k.o / k.groups, g.kh = k.kh, g.kw = k.kw;
  g.sh = k.sh, g.sw = k.sw, g.ph = k.ph, g.pw = k.pw, g.dh = k.dh, g.dw = k.dw;
  g.oh = (k.h + 2 * k.ph - (k.dh * (k.kh - 1) + 1)) / k.sh + 1 - k.oh_cut;
  g.ow = (k.w + 2 * k.pw - (k.dw * (k.kw - 1) + 1)) / k.sw + 1 - k.ow_cut;
  return g;
}

/// A 4-D operand in a buffer of its own layout; `s` its strides in the logical (a, b, c, d) order.
template <class T> struct Buf {
  std::vector<T> v;
  cc::S4 s{};
  T& at(int64_t a, int64_t b, int64_t c, int64_t d) { return v[static_cast<size_t>(s.at(a, b, c, d))]; }
  T at(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return v[static_cast<size_t>(s.at(a, b, c, d))];
  }
};

/// A buffer for logical dims (d0..d3) stored with the dims in `order` (a permutation, outermost
/// first) and `gap` unused elements after each innermost row; filled with NaN (so a missed
/// element shows) or, when `fill`, with values from a small fixed recurrence.
template <class T> Buf<T> make_buf(const int64_t (&d)[4], const int (&order)[4], int64_t gap,
                                   bool fill, uint64_t seed) {
  Buf<T> b;
  int64_t stride[4] = {0, 0, 0, 0}, run = 1;
  for (int k = 3; k >= 0; --k) {
    stride[order[k]] = run;
    run *= d[order[k]] + (k == 3 ? gap : 0);
  }
  b.s = {stride[0], stride[1], stride[2], stride[3]};
  b.v.assign(static_cast<size_t>(run), T(std::nan("")));
  uint64_t r = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  if (fill)
    for (int64_t i0 = 0; i0 < d[0]; ++i0)
      for (int64_t i1 = 0; i1 < d[1]; ++i1)
        for (int64_t i2 = 0; i2 < d[2]; ++i2)
          for (int64_t i3 = 0; i3 < d[3]; ++i3) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            b.at(i0, i1, i2, i3) = T(static_cast<double>((r >> 33) % 2001) / 1000.0 - 1.0);
          }
  return b;
}

/// The three passes written out in long double, in the forward sense.
template <class T> long double ref_forward(const Buf<T>& x, const Buf<T>& w, const cc::Geom& g,
                                           int64_t n, int64_t o, int64_t r, int64_t q) {
  long double acc = 0;
  const int64_t grp = o / g.og;
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t a = 0; a < g.kh; ++a)
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t ih = r * g.sh - g.ph + a * g.dh, iw = q * g.sw - g.pw + b * g.dw;
        if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
          acc += static_cast<long double>(x.at(n, grp * g.cg + c, ih, iw)) * w.at(o, c, a, b);
      }
  return acc;
}

template <class T> void check_close(T got, long double want, long double scale, const char* what,
                                    int64_t i) {
  const long double tol = (sizeof(T) == 4 ? 1e-6L : 1e-13L) * (scale > 1 ? scale : 1);
  INFO(std::string(what), " element ", i, ": emulated ", static_cast<double>(got), ", reference ",
       static_cast<double>(want));
  REQUIRE(std::abs(static_cast<long double>(got) - want) <= tol);
}

/// Runs the three direct passes of case k under the backend's launch plans and under small
/// grids / blocks, against the written-out reference.
template <class T> void check_conv_case(const ConvCase& k, uint64_t seed) {
  const cc::Geom g = geom_of(k);
  REQUIRE(g.oh >= 1);
  REQUIRE(g.ow >= 1);
  const int64_t xd[4] = {g.n, g.c, g.h, g.w}, wd[4] = {g.o, g.cg, g.kh, g.kw},
                yd[4] = {g.n, g.o, g.oh, g.ow};
  const int nchw[4] = {0, 1, 2, 3}, nhwc[4] = {0, 2, 3, 1}, hwio[4] = {2, 3, 1, 0};
  const Buf<T> x = make_buf<T>(xd, k.x_channels_last ? nhwc : nchw, 0, true, seed);
  const Buf<T> w = make_buf<T>(wd, k.w_transposed ? hwio : nchw, 0, true, seed + 1);
  const Buf<T> dy = make_buf<T>(yd, nchw, k.y_padded ? 3 : 0, true, seed + 2);

  // Launch plans: the backend's, then a grid too small for the work with small blocks.
  struct Plan {
    cu::LaunchDims fwd, bwd_data, weights;
    const char* name;
  };
  const int64_t ytotal = g.n * g.o * g.oh * g.ow, xtotal = g.n * g.c * g.h * g.w,
                wtotal = g.o * g.cg * g.kh * g.kw;
  const Plan plans[] = {
      {cu::elementwise_dims(ytotal), cu::elementwise_dims(xtotal), cc::direct_weights_dims(wtotal),
       "the backend's plans"},
      {cu::LaunchDims{cu::Dim3{3}, cu::Dim3{32}, 0}, cu::LaunchDims{cu::Dim3{3}, cu::Dim3{32}, 0},
       cc::direct_weights_dims(wtotal, 5, 16), "small grid"},
  };
  for (const Plan& plan : plans) {
    INFO("plan: ", std::string(plan.name));
    // Forward.
    Buf<T> y = make_buf<T>(yd, nchw, k.y_padded ? 3 : 0, false, 0);
    cu::emulate_launch(plan.fwd, [&](HostCtx& ctx) {
      cc::direct_forward_body<T>(ctx, x.v.data(), x.s, w.v.data(), w.s, y.v.data(), y.s, g, ytotal);
    });
    int64_t i = 0;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t r = 0; r < g.oh; ++r)
          for (int64_t q = 0; q < g.ow; ++q, ++i)
            check_close(y.at(n, o, r, q), ref_forward(x, w, g, n, o, r, q), g.cg * g.kh * g.kw,
                        "forward", i);
    // Backward data: dx[n, ci, ih, iw] = Σ over the outputs whose window reads it.
    Buf<T> dx = make_buf<T>(xd, k.x_channels_last ? nhwc : nchw, 0, false, 0);
    cu::emulate_launch(plan.bwd_data, [&](HostCtx& ctx) {
      cc::direct_backward_data_body<T>(ctx, dy.v.data(), dy.s, w.v.data(), w.s, dx.v.data(), dx.s,
                                       g, xtotal);
    });
    std::vector<long double> want(static_cast<size_t>(xtotal), 0.0L);
    auto xi = [&](int64_t n, int64_t c, int64_t a, int64_t b) { return ((n * g.c + c) * g.h + a) * g.w + b; };
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t r = 0; r < g.oh; ++r)
          for (int64_t q = 0; q < g.ow; ++q)
            for (int64_t c = 0; c < g.cg; ++c)
              for (int64_t a = 0; a < g.kh; ++a)
                for (int64_t b = 0; b < g.kw; ++b) {
                  const int64_t ih = r * g.sh - g.ph + a * g.dh, iw = q * g.sw - g.pw + b * g.dw;
                  if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                    want[static_cast<size_t>(xi(n, (o / g.og) * g.cg + c, ih, iw))] +=
                        static_cast<long double>(dy.at(n, o, r, q)) * w.at(o, c, a, b);
                }
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t a = 0; a < g.h; ++a)
          for (int64_t b = 0; b < g.w; ++b)
            check_close(dx.at(n, c, a, b), want[static_cast<size_t>(xi(n, c, a, b))],
                        g.og * g.kh * g.kw, "backward data", xi(n, c, a, b));
    // Backward weights: dw[o, c, a, b] = Σ_{n, r, q} dy · x.
    Buf<T> dw = make_buf<T>(wd, k.w_transposed ? hwio : nchw, 0, false, 0);
    cu::emulate_launch(plan.weights, [&](HostCtx& ctx) {
      cc::direct_backward_weights_body<T>(ctx, x.v.data(), x.s, dy.v.data(), dy.s, dw.v.data(),
                                          dw.s, g, wtotal);
    });
    i = 0;
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t c = 0; c < g.cg; ++c)
        for (int64_t a = 0; a < g.kh; ++a)
          for (int64_t b = 0; b < g.kw; ++b, ++i) {
            long double acc = 0;
            for (int64_t n = 0; n < g.n; ++n)
              for (int64_t r = 0; r < g.oh; ++r)
                for (int64_t q = 0; q < g.ow; ++q) {
                  const int64_t ih = r * g.sh - g.ph + a * g.dh, iw = q * g.sw - g.pw + b * g.dw;
                  if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                    acc += static_cast<long double>(dy.at(n, o, r, q)) *
                           x.at(n, (o / g.og) * g.cg + c, ih, iw);
                }
            check_close(dw.at(o, c, a, b), acc, g.n * g.oh * g.ow, "backward weights", i);
          }
  }
}

/// The same three passes of a groups = 1 case on contiguous f64 tensors, emulated CUDA against
/// the CPU backend (its f64 reference loops).
void check_conv_against_cpu(const ConvCase& k, uint64_t seed) {
  const cc::Geom g = geom_of(k);
  Generator gen(seed);
  Tensor x = normal({g.n, g.c, g.h, g.w}, gen, 0, 1, DType::f64);
  Tensor w = normal({g.o, g.c, g.kh, g.kw}, gen, 0, 1, DType::f64);
  Tensor dy = normal({g.n, g.o, g.oh, g.ow}, gen, 0, 1, DType::f64);
  Conv2dParams p;
  p.stride_h = g.sh, p.stride_w = g.sw, p.pad_h = g.ph, p.pad_w = g.pw;
  p.dilation_h = g.dh, p.dilation_w = g.dw;
  Backend& cpu = backend(kCPU);
  Tensor y_cpu = Tensor::empty(dy.shape(), DType::f64), dx_cpu = Tensor::empty(x.shape(), DType::f64);
  Tensor dw_cpu = Tensor::empty(w.shape(), DType::f64);
  cpu.conv2d_forward(x.view(), w.view(), TensorView{}, y_cpu.view(), p);
  cpu.conv2d_backward_data(dy.view(), w.view(), dx_cpu.view(), p);
  cpu.conv2d_backward_weights(x.view(), dy.view(), dw_cpu.view(), TensorView{}, p);
  Tensor y = Tensor::empty(dy.shape(), DType::f64), dx = Tensor::empty(x.shape(), DType::f64);
  Tensor dw = Tensor::empty(w.shape(), DType::f64);
  const int64_t yt = y.numel(), xt = x.numel(), wt = w.numel();
  cu::emulate_launch(cu::elementwise_dims(yt), [&](HostCtx& c) {
    cc::direct_forward_body<double>(c, x.data<double>(), cc::s4(x.view()), w.data<double>(),
                                    cc::s4(w.view()), y.data<double>(), cc::s4(y.view()), g, yt);
  });
  cu::emulate_launch(cu::elementwise_dims(xt), [&](HostCtx& c) {
    cc::direct_backward_data_body<double>(c, dy.data<double>(), cc::s4(dy.view()), w.data<double>(),
                                          cc::s4(w.view()), dx.data<double>(), cc::s4(dx.view()),
                                          g, xt);
  });
  cu::emulate_launch(cc::direct_weights_dims(wt, int64_t{1} << 20, 32), [&](HostCtx& c) {
    cc::direct_backward_weights_body<double>(c, x.data<double>(), cc::s4(x.view()),
                                             dy.data<double>(), cc::s4(dy.view()),
                                             dw.data<double>(), cc::s4(dw.view()), g, wt);
  });
  for (auto [got, want, what] : {std::tuple{&y, &y_cpu, "forward"},
                                 std::tuple{&dx, &dx_cpu, "backward data"},
                                 std::tuple{&dw, &dw_cpu, "backward weights"}}) {
    const double* gp = got->data<double>();
    const double* wp = want->data<double>();
    for (int64_t i = 0; i < got->numel(); ++i) {
      INFO(std::string(what), "[", i, "]: emulated CUDA ", gp[i], ", CPU ", wp[i]);
      REQUIRE(std::abs(gp[i] - wp[i]) <= 1e-12 * std::max(1.0, std::abs(wp[i])) * 10);
    }
  }
}

}  // namespace

TEST_CASE("emulated CUDA direct convolutions: groups, stride, padding, dilation, cut outputs, "
          "strided operands, f32 and f64") {
  const std::vector<ConvCase> cases = {
      // n c  h  w  o  g kh kw sh sw ph pw dh dw
      {2, 3, 7, 6, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1},                     // "same" 3x3
      {2, 2, 8, 8, 3, 1, 4, 4, 2, 2, 1, 1, 1, 1},                     // the nets' 4x4 stride 2
      {1, 4, 9, 7, 6, 2, 3, 2, 2, 1, 0, 1, 1, 2},                     // groups, dilation, uneven
      {3, 6, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1},                     // 1x1, 3 groups
      {2, 2, 9, 8, 2, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},               // output cut by one
      {2, 3, 6, 7, 4, 1, 2, 3, 1, 2, 1, 0, 2, 1, 0, 0, true, true, true},  // strided operands
      {1, 1, 5, 5, 1, 1, 5, 5, 1, 1, 0, 0, 1, 1},                     // window = input
  };
  uint64_t seed = 10;
  for (const ConvCase& k : cases) {
    INFO("case c=", k.c, " o=", k.o, " groups=", k.groups, " k=", k.kh, "x", k.kw, " s=", k.sh,
         ",", k.sw);
    check_conv_case<double>(k, seed++);
    check_conv_case<float>(k, seed++);
  }
}

TEST_CASE("emulated CUDA direct convolutions equal the CPU backend's f64 convolutions") {
  check_conv_against_cpu({2, 3, 7, 6, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1}, 1);
  check_conv_against_cpu({2, 2, 8, 8, 3, 1, 4, 4, 2, 2, 1, 1, 1, 1}, 2);
  check_conv_against_cpu({1, 2, 9, 7, 3, 1, 3, 2, 2, 1, 0, 1, 1, 2}, 3);
}

// --- batch normalisation -----------------------------------------------------------------------

namespace {

template <class T> cu::ChannelVec<T> vec(const Tensor& t) {
  if (!t.defined()) return {};
  return cu::ChannelVec<T>{static_cast<T*>(t.view().data), t.strides()[0]};
}

void close_tensors(const Tensor& got, const Tensor& want, double rtol, const char* what) {
  const Tensor g = contiguous(to(got, DType::f64)), w = contiguous(to(want, DType::f64));
  const double* gp = g.data<double>();
  const double* wp = w.data<double>();
  for (int64_t i = 0; i < g.numel(); ++i) {
    INFO(std::string(what), "[", i, "]: emulated CUDA ", gp[i], ", CPU ", wp[i]);
    REQUIRE(std::abs(gp[i] - wp[i]) <= rtol * std::max(1.0, std::abs(wp[i])));
  }
}

/// Forward (training and eval) and backward of one batch-norm case, emulated CUDA against the
/// CPU backend, under the backend's launch plan and a small one (2 blocks of 32 threads).
template <class T> void check_bn_case(const Shape& shape, bool channels_last, bool affine,
                                      uint64_t seed) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const double rtol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  Generator gen(seed);
  Tensor x = normal(shape, gen, 0.5, 2.0, dt);
  if (channels_last && shape.size() == 4)  // the same values stored (n, h, w, c)
    x = permute(contiguous(permute(x, {0, 2, 3, 1})), {0, 3, 1, 2});
  const int64_t C = shape[1], M = x.numel() / C;
  Tensor gamma = affine ? normal({C}, gen, 1, 0.5, dt) : Tensor();
  Tensor beta = affine ? normal({C}, gen, 0, 0.5, dt) : Tensor();
  Tensor rmean = normal({C}, gen, 0, 1, dt), rvar = uniform({C}, gen, 0.5, 2.0, dt);
  Tensor dy = normal(shape, gen, 0, 1, dt);
  auto view_or_none = [](const Tensor& t) { return t.defined() ? t.view() : TensorView{}; };
  Backend& cpu = backend(kCPU);
  const double eps = 1e-5;
  const cu::ChannelMap xm = cu::channel_map(x.view()), gm = cu::channel_map(dy.view());
  const cu::LaunchDims plans[] = {cu::bn_dims(C), cu::bn_dims(C, 2, 32)};
  for (const cu::LaunchDims& plan : plans) {
    INFO("plan: ", plan.grid.x, " blocks of ", plan.block.x);
    for (bool training : {true, false}) {
      INFO("training: ", training);
      Tensor y_cpu = Tensor::empty(shape, dt), sm_cpu = Tensor::empty({C}, dt),
             si_cpu = Tensor::empty({C}, dt);
      cpu.batch_norm_forward(x.view(), view_or_none(gamma), view_or_none(beta), rmean.view(),
                             rvar.view(), training, eps, y_cpu.view(), sm_cpu.view(),
                             si_cpu.view());
      Tensor y = Tensor::full(shape, std::nan(""), dt), sm = Tensor::full({C}, std::nan(""), dt),
             si = Tensor::full({C}, std::nan(""), dt);
      const cu::ChannelMap ym = cu::channel_map(y.view());
      cu::emulate_launch(plan, [&](HostCtx& c) {
        cu::bn_forward_body<T>(c, x.data<T>(), xm, y.data<T>(), ym, C, M, vec<const T>(gamma),
                               vec<const T>(beta), vec<const T>(rmean), vec<const T>(rvar),
                               training, eps, vec<T>(sm), vec<T>(si));
      });
      close_tensors(y, y_cpu, rtol, "y");
      close_tensors(sm, sm_cpu, rtol, "save_mean");
      close_tensors(si, si_cpu, rtol, "save_invstd");
      if (!training) continue;
      // Backward from the CPU's saved statistics, with and without dx.
      Tensor dx_cpu = Tensor::empty(shape, dt);
      Tensor dg_cpu = affine ? Tensor::empty({C}, dt) : Tensor();
      Tensor db_cpu = affine ? Tensor::empty({C}, dt) : Tensor();
      cpu.batch_norm_backward(dy.view(), x.view(), view_or_none(gamma), sm_cpu.view(),
                              si_cpu.view(), dx_cpu.view(), view_or_none(dg_cpu),
                              view_or_none(db_cpu));
      for (bool with_dx : {true, false}) {
        Tensor dx = Tensor::full(shape, std::nan(""), dt);
        Tensor dg = affine ? Tensor::full({C}, std::nan(""), dt) : Tensor();
        Tensor db = affine ? Tensor::full({C}, std::nan(""), dt) : Tensor();
        const cu::ChannelMap dm = cu::channel_map(dx.view());
        cu::emulate_launch(plan, [&](HostCtx& c) {
          cu::bn_backward_body<T>(c, dy.data<T>(), gm, x.view().template ptr<T>(), xm, C, M,
                                  vec<const T>(gamma), vec<const T>(sm_cpu), vec<const T>(si_cpu),
                                  with_dx ? dx.data<T>() : nullptr, dm, vec<T>(dg), vec<T>(db));
        });
        if (with_dx) close_tensors(dx, dx_cpu, rtol * 10, "dx");
        else CHECK(std::isnan(dx.data<T>()[0]));  // not written
        if (affine) {
          close_tensors(dg, dg_cpu, rtol * 10, "dgamma");
          close_tensors(db, db_cpu, rtol * 10, "dbeta");
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("emulated CUDA batch norm equals the CPU: training and eval, forward and backward") {
  uint64_t seed = 100;
  for (bool affine : {true, false}) {
    check_bn_case<double>(Shape{5, 3, 4, 6}, false, affine, seed++);
    check_bn_case<float>(Shape{5, 3, 4, 6}, false, affine, seed++);
    check_bn_case<double>(Shape{37, 5}, false, affine, seed++);         // rank 2, M > 32 threads
    check_bn_case<float>(Shape{3, 4, 5, 5}, true, affine, seed++);      // channels-last input
  }
}

TEST_CASE("CUDA convolution checks (host code of ops/cuda/conv_checks.h): geometry, bf16, refusals") {
  // The checks both CUDA paths run first. bf16 precision must pass them: conv.cu rounds the
  // operands and then runs cuDNN or the direct kernels (a refusal left here once made every
  // bf16 convolution on CUDA throw before reaching that code).
  using cc::check_conv;
  auto error_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  Tensor x = Tensor::zeros(Shape{2, 6, 9, 8}), w = Tensor::zeros(Shape{4, 3, 3, 3});
  Tensor y = Tensor::zeros(Shape{2, 4, 5, 4});
  Conv2dParams p;
  p.stride_h = 2, p.stride_w = 2, p.pad_h = 1, p.pad_w = 1, p.groups = 2;
  for (Precision prec : {Precision::fp32, Precision::bf16}) {
    CAPTURE(static_cast<int>(prec));
    p.precision = prec;
    bool symmetric = false;
    const cc::Geom g = check_conv(x.view(), w.view(), y.view(), p, "conv2d_forward", "input",
                              "output", &symmetric);
    CHECK(symmetric);  // floor((9 + 2 - 3) / 2) + 1 = 5, floor((8 + 2 - 3) / 2) + 1 = 4
    CHECK((g.n == 2 && g.c == 6 && g.cg == 3 && g.o == 4 && g.og == 2 && g.groups == 2));
    CHECK((g.oh == 5 && g.ow == 4 && g.kh == 3 && g.sh == 2 && g.pw == 1));
  }
  p.precision = Precision::fp32;
  bool symmetric = true;
  Tensor cut = Tensor::zeros(Shape{2, 4, 4, 4});  // one output row fewer than the full extent
  check_conv(x.view(), w.view(), cut.view(), p, "f", "input", "output", &symmetric);
  CHECK(!symmetric);
  auto refusal = [&](const Tensor& xx, const Tensor& ww, const Tensor& yy, const Conv2dParams& q) {
    bool s = true;
    return error_of([&] { check_conv(xx.view(), ww.view(), yy.view(), q, "f", "input", "output", &s); });
  };
  CHECK(refusal(x, Tensor::zeros(Shape{4, 3, 3, 3}, DType::f64), y, p).find("dtypes differ") !=
        std::string::npos);
  CHECK(refusal(x, w, Tensor::zeros(Shape{2, 4, 6, 4}), p).find("is larger than") != std::string::npos);
  Conv2dParams q = p;
  q.groups = 3;
  CHECK(refusal(x, w, y, q).find("groups") != std::string::npos);
  q = p;
  q.stride_h = 0;
  CHECK(refusal(x, w, y, q).find("must be >= 1") != std::string::npos);
}
