// Elementwise throughput (GB/s) against a plain C++ loop over the same memory, and the per-op
// overhead of the tape (a chain of 10 000 one-element ops, forward + backward, µs per op).
// Usage: bench_ops [out.csv]; the last column names the ISA variant of the CPU loops
// (UNRAVEL_CPU_ISA=base|avx2|avx512 picks one).
//        bench_ops --isa [out.csv]: a few hot CPU loops under every ISA variant this CPU runs,
// side by side in one process (set_cpu_isa), the variants interleaved round by round (3 rounds
// of 7 samples; the median of all 21): µs per call of each variant and the speed-ups
// base/avx2, base/avx512, avx2/avx512, with the machine's steal time (/proc/stat) over the rows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

#include "bench/bench.h"
#include "engine/cpu/cpu_backend.h"
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

// The hot loops of a training step, as the backend runs them (1M f32 elements, contiguous).
int isa_compare(const char* out) {
  const std::vector<std::string> isas = cpu_isas();
  const std::string start = cpu_isa();
  std::string head = "bench,loop,elements";
  for (const auto& i : isas) head += "," + i + "_us";
  head += ",base_over_avx2,base_over_avx512,avx2_over_avx512,steal_pct,rounds";
  Csv csv(head, out ? out : "");
  Generator gen(3);
  const int64_t n = 1 << 20;
  Tensor a = normal(Shape{n}, gen), b = normal(Shape{n}, gen), y = Tensor::empty(Shape{n});
  Tensor p = normal(Shape{n}, gen), g = normal(Shape{n}, gen), m = Tensor::zeros(Shape{n});
  Tensor v = Tensor::zeros(Shape{n});
  Tensor A = normal(Shape{1024, 1024}, gen), rows = Tensor::empty(Shape{1024, 1});
  Backend& cpu = backend(kCPU);
  OptimStep adam;
  adam.lr = 1e-4;
  adam.step_size = 1e-4 / 0.1;
  adam.bc2_sqrt = 0.05;
  const std::vector<OptimSlot> slots = {OptimSlot{p.view(), g.view(), m.view(), v.view(), {}}};
  const std::vector<std::pair<const char*, std::function<void()>>> loops = {
      {"relu_grad", [&] { cpu.binary(BinaryOp::relu_grad, a.view(), b.view(), y.view(), 0); }},
      {"add_relu", [&] { cpu.binary(BinaryOp::add_relu, a.view(), b.view(), y.view(), 0); }},
      {"mul", [&] { cpu.binary(BinaryOp::mul, a.view(), b.view(), y.view(), 0); }},
      {"adam", [&] { cpu.optimizer_step(adam, slots); }},
      {"exp", [&] { cpu.unary(UnaryOp::exp, a.view(), y.view(), 0); }},
      {"softplus", [&] { cpu.unary(UnaryOp::softplus, a.view(), y.view(), 0); }},
      {"softplus_grad", [&] { cpu.binary(BinaryOp::softplus_grad, a.view(), b.view(), y.view(), 0); }},
      {"sum_rows", [&] { cpu.reduce(ReduceOp::sum, A.view(), rows.view()); }},
  };
  const int rounds = 3, reps = 7;
  for (const auto& [name, f] : loops) {
    std::map<std::string, std::vector<double>> us;
    const bench::CpuTimes c0 = bench::read_cpu_times();
    int inner = 0;
    for (int r = 0; r < rounds; ++r)
      for (const std::string& isa : isas) {
        set_cpu_isa(isa);
        if (inner == 0) inner = bench::calibrate(f, 0.02);
        for (int k = 0; k < reps; ++k) {
          // One warm-up call per sample (the variant's code and the operands back in cache).
          f();
          auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < inner; ++i) f();
          us[isa].push_back(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e6 /
              inner);
        }
      }
    const double steal = bench::steal_fraction(c0, bench::read_cpu_times());
    std::map<std::string, double> med;
    for (auto& [isa, v] : us) {
      std::sort(v.begin(), v.end());
      med[isa] = v[v.size() / 2];
    }
    auto ratio = [&](const char* x, const char* z) {
      return med.count(x) && med.count(z) ? fmt::format("{:.2f}", med[x] / med[z]) : std::string();
    };
    std::string row = fmt::format("isa,{},{}", name, n);
    for (const auto& i : isas) row += fmt::format(",{:.1f}", med[i]);
    row += fmt::format(",{},{},{},{:.1f},{}", ratio("base", "avx2"), ratio("base", "avx512"),
                       ratio("avx2", "avx512"), 100 * steal, rounds);
    csv.row(row);
  }
  set_cpu_isa(start);
  return 0;
}

// Times a validated kernel and the plain loop that checked it, one CSV row in main's columns:
// GB/s of each for `bytes` moved per call, the ratio, and our median / min / max µs.
template <class F, class G>
void against_plain_loop(Csv& csv, const char* what, int64_t n, double bytes, F&& ours, G&& plain,
                        const std::string& isa) {
  auto t = time_it(ours, 9, bench::calibrate(ours));
  auto tr = time_it(plain, 9, bench::calibrate(plain));
  csv.row(fmt::format("{},{},{:.2f},{:.2f},{:.2f},{:.1f},{:.1f},{:.1f},{}", what, n,
                      bytes / t.median / 1e9, bytes / tr.median / 1e9, tr.median / t.median,
                      t.median * 1e6, t.min * 1e6, t.max * 1e6, isa));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--isa") == 0) return isa_compare(argc > 2 ? argv[2] : nullptr);
  Csv csv("bench,op,elements,unravel_GBps,plain_loop_GBps,ratio_vs_loop,median_us,min_us,max_us,"
          "cpu_isa",
          argc > 1 ? argv[1] : "");
  const std::string isa = cpu_isa();
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
    csv.row(fmt::format("elementwise,{},{},{:.2f},{:.2f},{:.2f},{:.1f},{:.1f},{:.1f},{}", c.name, n,
                        bytes / t.median / 1e9, bytes / tr.median / 1e9, tr.median / t.median,
                        t.median * 1e6, t.min * 1e6, t.max * 1e6, isa));
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
    csv.row(fmt::format("elementwise,add_broadcast_row,{},{:.2f},{:.2f},{:.2f},{:.1f},{:.1f},{:.1f},{}", n,
                        bytes / t.median / 1e9, bytes / tr.median / 1e9, tr.median / t.median,
                        t.median * 1e6, t.min * 1e6, t.max * 1e6, isa));
  }
  // A convolution's bias gradient on a channel-blocked layout (ops/conv.cpp channel_sum): the
  // sum over N, H, W of a (32, 32, 32, 32) gradient held as nChw16c, i.e. the reduction of its
  // rank-5 view (32, 2, 32, 32, 16) to (1, 2, 1, 1, 16). Validated bit for bit against a plain
  // loop that adds in the same order (n, block, h·w) into double accumulators.
  {
    const Shape s5{32, 2, 32, 32, 16}, o5{1, 2, 1, 1, 16};
    Tensor g = normal(s5, gen), db = Tensor::empty(o5);
    Backend& cpu = backend(kCPU);
    auto ours = [&] { cpu.reduce(ReduceOp::sum, g.view(), db.view()); };
    const float* gp = g.data<float>();
    std::vector<double> acc(32);
    std::vector<float> ref(32);
    auto plain = [&] {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t nb = 0; nb < 32 * 2; ++nb)
        for (int64_t i = 0; i < 32 * 32; ++i)
          for (int64_t c = 0; c < 16; ++c) acc[(nb % 2) * 16 + c] += gp[(nb * 1024 + i) * 16 + c];
      for (int c = 0; c < 32; ++c) ref[c] = static_cast<float>(acc[c]);
    };
    ours();
    plain();
    const auto got = db.to_vector<float>();
    for (int c = 0; c < 32; ++c)
      require(got[c] == ref[c], fmt::format("channel_sum_blocked channel {}: {} vs {}", c, got[c], ref[c]));
    const double bytes = 4.0 * static_cast<double>(numel(s5));
    against_plain_loop(csv, "reduce,channel_sum_blocked", numel(s5), bytes, ours, plain, isa);
  }
  // A transposed convolution's bias + ReLU on a channel-blocked output (ops/conv.cpp: one
  // add_relu pass over the rank-5 view, the bias broadcast along the block): rows of 16.
  // Validated bit for bit against a plain loop.
  {
    const Shape s5{32, 2, 32, 32, 16};
    Tensor v = normal(s5, gen), bias = normal(Shape{32}, gen), y = Tensor::empty(s5);
    TensorView bv = bias.view();
    bv.shape = s5;
    bv.strides = Strides{0, 16, 0, 0, 1};
    Backend& cpu = backend(kCPU);
    auto ours = [&] { cpu.binary(BinaryOp::add_relu, v.view(), bv, y.view(), 0.0); };
    const float* vp = v.data<float>();
    const float* bp = bias.data<float>();
    std::vector<float> ref(static_cast<size_t>(numel(s5)));
    auto plain = [&] {
      for (int64_t nb = 0; nb < 32 * 2; ++nb)
        for (int64_t i = 0; i < 32 * 32; ++i)
          for (int64_t c = 0; c < 16; ++c) {
            const int64_t k = (nb * 1024 + i) * 16 + c;
            const float t = vp[k] + bp[(nb % 2) * 16 + c];
            ref[k] = t > 0.0f ? t : 0.0f;
          }
    };
    ours();
    plain();
    const auto got = y.to_vector<float>();
    for (size_t k = 0; k < got.size(); ++k)
      require(got[k] == ref[k], fmt::format("add_relu_blocked element {}: {} vs {}", k, got[k], ref[k]));
    const double bytes = 8.0 * static_cast<double>(numel(s5));
    against_plain_loop(csv, "elementwise,add_relu_blocked_bias", numel(s5), bytes, ours, plain, isa);
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
    csv.row(fmt::format("tape,chain_mul_fwd_bwd,{},,,target<=1us: {:.3f}us/op,{:.1f},{:.1f},{:.1f},{}",
                        chain, us_per_op, t.median * 1e6, t.min * 1e6, t.max * 1e6, isa));
    // Forward only (no grad) for comparison.
    auto t2 = time_it([&] {
      NoGradGuard ng;
      Tensor h = x;
      for (int i = 0; i < chain; ++i) h = h * 1.0001;
    }, 9, 1, 2);
    csv.row(fmt::format("tape,chain_mul_nograd,{},,,{:.3f}us/op,{:.1f},{:.1f},{:.1f},{}", chain,
                        t2.median * 1e6 / chain, t2.median * 1e6, t2.min * 1e6, t2.max * 1e6,
                        isa));
  }
  return 0;
}
