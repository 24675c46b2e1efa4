// The fused pairwise IMQ kernel sum (ops/kernel_sums.h, what mmd_dim uses) against the unfused
// composite expression it replaced (a chain of broadcasting elementwise ops over (B, B, D)).
// Each configuration is validated first (value and gradients, f32 fused vs f64 composite), then
// timed: "forward" = value only (no tape), "fwd+bwd" = value and the gradient w.r.t. a and b
// through the tape. Prints median/min seconds and the ratio fused / composite.
// Usage: bench_kernel_sums [out.csv] [--reps R]
#include <cmath>
#include <cstring>
#include <vector>

#include "bench/bench.h"
#include "ops/ops.h"

using namespace unravel;
using bench::Csv;
using bench::require;
using bench::time_it;

namespace {

const std::vector<double> kScales = {0.2, 0.4, 1.0, 2.0, 4.0, 10.0};  // mmd_dim's C_s = 2·s

// mmd_dim's former expression: Σ Σ_s 1/(d²/C_s + 1) with d² (Ba, Bb, D).
Tensor composite(const Tensor& a, const Tensor& b, bool full) {
  Tensor d2 = square(unsqueeze(a, 1) - unsqueeze(b, 0));
  if (full) d2 = sum(d2, {-1});
  Tensor total;
  for (double c : kScales) {
    Tensor k = reciprocal(d2 * (1.0 / c) + 1.0);
    total = total.defined() ? total + k : k;
  }
  return sum(total);
}

Tensor fused(const Tensor& a, const Tensor& b, bool full) {
  return full ? pairwise_imq_sum_full(a, b, kScales) : pairwise_imq_sum(a, b, kScales);
}

// Value and gradients of f(a, b) (a == b when same).
TensorList value_and_grads(bool use_fused, bool full, const Tensor& a, const Tensor& b, bool same) {
  Tensor y = use_fused ? fused(a, same ? a : b, full) : composite(a, same ? a : b, full);
  TensorList g = grad({y}, same ? TensorList{a} : TensorList{a, b});
  g.insert(g.begin(), y);
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path;
  int reps = 7;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else csv_path = argv[i];
  }
  Csv csv("bench,mode,B,D,operands,pass,fused_median_ms,fused_min_ms,composite_median_ms,"
          "composite_min_ms,ratio_fused_over_composite",
          csv_path);
  struct Config { int64_t b, d; bool full, same; };
  const Config configs[] = {{500, 50, false, false}, {500, 50, false, true},
                            {64, 10, false, false},  {64, 10, false, true},
                            {500, 50, true, false}};
  for (const Config& cf : configs) {
    Generator gen(7);
    Tensor a = normal(Shape{cf.b, cf.d}, gen).set_requires_grad();
    Tensor b = (normal(Shape{cf.b, cf.d}, gen) * 0.8 + 0.3).detach().set_requires_grad();
    const char* mode = cf.full ? "full" : "per_dim";
    const std::string label = fmt::format("{} B={} D={} {}", mode, cf.b, cf.d,
                                          cf.same ? "a==b" : "a!=b");
    // Validation: f32 fused against the f64 composite (value and gradients).
    {
      TensorList f = value_and_grads(true, cf.full, a, b, cf.same);
      Tensor a64 = to(a.detach(), DType::f64).set_requires_grad();
      Tensor b64 = to(b.detach(), DType::f64).set_requires_grad();
      TensorList r = value_and_grads(false, cf.full, a64, b64, cf.same);
      require(std::fabs(f[0].item() - r[0].item()) <= 2e-6 * std::fabs(r[0].item()),
              fmt::format("{}: value {} vs composite f64 {}", label, f[0].item(), r[0].item()));
      for (size_t k = 1; k < r.size(); ++k) {
        auto fv = f[k].to_vector<double>(), rv = r[k].to_vector<double>();
        double scale = 1e-3, err = 0;
        for (size_t i = 0; i < rv.size(); ++i) {
          scale = std::max(scale, std::fabs(rv[i]));
          err = std::max(err, std::fabs(fv[i] - rv[i]));
        }
        require(err <= 2e-5 * scale, fmt::format("{}: gradient {} max error {} (scale {})", label,
                                                 k - 1, err, scale));
      }
    }
    const Tensor bb = cf.same ? a : b;
    for (bool backward : {false, true}) {
      auto run = [&](bool use_fused) {
        if (backward) {
          value_and_grads(use_fused, cf.full, a, b, cf.same);
        } else {
          NoGradGuard ng;
          Tensor y = use_fused ? fused(a, bb, cf.full) : composite(a, bb, cf.full);
          (void)y.item();
        }
      };
      auto tf = time_it([&] { run(true); }, reps, bench::calibrate([&] { run(true); }, 0.1));
      auto tc = time_it([&] { run(false); }, reps, bench::calibrate([&] { run(false); }, 0.1));
      csv.row(fmt::format("kernel_sums,{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f}", mode,
                          cf.b, cf.d, cf.same ? "a==b" : "a!=b", backward ? "fwd+bwd" : "forward",
                          tf.median * 1e3, tf.min * 1e3, tc.median * 1e3, tc.min * 1e3,
                          tf.median / tc.median));
    }
  }
  return 0;
}
