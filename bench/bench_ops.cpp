// Elementwise throughput (GB/s) against a plain C++ loop over the same memory, and the per-op
// overhead of the tape (a chain of 10 000 one-element ops, forward + backward, µs per op).
// Usage: bench_ops [out.csv]
#include <cmath>
#include <vector>

#include "bench/bench.h"
#include "ops/ops.h"

using namespace unravel;
using bench::Csv;
using bench::require;
using bench::time_it;

namespace {

struct Case {
  const char* name;
  int inputs;
  Tensor (*op)(const Tensor&, const Tensor&);
  void (*ref)(const float*, const float*, float*, int64_t);
};

Tensor op_add(const Tensor& a, const Tensor& b) { return a + b; }
Tensor op_mul(const Tensor& a, const Tensor& b) { return a * b; }
Tensor op_exp(const Tensor& a, const Tensor&) { return exp(a); }
Tensor op_relu(const Tensor& a, const Tensor&) { return relu(a); }
Tensor op_softplus(const Tensor& a, const Tensor&) { return softplus(a); }
Tensor op_sum(const Tensor& a, const Tensor&) { return sum(a, {1}); }

void ref_add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void ref_mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
void ref_exp(const float* a, const float*, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(a[i]);
}
void ref_relu(const float* a, const float*, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] > 0 ? a[i] : 0;
}
void ref_softplus(const float* a, const float*, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] > 20 ? a[i] : std::log1p(std::exp(a[i]));
}
void ref_sum(const float* a, const float*, float* y, int64_t n) {
  const int64_t cols = 1024;
  for (int64_t r = 0; r < n / cols; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += a[r * cols + c];
    y[r] = static_cast<float>(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Csv csv("bench,op,elements,unravel_GBps,plain_loop_GBps,ratio_vs_loop,median_us,min_us,max_us",
          argc > 1 ? argv[1] : "");
  Generator gen(1);
  const int64_t n = 1 << 20;  // 4 MiB per f32 operand
  Tensor a = normal(Shape{n / 1024, 1024}, gen), b = normal(Shape{n / 1024, 1024}, gen);
  std::vector<float> yref(n);
  const Case cases[] = {{"add", 2, op_add, ref_add},       {"mul", 2, op_mul, ref_mul},
                        {"exp", 1, op_exp, ref_exp},       {"relu", 1, op_relu, ref_relu},
                        {"softplus", 1, op_softplus, ref_softplus}, {"sum_rows", 1, op_sum, ref_sum}};
  for (const Case& c : cases) {
    Tensor y = c.op(a, b);
    c.ref(a.data<float>(), b.data<float>(), yref.data(), n);
    auto yv = y.to_vector<float>();
    for (size_t i = 0; i < yv.size(); ++i)
      require(std::fabs(yv[i] - yref[i]) <= 1e-5f * (1 + std::fabs(yref[i])),
              fmt::format("{} element {}: {} vs {}", c.name, i, yv[i], yref[i]));
    bool reduces = std::string(c.name) == "sum_rows";
    double bytes = 4.0 * n * c.inputs + 4.0 * (reduces ? n / 1024 : n);
    auto t = time_it([&] { Tensor r = c.op(a, b); }, 9, bench::calibrate([&] { Tensor r = c.op(a, b); }));
    auto tr = time_it([&] { c.ref(a.data<float>(), b.data<float>(), yref.data(), n); }, 9,
                      bench::calibrate([&] { c.ref(a.data<float>(), b.data<float>(), yref.data(), n); }));
    csv.row(fmt::format("elementwise,{},{},{:.2f},{:.2f},{:.2f},{:.1f},{:.1f},{:.1f}", c.name, n,
                        bytes / t.median / 1e9, bytes / tr.median / 1e9, tr.median / t.median,
                        t.median * 1e6, t.min * 1e6, t.max * 1e6));
  }
  // Broadcast add of a row vector (bias-like).
  {
    Tensor row = normal(Shape{1024}, gen);
    Tensor y = a + row;
    auto av = a.to_vector<float>(), rv = row.to_vector<float>(), yv = y.to_vector<float>();
    for (int64_t i = 0; i < n; ++i) require(yv[i] == av[i] + rv[i % 1024], "broadcast add");
    auto t = time_it([&] { Tensor r = a + row; }, 9, bench::calibrate([&] { Tensor r = a + row; }));
    auto tr = time_it([&] {
      const float* ap = a.data<float>(); const float* rp = row.data<float>(); float* yp = yref.data();
      for (int64_t r = 0; r < n / 1024; ++r)
        for (int64_t c = 0; c < 1024; ++c) yp[r * 1024 + c] = ap[r * 1024 + c] + rp[c];
    }, 9, 20);
    double bytes = 8.0 * n;
    csv.row(fmt::format("elementwise,add_broadcast_row,{},{:.2f},{:.2f},{:.2f},{:.1f},{:.1f},{:.1f}", n,
                        bytes / t.median / 1e9, bytes / tr.median / 1e9, tr.median / t.median,
                        t.median * 1e6, t.min * 1e6, t.max * 1e6));
  }
  // Tape overhead: 10 000 tiny ops forward + backward.
  {
    const int chain = 10000;
    Tensor x = Tensor::from_vector<float>({1.0f}, Shape{1});
    x.set_requires_grad();
    auto run = [&] {
      Tensor h = x;
      for (int i = 0; i < chain; ++i) h = h * 1.0001;
      sum(h).backward();
      x.zero_grad();
    };
    run();
    {
      Tensor h = x;
      for (int i = 0; i < chain; ++i) h = h * 1.0001;
      sum(h).backward();
      require(std::fabs(x.grad().item() - std::pow(1.0001, chain)) < 1e-2, "tape chain gradient");
      x.zero_grad();
    }
    auto t = time_it(run, 9, 1, 2);
    double us_per_op = t.median * 1e6 / (chain + 1);
    csv.row(fmt::format("tape,chain_mul_fwd_bwd,{},,,target<=1us: {:.3f}us/op,{:.1f},{:.1f},{:.1f}",
                        chain, us_per_op, t.median * 1e6, t.min * 1e6, t.max * 1e6));
    // Forward only (no grad) for comparison.
    auto t2 = time_it([&] {
      NoGradGuard ng;
      Tensor h = x;
      for (int i = 0; i < chain; ++i) h = h * 1.0001;
    }, 9, 1, 2);
    csv.row(fmt::format("tape,chain_mul_nograd,{},,,{:.3f}us/op,{:.1f},{:.1f},{:.1f}", chain,
                        t2.median * 1e6 / chain, t2.median * 1e6, t2.min * 1e6, t2.max * 1e6));
  }
  return 0;
}
