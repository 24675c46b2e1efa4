// The ISA variants of the CPU loops (ops/cpu/dispatch_cpu.cpp): each variant this CPU runs is
// forced through set_cpu_isa and compared with the base variant on the same inputs, kernel by
// kernel. The loops are compiled without FMA contraction (meson.build), so everything is
// bitwise equal across variants except (a) float32 exp / log1p / softplus / sigmoid and
// softplus_grad, which avx2 / avx512 compute with the vec_math kernels (≤ 2 ulp each; base uses
// std::) — the two vector variants agree bitwise — and (b) the float pairwise IMQ sums, whose
// `omp simd` reductions add in lane order (8 or 16 lanes). The names and refusals of the
// override are checked too. The other suites run again under each variant (tests/meson.build).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "ops/functors.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

namespace {

/// Restores the variant that was active when it was made.
struct IsaGuard {
  std::string prev = cpu_isa();
  ~IsaGuard() { set_cpu_isa(prev); }
};

const DType kTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8};

/// Deterministic test values of any dtype: floats spread over [lo, hi) with a few special
/// values, integers in a small range.
Tensor values(const Shape& shape, DType dt, uint64_t seed, double lo = -3, double hi = 3) {
  Generator g(seed);
  Tensor u = uniform(shape, g, lo, hi, DType::f64);
  if (!is_floating(dt)) u = floor(u * 3.0);
  if (dt == DType::u8) u = abs(u);
  return to(u, dt);
}

std::vector<unsigned char> bytes(const Tensor& t) {
  Tensor c = contiguous(t);
  std::vector<unsigned char> b(c.nbytes());
  backend(kCPU).copy_to_host(c.raw_data(), b.data(), b.size());
  return b;
}

/// Bitwise equality, except that any NaN equals any NaN.
bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == DType::f32) {
    auto u = a.to_vector<float>(), v = b.to_vector<float>();
    for (size_t i = 0; i < u.size(); ++i)
      if (!(std::isnan(u[i]) && std::isnan(v[i])) && std::memcmp(&u[i], &v[i], 4) != 0) return false;
    return true;
  }
  if (a.dtype() == DType::f64) {
    auto u = a.to_vector<double>(), v = b.to_vector<double>();
    for (size_t i = 0; i < u.size(); ++i)
      if (!(std::isnan(u[i]) && std::isnan(v[i])) && std::memcmp(&u[i], &v[i], 8) != 0) return false;
    return true;
  }
  return bytes(a) == bytes(b);
}

/// Largest distance in float32 ulps (ordered bit patterns) between a and b; NaN pairs count 0.
int64_t max_ulps(const Tensor& a, const Tensor& b) {
  auto u = a.to_vector<float>(), v = b.to_vector<float>();
  auto ord = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  int64_t worst = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    if (std::isnan(u[i]) || std::isnan(v[i])) {
      if (std::isnan(u[i]) != std::isnan(v[i])) return INT64_MAX;
      continue;
    }
    worst = std::max<int64_t>(worst, std::llabs(ord(u[i]) - ord(v[i])));
  }
  return worst;
}

/// Runs f under every variant this CPU runs; returns the outputs per variant (base first).
std::vector<std::vector<Tensor>> under_each(const std::function<std::vector<Tensor>()>& f) {
  IsaGuard guard;
  std::vector<std::vector<Tensor>> out;
  for (const std::string& isa : cpu_isas()) {
    set_cpu_isa(isa);
    REQUIRE(cpu_isa() == isa);
    out.push_back(f());
  }
  return out;
}

/// Every variant's outputs equal base's (same()).
void check_all_same(const std::vector<std::vector<Tensor>>& r, const std::string& what) {
  const std::vector<std::string> isas = cpu_isas();
  for (size_t v = 1; v < r.size(); ++v)
    for (size_t k = 0; k < r[0].size(); ++k) {
      CAPTURE(what);
      CAPTURE(isas[v]);
      CAPTURE(k);
      CHECK(same(r[v][k], r[0][k]));
    }
}

/// A transposed (non-contiguous) copy of x (rank 2).
Tensor strided(const Tensor& x) { return transpose(contiguous(transpose(x, 0, 1)), 0, 1); }

}  // namespace

TEST_CASE("cpu isa: the variants this CPU runs, the chosen one, the build's baseline") {
  const std::vector<std::string> isas = cpu_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == "base");
  bool listed = false;
  for (const auto& s : isas) listed = listed || s == cpu_isa();
  CHECK(listed);
  const char* env = std::getenv("UNRAVEL_CPU_ISA");
  if (env && *env && std::string(env) != "auto") CHECK(cpu_isa() == env);
  else CHECK(cpu_isa() == isas.back());  // the most capable by default
  MESSAGE("CPU loop variants this CPU runs: " << fmt::format("{}", fmt::join(isas, ", "))
                                              << "; active: " << cpu_isa());
}

TEST_CASE("cpu isa: the override refuses unknown names and variants this CPU lacks") {
  IsaGuard guard;
  std::string err;
  try {
    set_cpu_isa("avx1024");
  } catch (const Error& e) {
    err = e.what();
  }
  CHECK(err.find("unknown CPU ISA 'avx1024'") != std::string::npos);
  CHECK(err.find("base") != std::string::npos);  // lists what exists
  CHECK(cpu_isa() == guard.prev);                // unchanged
  for (const char* name : {"avx2", "avx512"}) {
    bool runs = false;
    for (const auto& s : cpu_isas()) runs = runs || s == name;
    if (runs) continue;
    err.clear();
    try {
      set_cpu_isa(name);
    } catch (const Error& e) {
      err = e.what();
    }
    CAPTURE(err);
    // Either this build lacks the variant, or the CPU does: both say which.
    CHECK((err.find("cannot run") != std::string::npos ||
           err.find("unknown CPU ISA") != std::string::npos));
  }
  set_cpu_isa("auto");
  CHECK(cpu_isa() == cpu_isas().back());
}

// Run as a child process by the next test case (UNRAVEL_ISA_TEST_CHILD set): the first kernel
// call of a process with a bad UNRAVEL_CPU_ISA throws the environment's error.
TEST_CASE("cpu isa: child process with a bad UNRAVEL_CPU_ISA") {
  if (!std::getenv("UNRAVEL_ISA_TEST_CHILD")) return;
  try {
    Tensor t = Tensor::zeros({4});
    std::printf("no error; isa %s\n", cpu_isa().c_str());
  } catch (const Error& e) {
    std::printf("error: %s\n", e.what());
  }
}

TEST_CASE("cpu isa: UNRAVEL_CPU_ISA with an unknown name fails with a clear message") {
  const std::string out = "/tmp/unravel_test_cpu_isa_child.txt";
  const std::string cmd =
      "UNRAVEL_ISA_TEST_CHILD=1 UNRAVEL_CPU_ISA=sse9 /proc/self/exe "
      "--test-case='cpu isa: child process with a bad UNRAVEL_CPU_ISA' > " + out + " 2>&1";
  // /proc/self/exe of the shell is the shell: resolve ours first.
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  std::string c = cmd;
  c.replace(c.find("/proc/self/exe"), 14, self);
  REQUIRE(std::system(c.c_str()) == 0);
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  std::remove(out.c_str());
  CAPTURE(ss.str());
  CHECK(ss.str().find("error: UNRAVEL_CPU_ISA=sse9: unknown CPU ISA 'sse9'") != std::string::npos);
}

TEST_CASE("cpu isa: copy/cast, fill, arange, where and indexing are bitwise equal in every variant") {
  auto r = under_each([] {
    std::vector<Tensor> out;
    for (DType from : kTypes) {
      Tensor x = values({37, 41}, from, 1);
      for (DType dt : kTypes) {
        Tensor y = Tensor::empty({37, 41}, dt);
        backend(kCPU).copy(x.view(), y.view());
        out.push_back(y);
        Tensor ys = Tensor::empty({37, 41}, dt);
        backend(kCPU).copy(strided(x).view(), ys.view());
        out.push_back(ys);
      }
      Tensor f = Tensor::empty({1000}, from);
      backend(kCPU).fill(f.view(), 2.5);
      out.push_back(f);
      Tensor a = Tensor::empty({1000}, from);
      backend(kCPU).arange(a.view(), 3.0, 0.75);
      out.push_back(a);
      Tensor cond = gt(values({37, 41}, DType::f64, 2), 0.0);
      out.push_back(where(cond, x, values({37, 41}, from, 3)));
      Generator gi(4);
      Tensor idx = to(floor(uniform({37, 5}, gi, 0, 40.999, DType::f64)), DType::i64);
      out.push_back(gather(x, 1, idx));
      out.push_back(index_select(x, 0, Tensor::from_vector<int64_t>({3, 0, 36, 3}, {4})));
      Tensor acc = Tensor::zeros({37, 41}, from);
      backend(kCPU).scatter_add(x.view(), 0, Tensor::zeros({37, 41}, DType::i64).view(), acc.view());
      out.push_back(acc);
      Tensor acc2 = Tensor::zeros({37, 41}, from);
      Tensor src = values({37, 3}, from, 5);
      backend(kCPU).index_add(src.view(), 1, Tensor::from_vector<int64_t>({5, 5, 40}, {3}).view(),
                              acc2.view());
      out.push_back(acc2);
    }
    return out;
  });
  check_all_same(r, "copy/fill/arange/where/index");
}

TEST_CASE("cpu isa: unary and binary ops equal base bitwise; vec_math ops within the ulp bound") {
  const std::vector<std::string> isas = cpu_isas();
  for (int u = 0; u < kNumUnaryOps; ++u) {
    const UnaryOp op = static_cast<UnaryOp>(u);
    const bool ints = [&] {
      bool k = false;
      fn::visit_unary(op, [&](auto f) { k = decltype(f)::kInt; });
      return k;
    }();
    for (DType dt : kTypes) {
      if (!is_floating(dt) && !ints) continue;
      auto r = under_each([&] {
        Tensor x = values({65, 67}, dt, 10 + u, -5, 5);
        Tensor y = Tensor::empty(x.shape(), dt), ys = Tensor::empty(x.shape(), dt);
        backend(kCPU).unary(op, x.view(), y.view(), 0.3);
        backend(kCPU).unary(op, strided(x).view(), ys.view(), 0.3);
        return std::vector<Tensor>{y, ys};
      });
      CAPTURE(fn::unary_name(op));
      CAPTURE(dtype_name(dt));
      const bool vec = dt == DType::f32 && (op == UnaryOp::exp || op == UnaryOp::log1p ||
                                            op == UnaryOp::softplus || op == UnaryOp::sigmoid);
      for (size_t v = 1; v < r.size(); ++v)
        for (int k = 0; k < 2; ++k) {
          CAPTURE(isas[v]);
          if (vec) {
            CHECK(max_ulps(r[v][k], r[0][k]) <= 4);  // each side ≤ 2 ulp from the true value
            CHECK(same(r[v][k], r[1][k]));          // avx2 and avx512: the same vector code
          } else {
            CHECK(same(r[v][k], r[0][k]));
          }
        }
    }
  }
  for (int b = 0; b < kNumBinaryOps; ++b) {
    const BinaryOp op = static_cast<BinaryOp>(b);
    bool ints = false, cmp = false;
    fn::visit_binary(op, [&](auto f) {
      ints = decltype(f)::kInt;
      cmp = decltype(f)::kCompare;
    });
    for (DType dt : kTypes) {
      if (!is_floating(dt) && !ints) continue;
      auto r = under_each([&] {
        Tensor a = values({33, 70}, dt, 100 + b, -4, 4), bb = values({33, 70}, dt, 200 + b, -4, 4);
        if (!is_floating(dt) && (op == BinaryOp::div)) bb = abs(bb) + 1.0;
        Tensor row = values({1, 70}, dt, 300 + b, 0.5, 4);
        const DType out_t = cmp ? DType::u8 : dt;
        std::vector<Tensor> out;
        for (const auto& [x, z] : {std::pair{a, bb}, std::pair{strided(a), bb},
                                   std::pair{a, expand(row, a.shape())},
                                   std::pair{expand(row, a.shape()), bb}}) {
          Tensor y = Tensor::empty(a.shape(), out_t);
          backend(kCPU).binary(op, x.view(), z.view(), y.view(), 0.25);
          out.push_back(y);
        }
        return out;
      });
      CAPTURE(fn::binary_name(op));
      CAPTURE(dtype_name(dt));
      const bool vec = dt == DType::f32 && op == BinaryOp::softplus_grad;
      for (size_t v = 1; v < r.size(); ++v)
        for (size_t k = 0; k < r[0].size(); ++k) {
          CAPTURE(isas[v]);
          if (vec) {
            CHECK(max_ulps(r[v][k], r[0][k]) <= 4);
            CHECK(same(r[v][k], r[1][k]));
          } else {
            CHECK(same(r[v][k], r[0][k]));
          }
        }
    }
  }
}

TEST_CASE("cpu isa: reductions, batch norm, random fills and optimiser steps are bitwise equal") {
  auto r = under_each([] {
    std::vector<Tensor> out;
    for (DType dt : kTypes) {
      Tensor x = values({129, 257}, dt, 7, 0.5, 1.5);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min,
                          ReduceOp::prod})
        for (const Shape& ys : {Shape{129, 1}, Shape{1, 257}, Shape{1, 1}}) {
          Tensor y = Tensor::empty(ys, dt);
          backend(kCPU).reduce(op, x.view(), y.view());
          out.push_back(y);
        }
      for (bool is_max : {true, false}) {
        Tensor y = Tensor::empty({129, 1}, DType::i64);
        backend(kCPU).arg_reduce(is_max, x.view(), 1, y.view());
        out.push_back(y);
      }
    }
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor x = values({8, 5, 7, 9}, dt, 20), dy = values({8, 5, 7, 9}, dt, 21);
      Tensor gamma = values({5}, dt, 22), beta = values({5}, dt, 23);
      Tensor y = Tensor::empty(x.shape(), dt), m = Tensor::empty({5}, dt), s = Tensor::empty({5}, dt);
      backend(kCPU).batch_norm_forward(x.view(), gamma.view(), beta.view(), TensorView{}, TensorView{},
                                       true, 1e-5, y.view(), m.view(), s.view());
      Tensor dx = Tensor::empty(x.shape(), dt), dg = Tensor::empty({5}, dt), db = Tensor::empty({5}, dt);
      backend(kCPU).batch_norm_backward(dy.view(), x.view(), gamma.view(), m.view(), s.view(),
                                        dx.view(), dg.view(), db.view());
      out.insert(out.end(), {y, m, s, dx, dg, db});
      Generator g(31);
      out.push_back(uniform({1001}, g, -2, 3, dt));
      out.push_back(normal({1001}, g, 0.5, 2, dt));
      out.push_back(bernoulli({1001}, 0.3, g, dt));
      // Adam with every flag combination, then SGD with momentum / Nesterov / weight decay.
      for (int flags = 0; flags < 8; ++flags) {
        Tensor p = values({3001}, dt, 40), grad = values({3001}, dt, 41);
        Tensor m1 = values({3001}, dt, 42), v1 = abs(values({3001}, dt, 43)), vm = abs(values({3001}, dt, 44));
        OptimStep h;
        h.rule = OptimRule::adam;
        h.lr = 1e-3;
        h.weight_decay = (flags & 1) ? 0.01 : 0.0;
        h.decoupled = flags & 2;
        h.amsgrad = flags & 4;
        h.beta1 = (flags & 1) ? 0.3 : 0.9;
        h.step_size = 1e-3 / (1 - 0.9);
        h.bc2_sqrt = 0.04;
        backend(kCPU).optimizer_step(h, {OptimSlot{p.view(), grad.view(), m1.view(), v1.view(),
                                                   h.amsgrad ? vm.view() : TensorView{}}});
        out.insert(out.end(), {p, m1, v1, vm});
        Tensor q = values({3001}, dt, 45), buf = values({3001}, dt, 46);
        OptimStep sg;
        sg.rule = OptimRule::sgd;
        sg.lr = 0.1;
        sg.momentum = 0.9;
        sg.dampening = 0.1;
        sg.nesterov = flags & 1;
        sg.weight_decay = (flags & 2) ? 1e-2 : 0.0;
        backend(kCPU).optimizer_step(sg, {OptimSlot{q.view(), grad.view(), buf.view(), {}, {}}});
        out.insert(out.end(), {q, buf});
      }
    }
    Generator g(32);
    out.push_back(permutations(7, 513, g));
    return out;
  });
  check_all_same(r, "reduce/batch norm/random/optimiser");
}

TEST_CASE("cpu isa: pairwise IMQ sums agree across variants (f64 to 1e-12, f32 to 1e-5)") {
  const std::vector<std::string> isas = cpu_isas();
  for (DType dt : {DType::f32, DType::f64})
    for (ImqMode mode : {ImqMode::per_dim, ImqMode::full})
      for (bool sym : {false, true}) {
        auto r = under_each([&] {
          Tensor a = values({70, 6}, dt, 50), b = sym ? a : values({90, 6}, dt, 51);
          Tensor y = Tensor::empty(Shape{}, dt);
          Tensor ga = Tensor::empty(a.shape(), dt), gb = Tensor::empty(b.shape(), dt);
          backend(kCPU).pairwise_imq(mode, a.view(), b.view(), {0.2, 1.0, 6.0}, y.view(), ga.view(),
                                     gb.view());
          return std::vector<Tensor>{y, ga, gb};
        });
        const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
        for (size_t v = 1; v < r.size(); ++v)
          for (size_t k = 0; k < 3; ++k) {
            CAPTURE(isas[v]);
            CAPTURE(dtype_name(dt));
            CAPTURE(k);
            const double scale = testing::max_abs_diff(r[0][k], Tensor::zeros_like(r[0][k]));
            CHECK(testing::max_abs_diff(r[v][k], r[0][k]) <= tol * (1.0 + scale));
          }
      }
}
