// Convolution benchmark on the Burgess 64×64 β-VAE layers at batch 64 (4×4 kernels, stride 2,
// padding 1): encoder convs 1→32→32→64→64 (64² → 4²) and the decoder's transposed mirror
// images. Each layer is first validated in f32 against the f64 direct reference on a 2-image
// slice (forward, backward-data, backward-weights), then timed through unravel (public ops for
// the forward, backend calls for the two backward passes, exactly what the backward Nodes run)
// and through bare oneDNN primitives of the same convolution built here once: one with plain
// NCHW/OIHW memory and one with library-chosen (blocked) formats and no reorders. The ratio is
// unravel / the faster bare primitive. Each unravel call is timed twice: on NCHW tensors (a
// layer called alone: it pays a reorder in and out on the blocked path) and "chained", on the
// activations in the layouts a training step hands between convolutions (conv_chain_layout:
// nChw16c / nChw8c where the channels fill whole blocks, NCHW for the 1-channel image side),
// validated equal to the NCHW call first. CSV to stdout and to argv[1] when given.
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

struct Layer {
  const char* name;
  bool transpose;
  int64_t cin, cout, hin;  // the op's input channels, output channels, input extent
};

// Geometry of the underlying convolution: x (N,C,H,W) --w (O,C,4,4)--> y (N,O,H/2,W/2).
struct ConvGeom {
  int64_t n, c, h, o;
  int64_t oh() const { return h / 2; }
  double flops() const { return 2.0 * n * o * oh() * oh() * c * 16; }
};

ConvGeom conv_geom(const Layer& l, int64_t n) {
  // A transposed conv from (cin, h) to (cout, 2h) is the adjoint of a conv (cout, 2h) -> (cin, h).
  return l.transpose ? ConvGeom{n, l.cout, 2 * l.hin, l.cin} : ConvGeom{n, l.cin, l.hin, l.cout};
}

Conv2dParams params() {
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  return p;
}

enum class Pass { fwd, bwd_data, bwd_weights };
const char* pass_name(Pass p) {
  return p == Pass::fwd ? "conv_forward" : p == Pass::bwd_data ? "conv_backward_data"
                                                              : "conv_backward_weights";
}

// A bare oneDNN primitive for one pass of g, with its memories allocated once.
struct Bare {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
};

Bare make_bare(const ConvGeom& g, Pass pass, bool blocked, bool bias, const dnnl::engine& eng) {
  using dnnl::memory;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const tag act = blocked ? tag::any : tag::nchw;
  memory::desc x_md({g.n, g.c, g.h, g.h}, f32, act), y_md({g.n, g.o, g.oh(), g.oh()}, f32, act);
  memory::desc w_md({g.o, g.c, 4, 4}, f32, blocked ? tag::any : tag::oihw);
  memory::desc b_md = bias ? memory::desc({g.o}, f32, tag::x) : memory::desc();
  const memory::dims s{2, 2}, d{0, 0}, pl{1, 1}, pr{1, 1};
  const auto alg = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, x_md, w_md, b_md,
                                     y_md, s, d, pl, pr);
  dnnl::convolution_forward::primitive_desc fpd(fd, eng);
  Bare b;
  auto fill = [&](int id, const memory::desc& md) {
    memory m(md, eng);
    float* p = static_cast<float*>(m.get_data_handle());
    for (size_t i = 0; i < md.get_size() / sizeof(float); ++i) p[i] = 0.01f * static_cast<float>(i % 17) - 0.08f;
    b.args[id] = m;
  };
  if (pass == Pass::fwd) {
    b.prim = dnnl::convolution_forward(fpd);
    fill(DNNL_ARG_SRC, fpd.src_desc());
    fill(DNNL_ARG_WEIGHTS, fpd.weights_desc());
    if (bias) fill(DNNL_ARG_BIAS, fpd.bias_desc());
    fill(DNNL_ARG_DST, fpd.dst_desc());
  } else if (pass == Pass::bwd_data) {
    dnnl::convolution_backward_data::desc bd(alg, x_md, w_md, y_md, s, d, pl, pr);
    dnnl::convolution_backward_data::primitive_desc pd(bd, eng, fpd);
    b.prim = dnnl::convolution_backward_data(pd);
    fill(DNNL_ARG_DIFF_DST, pd.diff_dst_desc());
    fill(DNNL_ARG_WEIGHTS, pd.weights_desc());
    fill(DNNL_ARG_DIFF_SRC, pd.diff_src_desc());
  } else {
    dnnl::convolution_backward_weights::desc wd(alg, x_md, w_md, b_md, y_md, s, d, pl, pr);
    dnnl::convolution_backward_weights::primitive_desc pd(wd, eng, fpd);
    b.prim = dnnl::convolution_backward_weights(pd);
    fill(DNNL_ARG_SRC, pd.src_desc());
    fill(DNNL_ARG_DIFF_DST, pd.diff_dst_desc());
    fill(DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc());
    if (bias) fill(DNNL_ARG_DIFF_BIAS, pd.diff_bias_desc());
  }
  return b;
}

double rel_err(const Tensor& got32, const Tensor& ref64) {
  Tensor d = to(got32, DType::f64) - ref64;
  return max(abs(d)).item() / (1.0 + max(abs(ref64)).item());
}

// f32 (oneDNN) vs f64 reference on a 2-image slice for the op's forward and the conv's two
// backward passes.
void validate(const Layer& l, Generator& gen) {
  const int64_t n = 2;
  Tensor x = normal({n, l.cin, l.hin, l.hin}, gen, 0, 1, DType::f64);
  Tensor w = normal(l.transpose ? Shape{l.cin, l.cout, 4, 4} : Shape{l.cout, l.cin, 4, 4}, gen, 0,
                    0.1, DType::f64);
  Tensor b = normal({l.cout}, gen, 0, 0.1, DType::f64);
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.padding = {1, 1};
  auto op = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
    return l.transpose ? conv_transpose2d(xx, ww, bb, opt) : conv2d(xx, ww, bb, opt);
  };
  NoGradGuard ng;
  Tensor y64 = op(x, w, b), y32 = op(to(x, DType::f32), to(w, DType::f32), to(b, DType::f32));
  bench::require(rel_err(y32, y64) < 1e-4, std::string(l.name) + " forward f32 vs f64");
  // Backward passes of the underlying convolution through the backend.
  const ConvGeom g = conv_geom(l, n);
  Tensor cx = normal({n, g.c, g.h, g.h}, gen, 0, 1, DType::f64);
  Tensor cdy = normal({n, g.o, g.oh(), g.oh()}, gen, 0, 1, DType::f64);
  Tensor cw = normal({g.o, g.c, 4, 4}, gen, 0, 0.1, DType::f64);
  Backend& be = backend(kCPU);
  Tensor dx64 = Tensor::empty(cx.shape(), DType::f64), dx32 = Tensor::empty(cx.shape());
  be.conv2d_backward_data(cdy.view(), cw.view(), dx64.view(), params());
  Tensor cdy32 = to(cdy, DType::f32), cw32 = to(cw, DType::f32), cx32 = to(cx, DType::f32);
  be.conv2d_backward_data(cdy32.view(), cw32.view(), dx32.view(), params());
  bench::require(rel_err(dx32, dx64) < 1e-4, std::string(l.name) + " backward-data f32 vs f64");
  Tensor dw64 = Tensor::empty(cw.shape(), DType::f64), dw32 = Tensor::empty(cw.shape());
  Tensor db64 = Tensor::empty({g.o}, DType::f64), db32 = Tensor::empty({g.o});
  be.conv2d_backward_weights(cx.view(), cdy.view(), dw64.view(), db64.view(), params());
  be.conv2d_backward_weights(cx32.view(), cdy32.view(), dw32.view(), db32.view(), params());
  bench::require(rel_err(dw32, dw64) < 1e-4 && rel_err(db32, db64) < 1e-4,
                 std::string(l.name) + " backward-weights f32 vs f64");
}

}  // namespace

int main(int argc, char** argv) {
  const Layer layers[] = {
      {"enc1", false, 1, 32, 64},  {"enc2", false, 32, 32, 32}, {"enc3", false, 32, 64, 16},
      {"enc4", false, 64, 64, 8},  {"dec1", true, 64, 64, 4},   {"dec2", true, 64, 32, 8},
      {"dec3", true, 32, 32, 16},  {"dec4", true, 32, 1, 32},
  };
  Generator gen(2024);
  for (const Layer& l : layers) validate(l, gen);
  std::fprintf(stderr, "validated all layers (f32 vs f64 reference, batch 2)\n");

  bench::Csv csv("layer,op_pass,conv_primitive,batch,gflop,unravel_ms,unravel_gflops,"
                 "bare_plain_gflops,bare_blocked_gflops,ratio_vs_best_bare,chained_ms,chained_gflops,"
                 "chained_ratio_vs_best_bare",
                 argc > 1 ? argv[1] : "");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const int64_t N = 64;
  Backend& be = backend(kCPU);
  Conv2dOptions opt;
  opt.stride = {2, 2};
  opt.padding = {1, 1};
  NoGradGuard ng;
  for (const Layer& l : layers) {
    const ConvGeom g = conv_geom(l, N);
    Tensor x = normal({N, l.cin, l.hin, l.hin}, gen);
    Tensor w = normal(l.transpose ? Shape{l.cin, l.cout, 4, 4} : Shape{l.cout, l.cin, 4, 4}, gen, 0, 0.1);
    Tensor b = normal({l.cout}, gen, 0, 0.1);
    Tensor cx = normal({N, g.c, g.h, g.h}, gen), cdy = normal({N, g.o, g.oh(), g.oh()}, gen);
    Tensor cw = normal({g.o, g.c, 4, 4}, gen, 0, 0.1);
    Tensor dx = Tensor::empty(cx.shape()), y = Tensor::empty(cdy.shape());
    Tensor dw = Tensor::empty(cw.shape()), db = Tensor::empty({g.o});
    // The same activations in the layouts a conv chain carries (NCHW where it carries none).
    auto chain = [](const Tensor& t) { return conv_chain_layout(kCPU, t.shape()[1], DType::f32); };
    Tensor xc = to_layout(x, chain(x)), cxc = to_layout(cx, chain(cx)), cdyc = to_layout(cdy, chain(cdy));
    Tensor dxc = Tensor::empty(cx.shape(), DType::f32, kCPU, chain(cx));
    Tensor yc = Tensor::empty(cdy.shape(), DType::f32, kCPU, chain(cdy));
    Conv2dOptions opt_c = opt;
    opt_c.out_layout = conv_chain_layout(kCPU, l.cout, DType::f32);
    // (op pass, primitive it runs, unravel call on NCHW tensors, the same call chained, its
    // output on each path for the check, whether the bare primitive carries a bias)
    struct Row {
      const char* op_pass; Pass prim; std::function<Tensor()> run, run_chained; bool bias;
    };
    std::vector<Row> rows;
    if (!l.transpose) {
      rows.push_back({"forward", Pass::fwd, [&] { return conv2d(x, w, b, opt); },
                      [&] { return conv2d(xc, w, b, opt_c); }, true});
    } else {
      rows.push_back({"forward", Pass::bwd_data, [&] { return conv_transpose2d(x, w, b, opt); },
                      [&] { return conv_transpose2d(xc, w, b, opt_c); }, false});
    }
    rows.push_back({"backward_data", l.transpose ? Pass::fwd : Pass::bwd_data,
                    [&] {
                      if (l.transpose) be.conv2d_forward(cx.view(), cw.view(), TensorView{}, y.view(), params());
                      else be.conv2d_backward_data(cdy.view(), cw.view(), dx.view(), params());
                      return l.transpose ? y : dx;
                    },
                    [&] {
                      if (l.transpose) be.conv2d_forward(cxc.layout_view(), cw.view(), TensorView{}, yc.layout_view(), params());
                      else be.conv2d_backward_data(cdyc.layout_view(), cw.view(), dxc.layout_view(), params());
                      return l.transpose ? yc : dxc;
                    }, false});
    const TensorView dbv = l.transpose ? TensorView{} : db.view();
    rows.push_back({"backward_weights", Pass::bwd_weights,
                    [&] { be.conv2d_backward_weights(cx.view(), cdy.view(), dw.view(), dbv, params()); return dw; },
                    [&] {
                      be.conv2d_backward_weights(cxc.layout_view(), cdyc.layout_view(), dw.view(), dbv, params());
                      return dw;
                    }, !l.transpose});
    for (Row& r : rows) {
      // The chained call must compute what the NCHW call does (the same primitives run).
      Tensor ref = to(r.run(), DType::f64), got = to(to_strided(r.run_chained()), DType::f64);
      bench::require(max(abs(got - ref)).item() == 0.0,
                     std::string(l.name) + " " + r.op_pass + ": chained layouts differ from NCHW");
      auto run = [&] { (void)r.run(); };
      auto run_c = [&] { (void)r.run_chained(); };
      int inner = bench::calibrate(run, 0.05);
      bench::Timing t = bench::time_it(run, 7, inner);
      bench::Timing tc = bench::time_it(run_c, 7, bench::calibrate(run_c, 0.05));
      double bare[2];
      for (int blocked = 0; blocked < 2; ++blocked) {
        Bare bp = make_bare(g, r.prim, blocked == 1, r.bias, eng);
        auto run = [&] {
          bp.prim.execute(strm, bp.args);
          strm.wait();
        };
        bench::Timing tb = bench::time_it(run, 7, bench::calibrate(run, 0.05));
        bare[blocked] = g.flops() / tb.median / 1e9;
      }
      const double gf = g.flops() / t.median / 1e9, gfc = g.flops() / tc.median / 1e9;
      const double best = std::max(bare[0], bare[1]);
      csv.row(fmt::format("{},{},{},{},{:.4f},{:.3f},{:.1f},{:.1f},{:.1f},{:.3f},{:.3f},{:.1f},{:.3f}",
                          l.name, r.op_pass, pass_name(r.prim), N, g.flops() / 1e9, t.median * 1e3,
                          gf, bare[0], bare[1], gf / best, tc.median * 1e3, gfc, gfc / best));
    }
  }
  return 0;
}
