// Does the CPU convolution's layout rule pick the faster kernel? (issue 24: weight gradients —
// and the other two passes — on oneDNN's GEMM-based path or its direct blocked kernels, chosen
// per shape by a fixed rule of the geometry, ops/cpu/conv_cpu.cpp `layout_rule`.)
//
// For every convolution of the bench models at batch 64 — the Burgess et al. conv64 net's eight
// 4×4 stride-2 layers (as the convolutions their passes run: a transposed layer's forward is a
// backward-data) and the main job's broadcast decoder's two 3×3 layers on the 16×16 grid — and
// each pass (forward, backward-data, backward-weights), the pass runs three ways through the
// backend: the rule's choice (UNRAVEL_CONV_LAYOUT=auto), forced plain NCHW (oneDNN then runs its
// im2col + sgemm kernel, "gemm:jit") and forced blocked (direct JIT kernels on nChw16c / nChw8c,
// reorders included, as a strided caller pays them). Each is first validated against the f64
// reference loops (relative error < 1e-4), then timed: rounds alternate the three modes and the
// median of the rounds' medians is reported. `auto_vs_best` is the rule's time over the faster
// forced one: about 1 when the rule picked the faster kernel, the slow/fast ratio when it did
// not; where the two forced kernels are within 20% of each other the row says "either". CSV to
// stdout and to argv[1] when given; the last line counts the rows where the rule's choice is the
// faster kernel or either is as good.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench.h"
#include "engine/backend.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

// One convolution in the forward sense: x (N, C, H, H) --w (O, C, K, K)--> y (N, O, OH, OH).
struct Conv {
  const char* name;
  int64_t c, o, h, k, stride, pad;
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  Conv2dParams params() const {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
  }
  double macs(int64_t n) const { return static_cast<double>(n) * o * oh() * oh() * c * k * k; }
};

enum class Pass { fwd, bwd_data, bwd_weights };
const char* pass_name(Pass p) {
  return p == Pass::fwd ? "forward" : p == Pass::bwd_data ? "backward_data" : "backward_weights";
}

const char* const kModes[] = {"auto", "plain", "blocked"};

void set_mode(const char* mode) { setenv("UNRAVEL_CONV_LAYOUT", mode, 1); }

// The operands of one convolution in dtype dt (inputs drawn from one seed, so the f32 and f64
// sets hold the same values up to rounding).
struct Operands {
  Tensor x, w, b, dy, y, dx, dw, db;
  Operands(const Conv& cv, int64_t n, DType dt) {
    Generator gen(7);
    x = normal({n, cv.c, cv.h, cv.h}, gen, 0, 1, dt);
    w = normal({cv.o, cv.c, cv.k, cv.k}, gen, 0, 0.1, dt);
    b = normal({cv.o}, gen, 0, 0.1, dt);
    dy = normal({n, cv.o, cv.oh(), cv.oh()}, gen, 0, 1, dt);
    y = Tensor::empty(dy.shape(), dt);
    dx = Tensor::empty(x.shape(), dt);
    dw = Tensor::empty(w.shape(), dt);
    db = Tensor::empty(b.shape(), dt);
  }
  // Runs `pass`; returns its output.
  Tensor run(const Conv& cv, Pass pass) {
    Backend& be = backend(kCPU);
    const Conv2dParams p = cv.params();
    switch (pass) {
      case Pass::fwd: be.conv2d_forward(x.view(), w.view(), b.view(), y.view(), p); return y;
      case Pass::bwd_data: be.conv2d_backward_data(dy.view(), w.view(), dx.view(), p); return dx;
      default: be.conv2d_backward_weights(x.view(), dy.view(), dw.view(), db.view(), p); return dw;
    }
  }
};

double rel_err(const Tensor& got32, const Tensor& ref64) {
  Tensor d = to(got32, DType::f64) - ref64;
  return max(abs(d)).item() / (1.0 + max(abs(ref64)).item());
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Conv> convs = {
      // conv64 encoder (its forward pass's convolutions) ...
      {"conv64 enc1 (1->32 64x64)", 1, 32, 64, 4, 2, 1},
      {"conv64 enc2 (32->32 32x32)", 32, 32, 32, 4, 2, 1},
      {"conv64 enc3 (32->64 16x16)", 32, 64, 16, 4, 2, 1},
      {"conv64 enc4 (64->64 8x8)", 64, 64, 8, 4, 2, 1},
      // ... and its decoder's transposed layers as the convolutions they are adjoint to.
      {"conv64 dec1 (64->64 4x4 -> 8x8)", 64, 64, 8, 4, 2, 1},
      {"conv64 dec2 (64->32 8x8 -> 16x16)", 32, 64, 16, 4, 2, 1},
      {"conv64 dec3 (32->32 16x16 -> 32x32)", 32, 32, 32, 4, 2, 1},
      {"conv64 dec4 (32->1 32x32 -> 64x64)", 1, 32, 64, 4, 2, 1},
      // The broadcast decoder's grid convolutions (the main job's net).
      {"broadcast grid1 (12->32 16x16 3x3)", 12, 32, 16, 3, 1, 1},
      {"broadcast grid2 (32->32 16x16 3x3)", 32, 32, 16, 3, 1, 1},
  };
  const Pass passes[] = {Pass::fwd, Pass::bwd_data, Pass::bwd_weights};
  const int64_t N = 64, rounds = 3;
  NoGradGuard ng;

  // Validate every (conv, pass, mode) on a 2-image slice against the f64 reference.
  for (const Conv& cv : convs) {
    Operands r64(cv, 2, DType::f64), r32(cv, 2, DType::f32);
    for (Pass pass : passes) {
      const Tensor ref = r64.run(cv, pass);  // r64 is not run again
      for (const char* mode : kModes) {
        set_mode(mode);
        const double e = rel_err(r32.run(cv, pass), ref);
        bench::require(e < 1e-4, fmt::format("{} {} ({}): f32 vs f64 relative error {:.2e}",
                                             cv.name, pass_name(pass), mode, e));
      }
    }
  }
  std::fprintf(stderr, "validated %zu convolutions x 3 passes x 3 layouts (f32 vs f64, batch 2)\n",
               convs.size());

  bench::Csv csv("conv,pass,batch,mmacs,auto_ms,plain_ms,blocked_ms,auto_vs_best,rule_picked",
                 argc > 1 ? argv[1] : "");
  int won = 0, rows = 0;
  const bench::CpuTimes t0 = bench::read_cpu_times();
  for (const Conv& cv : convs) {
    Operands ops(cv, N, DType::f32);
    for (Pass pass : passes) {
      std::vector<double> ms[3];
      for (int64_t round = 0; round < rounds; ++round)
        for (int m = 0; m < 3; ++m) {
          set_mode(kModes[m]);
          auto run = [&] { (void)ops.run(cv, pass); };
          ms[m].push_back(bench::time_it(run, 5, bench::calibrate(run, 0.03)).median * 1e3);
        }
      double med[3];
      for (int m = 0; m < 3; ++m) {
        std::sort(ms[m].begin(), ms[m].end());
        med[m] = ms[m][ms[m].size() / 2];
      }
      const double best = std::min(med[1], med[2]), spread = std::max(med[1], med[2]) / best;
      const double ratio = med[0] / best;
      // Where the two kernels are within 20% of each other either choice is as good (and the
      // timings cannot tell them apart); otherwise the rule's time must be nearer the faster
      // one (geometrically): the kernels differ by 1.5-10x wherever they differ at all.
      const bool either = spread < 1.2;
      const bool ok = either || ratio < std::sqrt(spread);
      won += ok;
      ++rows;
      const char* faster = med[1] <= med[2] ? "plain" : "blocked";
      csv.row(fmt::format("{},{},{},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{}", cv.name,
                          pass_name(pass), N, cv.macs(N) / 1e6, med[0], med[1], med[2], ratio,
                          either ? std::string("either (kernels within 20%)")
                          : ok   ? fmt::format("{} (the faster)", faster)
                                 : fmt::format("the slower ({} is faster)", faster)));
    }
  }
  set_mode("auto");
  std::printf("# the rule picked the faster layout (or one as good) on %d of %d rows; steal %.1f%% over the run\n",
              won, rows, 100.0 * bench::steal_fraction(t0, bench::read_cpu_times()));
  return 0;
}
