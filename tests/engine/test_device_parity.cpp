// Device parity, table-driven (after ggml's test-backend-ops): every case of one table runs on
// the CPU and on every other device this build and machine have — always `sim:0`, and `cuda:0`
// where the CUDA backend is compiled and a GPU is usable — and the device must give the CPU's
// forward values, and the CPU's gradients of a random-weighted sum of the (floating) outputs with
// respect to every floating input. A case is an op name, a function of its inputs (and of the
// device, for ops that make tensors), and its inputs' shapes, dtypes, value ranges and layouts.
// Families per op: odd sizes (7, 13, 1), broadcasting, non-contiguous inputs (a transposed or a
// step-2 slice of a bigger tensor; gradients are taken w.r.t. that bigger tensor), 0-d and empty
// tensors where the op allows them, f32 and f64, integer dtypes where the op takes them.
// Random fills must equal the CPU's for the same generator state (bit for bit; normal may differ
// in the last bit on a GPU, whose log and cos are not glibc's).
//
// On sim every case should be bitwise equal (the CPU's kernels run there); the test asserts
// only the tolerances and reports how many cases were bitwise equal per device.
//
// A second test runs f64 finite-difference gradient checks ON each device for a representative
// subset. tests/gradcheck.h cannot: it copies its inputs to the CPU and perturbs them through
// data<T>(), so device_gradcheck below perturbs with device kernels (fill_ on a one-element
// view) and reads the objective with item().
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/sim/sim_backend.h"
#include "ops/distributions.h"
#include "ops/likelihoods.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

namespace {

// --- the table's vocabulary ------------------------------------------------------------------

/// How the op sees an input: dense, or a non-contiguous view of a bigger dense tensor.
enum class Lay : uint8_t {
  dense,
  transposed,  // transpose(base, -2, -1) of a base with the last two extents swapped
  strided,     // slice(base, -1, 1, 2n + 1, 2) of a base whose last extent is 2n + 1
};

struct In {
  Shape shape;                 ///< the shape the op sees
  double lo = -2, hi = 2;      ///< values uniform in [lo, hi) (integers there when `integral`)
  std::optional<DType> dtype;  ///< default: the case's dtype
  Lay lay = Lay::dense;
  bool grad = true;            ///< floating inputs: compare the gradient w.r.t. this one
  bool integral = false;

  In t() const { In c = *this; c.lay = Lay::transposed; return c; }
  In s() const { In c = *this; c.lay = Lay::strided; return c; }
  In nograd() const { In c = *this; c.grad = false; return c; }
  In as(DType d) const { In c = *this; c.dtype = d; return c; }
  In ints() const { In c = *this; c.integral = true; return c; }
};

/// A floating (the case's dtype) input.
In X(Shape s, double lo = -2, double hi = 2) {
  In i;
  i.shape = std::move(s);
  i.lo = lo;
  i.hi = hi;
  return i;
}
/// i64 indices in [0, n).
In Idx(Shape s, int64_t n) {
  In i = X(std::move(s), 0, static_cast<double>(n));
  i.dtype = DType::i64;
  i.integral = true;
  i.grad = false;
  return i;
}
/// u8 condition (0 or 1).
In Cond(Shape s) {
  In i = X(std::move(s), 0, 2);
  i.dtype = DType::u8;
  i.integral = true;
  i.grad = false;
  return i;
}

/// Tolerance classes (relative to the larger of |cpu value| and the tensor's max |cpu value|).
enum class Tol : uint8_t {
  plain,           // f32 1e-5, f64 1e-12
  transcendental,  // f32 1e-4 (the CPU's f32 exp/log1p/softplus/sigmoid are vectorised
                   // approximations; a GPU's libm differs by ulps), f64 1e-12
  library,         // gemm / convolution / kernel sums: another summation order; f32 1e-4
  rng,             // random fills: bit for bit on every device
  rng_normal,      // normal fills: bit for bit on sim; an ulp elsewhere (device log/cos)
};

using Fn = std::function<TensorList(const TensorList&, Device)>;

struct Case {
  std::string name;
  DType dtype;
  std::vector<In> ins;
  Fn f;
  Tol tol = Tol::plain;
};

std::string dt_str(DType d) { return std::string(dtype_name(d)); }

double rtol_for(Tol tol, DType dt, Device dev) {
  if (!is_floating(dt)) return 0.0;  // integer and u8 results: exact
  const bool f32 = dt == DType::f32;
  switch (tol) {
    case Tol::plain: return f32 ? 1e-5 : 1e-12;
    case Tol::transcendental: return f32 ? 1e-4 : 1e-12;
    case Tol::library: return f32 ? 1e-4 : 1e-12;
    case Tol::rng: return 0.0;
    case Tol::rng_normal: return dev.is_sim() ? 0.0 : (f32 ? 1.2e-7 : 1e-15);
  }
  return 0.0;
}

// --- inputs ----------------------------------------------------------------------------------

Shape base_shape(const In& in) {
  Shape s = in.shape;
  if (in.lay == Lay::transposed) {
    REQUIRE(s.size() >= 2);
    std::swap(s[s.size() - 1], s[s.size() - 2]);
  } else if (in.lay == Lay::strided) {
    REQUIRE(s.size() >= 1);
    s[s.size() - 1] = 2 * s[s.size() - 1] + 1;
  }
  return s;
}

Tensor view_as_seen(const In& in, const Tensor& base) {
  switch (in.lay) {
    case Lay::dense: return base;
    case Lay::transposed: return transpose(base, -2, -1);
    case Lay::strided: return slice(base, -1, 1, base.size(-1), 2);
  }
  return base;
}

/// The CPU base tensor of input `in` (dense; values from g).
Tensor make_base(const In& in, DType case_dtype, Generator& g) {
  const DType dt = in.dtype.value_or(case_dtype);
  Tensor u = uniform(base_shape(in), g, in.lo, in.hi, DType::f64);
  if (in.integral) u = floor(u);
  return to(u, dt);
}

// --- comparison ------------------------------------------------------------------------------

bool same_bits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

/// "" when `dev_t` (on the device) equals `cpu_t` within rtol; else what differs. Clears
/// *bitwise on any bit difference.
std::string compare(const Tensor& cpu_t, const Tensor& dev_t, Device dev, double rtol,
                    bool* bitwise) {
  std::ostringstream os;
  if (dev_t.device() != dev) {
    os << "result is on " << dev_t.device().str() << ", not " << dev.str();
    return os.str();
  }
  if (cpu_t.shape() != dev_t.shape()) {
    os << "shape " << dev_t.shape().str() << ", CPU " << cpu_t.shape().str();
    return os.str();
  }
  if (cpu_t.dtype() != dev_t.dtype()) {
    os << "dtype " << dt_str(dev_t.dtype()) << ", CPU " << dt_str(cpu_t.dtype());
    return os.str();
  }
  std::vector<double> c = cpu_t.to_vector<double>(), d = dev_t.to_vector<double>();
  double scale = 0;
  for (double v : c)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!same_bits(c[i], d[i])) *bitwise = false;
    if (c[i] == d[i] || (std::isnan(c[i]) && std::isnan(d[i]))) continue;
    const double err = std::fabs(c[i] - d[i]);
    const double tol = rtol * std::max(std::fabs(c[i]), scale);
    if (!(err <= tol)) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
      const double rel = err / std::max(std::max(std::fabs(c[i]), scale), 1e-300);
      worst = std::isnan(rel) ? INFINITY : std::max(worst, rel);
    }
  }
  if (bad == 0) return "";
  os.precision(17);
  os << bad << " of " << c.size() << " elements differ beyond rtol " << rtol << "; first ["
     << first << "]: device " << d[first] << ", CPU " << c[first] << "; worst relative error "
     << worst;
  return os.str();
}

// --- running one case on one device ----------------------------------------------------------

struct Run {
  TensorList leaves;  // the base tensors that require grad (one per floating In with grad)
  TensorList outs;
  Tensor loss;        // Σ sum(out · w) over floating outputs; undefined when none
};

Run run_on(const Case& c, const std::vector<Tensor>& cpu_bases, Device dev) {
  Run r;
  TensorList seen;
  for (size_t i = 0; i < c.ins.size(); ++i) {
    Tensor b = dev.is_cpu() ? clone(cpu_bases[i]).detach() : to(cpu_bases[i], dev).detach();
    if (c.ins[i].grad && is_floating(b.dtype())) {
      b.set_requires_grad(true);
      r.leaves.push_back(b);
    }
    seen.push_back(view_as_seen(c.ins[i], b));
  }
  r.outs = c.f(seen, dev);
  int k = 0;
  for (const Tensor& o : r.outs) {
    ++k;
    if (!o.defined() || !is_floating(o.dtype()) || !o.requires_grad()) continue;
    Generator gw(900 + k);
    Tensor w = to(uniform(o.shape(), gw, 0.5, 1.5, DType::f64), o.dtype());
    if (!dev.is_cpu()) w = to(w, dev);
    Tensor term = sum(o * w);
    r.loss = r.loss.defined() ? r.loss + term : term;
  }
  if (r.loss.defined()) r.loss.backward();
  return r;
}

struct Verdict {
  bool ok = true;
  bool bitwise = true;
  int outputs = 0, grads = 0;  // tensors compared
};

Verdict check_case(const Case& c, size_t index, Device dev) {
  Verdict v;
  auto fail = [&](const std::string& what) {
    FAIL_CHECK(c.name << " on " << dev.str() << ": " << what);
    v.ok = false;
  };
  // Inputs are made on the CPU from one generator per case, then copied to the device.
  Generator g(1000 + index);
  std::vector<Tensor> bases;
  for (const In& in : c.ins) bases.push_back(make_base(in, c.dtype, g));

  Run cpu;
  try {
    cpu = run_on(c, bases, kCPU);
  } catch (const std::exception& e) {
    tape().clear();
    fail(std::string("the CPU reference threw (a bug in the case): ") + e.what());
    return v;
  }
  Run d;
  try {
    d = run_on(c, bases, dev);
  } catch (const std::exception& e) {
    tape().clear();
    fail(std::string("threw: ") + e.what());
    return v;
  }
  if (cpu.outs.size() != d.outs.size()) {
    fail("output count " + std::to_string(d.outs.size()) + ", CPU " +
         std::to_string(cpu.outs.size()));
    return v;
  }
  for (size_t k = 0; k < cpu.outs.size(); ++k) {
    const Tensor& co = cpu.outs[k];
    const Tensor& dout = d.outs[k];
    if (co.defined() != dout.defined()) {
      fail("output " + std::to_string(k) + " defined on one side only");
      continue;
    }
    if (!co.defined()) continue;
    std::string why = compare(co, dout, dev, rtol_for(c.tol, co.dtype(), dev), &v.bitwise);
    if (!why.empty()) fail("output " + std::to_string(k) + ": " + why);
    ++v.outputs;
  }
  if (cpu.loss.defined() != d.loss.defined()) {
    fail("the weighted output sum requires grad on one side only");
    return v;
  }
  for (size_t i = 0; i < cpu.leaves.size(); ++i) {
    const Tensor gc = cpu.leaves[i].grad(), gd = d.leaves[i].grad();
    if (gc.defined() != gd.defined()) {
      fail("gradient of input " + std::to_string(i) + " defined on one side only");
      continue;
    }
    if (!gc.defined()) continue;
    // Gradients go through several kernels: twice the forward tolerance.
    std::string why =
        compare(gc, gd, dev, 2 * rtol_for(c.tol, gc.dtype(), dev), &v.bitwise);
    if (!why.empty()) fail("gradient of floating input " + std::to_string(i) + ": " + why);
    ++v.grads;
  }
  return v;
}

// --- devices ---------------------------------------------------------------------------------

/// sim:0 always; cuda:0 when compiled and usable (otherwise one MESSAGE says why not).
std::vector<Device> devices_under_test(bool say_why) {
  std::vector<Device> ds{sim_device(0)};
  if (!backend_compiled(DeviceKind::cuda)) {
    if (say_why) MESSAGE("cuda: skipped: this build has no CUDA backend");
    return ds;
  }
  try {
    backend(cuda_device(0));
    ds.push_back(cuda_device(0));
  } catch (const std::exception& e) {
    if (say_why) MESSAGE("cuda: skipped: " << std::string(e.what()));
  }
  return ds;
}

// --- the table -------------------------------------------------------------------------------

#define UN(expr) [](const Tensor& x) { return expr; }

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

std::vector<Case> build_table() {
  std::vector<Case> t;
  const DType kF32 = DType::f32, kF64 = DType::f64;
  const DType floats[] = {kF32, kF64};
  auto row = [&](std::string name, DType dt, std::vector<In> ins, Fn f, Tol tol = Tol::plain) {
    t.push_back(Case{std::move(name) + " " + dt_str(dt), dt, std::move(ins), std::move(f), tol});
  };
  auto one = [](auto g) {  // wraps a single-output function of the inputs
    return [g](const TensorList& in, Device) { return TensorList{g(in)}; };
  };

  // ---- unary (every UnaryOp the public API exposes; trigamma runs in digamma's backward) ----
  struct U {
    const char* name;
    UnaryFn f;
    double lo, hi;
    Tol tol;
  };
  const U unary[] = {
      {"neg", UN(neg(x)), -2, 2, Tol::plain},
      {"operator-", UN(-x), -2, 2, Tol::plain},
      {"exp", UN(exp(x)), -3, 3, Tol::transcendental},
      {"log", UN(log(x)), 0.2, 3, Tol::transcendental},
      {"log1p", UN(log1p(x)), -0.5, 2, Tol::transcendental},
      {"expm1", UN(expm1(x)), -2, 2, Tol::transcendental},
      {"sqrt", UN(sqrt(x)), 0.2, 3, Tol::plain},
      {"rsqrt", UN(rsqrt(x)), 0.2, 3, Tol::plain},
      {"abs", UN(abs(x)), -2, 2, Tol::plain},
      {"square", UN(square(x)), -2, 2, Tol::plain},
      {"sigmoid", UN(sigmoid(x)), -6, 6, Tol::transcendental},
      {"tanh", UN(tanh(x)), -3, 3, Tol::transcendental},
      {"relu", UN(relu(x)), -2, 2, Tol::plain},
      {"leaky_relu", UN(leaky_relu(x, 0.2)), -2, 2, Tol::plain},
      {"softplus", UN(softplus(x)), -6, 6, Tol::transcendental},
      {"lgamma", UN(lgamma(x)), 0.3, 5, Tol::transcendental},
      {"digamma", UN(digamma(x)), 0.3, 5, Tol::transcendental},
      {"digamma_negative", UN(digamma(x)), -0.9, -0.1, Tol::transcendental},
      {"erf", UN(erf(x)), -2, 2, Tol::transcendental},
      {"sign", UN(sign(x)), -2, 2, Tol::plain},
      {"reciprocal", UN(reciprocal(x)), 0.5, 2, Tol::plain},
      {"sin", UN(sin(x)), -3, 3, Tol::transcendental},
      {"cos", UN(cos(x)), -3, 3, Tol::transcendental},
      {"floor", UN(floor(x)), -3, 3, Tol::plain},
      {"pow_scalar(2.5)", UN(pow(x, 2.5)), 0.2, 3, Tol::transcendental},
      {"pow_scalar(3)", UN(pow(x, 3.0)), -2, 2, Tol::transcendental},
      {"pow_scalar(-0.5)", UN(pow(x, -0.5)), 0.2, 3, Tol::transcendental},
      {"scale", UN(x * 1.7), -2, 2, Tol::plain},
      {"scale_left", UN(0.3 * x), -2, 2, Tol::plain},
      {"div_scalar", UN(x / 3.0), -2, 2, Tol::plain},
      {"add_scalar", UN(x + 0.5), -2, 2, Tol::plain},
      {"add_scalar_left", UN(0.5 + x), -2, 2, Tol::plain},
      {"sub_scalar", UN(x - 0.25), -2, 2, Tol::plain},
      {"rsub_scalar", UN(1.5 - x), -2, 2, Tol::plain},
      {"rdiv_scalar", UN(2.0 / x), 0.5, 2, Tol::plain},
      {"clamp", UN(clamp(x, -0.5, 0.7)), -2, 2, Tol::plain},
  };
  for (const U& u : unary) {
    const UnaryFn f = u.f;
    auto fn = [f](const TensorList& in, Device) { return TensorList{f(in[0])}; };
    for (DType dt : floats) {
      const std::string n = u.name;
      row(n + " [7,13]", dt, {X({7, 13}, u.lo, u.hi)}, fn, u.tol);
      row(n + " transposed [13,7]", dt, {X({13, 7}, u.lo, u.hi).t()}, fn, u.tol);
      row(n + " strided [5,6]", dt, {X({5, 6}, u.lo, u.hi).s()}, fn, u.tol);
      row(n + " [1]", dt, {X({1}, u.lo, u.hi)}, fn, u.tol);
      row(n + " 0-d", dt, {X({}, u.lo, u.hi)}, fn, u.tol);
      row(n + " empty [0,5]", dt, {X({0, 5}, u.lo, u.hi)}, fn, u.tol);
    }
  }
  // logical_not: on integer-valued floats (zeros included) and on integers.
  for (DType dt : {kF32, kF64, DType::i32, DType::i64, DType::u8}) {
    double lo = dt == DType::u8 ? 0 : -2;
    row("logical_not [7,13]", dt, {X({7, 13}, lo, 3).ints()}, one([](auto& in) { return logical_not(in[0]); }));
  }
  // Integer unary ops (forward only).
  const std::pair<const char*, UnaryFn> int_unary[] = {
      {"neg", UN(neg(x))},     {"abs", UN(abs(x))},         {"square", UN(square(x))},
      {"relu", UN(relu(x))},   {"sign", UN(sign(x))},       {"scale", UN(x * 3.0)},
      {"add_scalar", UN(x + 4.0)}, {"rsub_scalar", UN(2.0 - x)},
  };
  for (const auto& [name, f] : int_unary)
    for (DType dt : {DType::i32, DType::i64}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0])}; };
      row(std::string(name) + " [7,13]", dt, {X({7, 13}, -9, 9).ints()}, fn);
      row(std::string(name) + " transposed [13,7]", dt, {X({13, 7}, -9, 9).ints().t()}, fn);
    }

  // ---- binary ----------------------------------------------------------------------------------
  struct B {
    const char* name;
    BinaryFn f;
    double alo, ahi, blo, bhi;
    Tol tol;
  };
  const B binary[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, -2, 2, -2, 2, Tol::plain},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, -2, 2, 0.5, 2, Tol::plain},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 2, -2, 2,
       Tol::transcendental},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, -2, 2, -2, 2,
       Tol::plain},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, -2, 2, -2, 2,
       Tol::plain},
      {"fmod", [](const Tensor& a, const Tensor& b) { return fmod(a, b); }, -3, 3, 0.5, 2,
       Tol::plain},
      {"operator+", [](const Tensor& a, const Tensor& b) { return a + b; }, -2, 2, -2, 2, Tol::plain},
      {"operator/", [](const Tensor& a, const Tensor& b) { return a / b; }, -2, 2, 0.5, 2, Tol::plain},
  };
  for (const B& b : binary) {
    const BinaryFn f = b.f;
    auto fn = [f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
    auto A = [&](Shape s) { return X(std::move(s), b.alo, b.ahi); };
    auto Bv = [&](Shape s) { return X(std::move(s), b.blo, b.bhi); };
    for (DType dt : floats) {
      const std::string n = b.name;
      row(n + " [7,13] [7,13]", dt, {A({7, 13}), Bv({7, 13})}, fn, b.tol);
      row(n + " broadcast [4,1,5] [3,5]", dt, {A({4, 1, 5}), Bv({3, 5})}, fn, b.tol);
      row(n + " broadcast [6,1] [1,5]", dt, {A({6, 1}), Bv({1, 5})}, fn, b.tol);
      row(n + " broadcast 0-d [7]", dt, {A({}), Bv({7})}, fn, b.tol);
      row(n + " broadcast [13] [1]", dt, {A({13}), Bv({1})}, fn, b.tol);
      row(n + " transposed/strided [13,7]", dt, {A({13, 7}).t(), Bv({13, 7}).s()}, fn, b.tol);
      row(n + " transposed [6,5] broadcast [5]", dt, {A({6, 5}).t(), Bv({5})}, fn, b.tol);
      row(n + " empty [0,3] [3]", dt, {A({0, 3}), Bv({3})}, fn, b.tol);
    }
  }
  // Integer arithmetic (forward only).
  const std::pair<const char*, BinaryFn> int_binary[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  for (const auto& [name, f] : int_binary)
    for (DType dt : {DType::i32, DType::i64}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
      row(std::string(name) + " [7,13] [7,13]", dt,
          {X({7, 13}, -9, 9).ints(), X({7, 13}, -9, 9).ints()}, fn);
      row(std::string(name) + " broadcast [4,1,5] [3,5] transposed", dt,
          {X({4, 1, 5}, -9, 9).ints(), X({3, 5}, -9, 9).ints().t()}, fn);
    }
  // Comparisons (u8 results), with ties: integer values in every dtype.
  const std::pair<const char*, BinaryFn> cmps[] = {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  for (const auto& [name, f] : cmps)
    for (DType dt : {kF32, kF64, DType::i32, DType::i64, DType::u8}) {
      auto fn = [f = f](const TensorList& in, Device) { return TensorList{f(in[0], in[1])}; };
      const double lo = dt == DType::u8 ? 0 : -2;
      row(std::string(name) + " [7,13] [7,13]", dt,
          {X({7, 13}, lo, 3).ints(), X({7, 13}, lo, 3).ints()}, fn);
      row(std::string(name) + " broadcast [4,1,5] [3,5]", dt,
          {X({4, 1, 5}, lo, 3).ints(), X({3, 5}, lo, 3).ints()}, fn);
      row(std::string(name) + " transposed [13,7] 0-d", dt,
          {X({13, 7}, lo, 3).ints().t(), X({}, lo, 3).ints()}, fn);
      row(std::string(name) + " empty [0,4] [4]", dt, {X({0, 4}, lo, 3).ints(), X({4}, lo, 3).ints()}, fn);
    }
  for (DType dt : floats) {
    row("gt(x, scalar) [7,13]", dt, {X({7, 13})}, one([](auto& in) { return gt(in[0], 0.25); }));
    row("lt(x, scalar) strided [5,6]", dt, {X({5, 6}).s()},
        one([](auto& in) { return lt(in[0], -0.25); }));
  }

  // ---- where ----------------------------------------------------------------------------------
  auto where3 = one([](auto& in) { return where(in[0], in[1], in[2]); });
  for (DType dt : floats) {
    row("where [7,13]", dt, {Cond({7, 13}), X({7, 13}), X({7, 13})}, where3);
    row("where broadcast [4,1,5] [3,5] 0-d", dt, {Cond({4, 1, 5}), X({3, 5}), X({})}, where3);
    row("where transposed/strided [13,7] [7]", dt, {Cond({13, 7}).t(), X({13, 7}).s(), X({7})},
        where3);
    row("where empty [0,5]", dt, {Cond({0, 5}), X({0, 5}), X({5})}, where3);
    row("where(gt(a, b), a, 2b) [6,1] [5]", dt, {X({6, 1}), X({5})},
        one([](auto& in) { return where(gt(in[0], in[1]), in[0], in[1] * 2.0); }));
  }
  for (DType dt : {DType::i32, DType::i64})
    row("where int [4,1,5] [3,5] [5]", dt, {Cond({4, 1, 5}), X({3, 5}, -9, 9).ints(), X({5}, -9, 9).ints()},
        where3);

  // ---- reductions -----------------------------------------------------------------------------
  struct R {
    const char* name;
    Tensor (*f)(const Tensor&, const Axes&, bool);
    Tol tol;
  };
  const R reds[] = {
      {"sum", [](const Tensor& x, const Axes& a, bool k) { return sum(x, a, k); }, Tol::plain},
      {"mean", [](const Tensor& x, const Axes& a, bool k) { return mean(x, a, k); }, Tol::plain},
      {"max", [](const Tensor& x, const Axes& a, bool k) { return max(x, a, k); }, Tol::plain},
      {"min", [](const Tensor& x, const Axes& a, bool k) { return min(x, a, k); }, Tol::plain},
      {"logsumexp", [](const Tensor& x, const Axes& a, bool k) { return logsumexp(x, a, k); },
       Tol::transcendental},
      {"var", [](const Tensor& x, const Axes& a, bool k) { return var(x, a, 1, k); }, Tol::plain},
  };
  struct AxSet {
    const char* name;
    Axes axes;
    bool keep;
  };
  const AxSet axsets[] = {
      {"full", {}, false},          {"axis 1", {1}, false},         {"axes {0,2}", {0, 2}, false},
      {"axis -1 keepdim", {-1}, true}, {"axes {1,2} keepdim", {1, 2}, true}, {"full keepdim", {}, true},
  };
  for (const R& r : reds) {
    const auto f = r.f;
    for (DType dt : floats) {
      for (const AxSet& ax : axsets) {
        auto fn = [f, a = ax.axes, k = ax.keep](const TensorList& in, Device) {
          return TensorList{f(in[0], a, k)};
        };
        row(std::string(r.name) + " " + ax.name + " [4,7,5]", dt, {X({4, 7, 5})}, fn, r.tol);
      }
      auto fn1 = [f](const TensorList& in, Device) { return TensorList{f(in[0], {1}, false)}; };
      auto fn0 = [f](const TensorList& in, Device) { return TensorList{f(in[0], {0, 2}, true)}; };
      row(std::string(r.name) + " axis 1 transposed [3,7,5]", dt, {X({3, 7, 5}).t()}, fn1, r.tol);
      row(std::string(r.name) + " axes {0,2} strided [3,4,6]", dt, {X({3, 4, 6}).s()}, fn0, r.tol);
      if (std::string(r.name) != "var")  // one element per row: no unbiased variance
        row(std::string(r.name) + " axis 1 [13,1]", dt, {X({13, 1})}, fn1, r.tol);
      row(std::string(r.name) + " axis 1 large [129,257]", dt, {X({129, 257})}, fn1, r.tol);
      auto full = [f](const TensorList& in, Device) { return TensorList{f(in[0], {}, false)}; };
      row(std::string(r.name) + " full large [129,257]", dt, {X({129, 257})}, full, r.tol);
    }
  }
  for (DType dt : floats) {
    // Empty: reductions over a 0-extent axis (sum 0, mean NaN) and over a non-empty one.
    row("sum empty [0,5] axis 0", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0], {0}); }));
    row("sum empty [0,5] axis 1", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0], {1}); }));
    row("sum empty [0,5] full", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0]); }));
    row("mean empty [0,5] axis 1", dt, {X({0, 5})}, one([](auto& in) { return mean(in[0], {1}); }));
    row("sum 0-d", dt, {X({})}, one([](auto& in) { return sum(in[0]); }));
    // Ties split the gradient of max / min.
    row("max with ties [7,13] axis 0", dt, {X({7, 13}, -1, 2).ints()},
        one([](auto& in) { return max(in[0], {0}); }));
    row("min with ties [7,13] full", dt, {X({7, 13}, -1, 2).ints()},
        one([](auto& in) { return min(in[0]); }));
  }
  for (DType dt : {DType::i32, DType::i64}) {
    row("sum int axis 1 [7,13]", dt, {X({7, 13}, -9, 9).ints()},
        one([](auto& in) { return sum(in[0], {1}); }));
    row("max int axes {0} [7,13]", dt, {X({7, 13}, -9, 9).ints()},
        one([](auto& in) { return max(in[0], {0}); }));
  }
  // argmax / argmin (i64, no gradient); integer values give ties (the first index wins).
  for (DType dt : {kF32, kF64, DType::i32, DType::i64}) {
    const bool ints = !is_floating(dt);
    In x713 = ints ? X({7, 13}, -3, 3).ints() : X({7, 13});
    In ties = X({7, 13}, -1, 2).ints();
    row("argmax axis 1 [7,13]", dt, {x713}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmax axis 0 keepdim [7,13]", dt, {x713},
        one([](auto& in) { return argmax(in[0], 0, true); }));
    row("argmin axis -1 transposed [13,7]", dt, {x713.t()},
        one([](auto& in) { return argmin(in[0], -1); }));
    row("argmin axis 0 strided [5,6]", dt, {X({5, 6}, -3, 3).ints().s()},
        one([](auto& in) { return argmin(in[0], 0); }));
    row("argmax ties [7,13]", dt, {ties}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmin ties [7,13]", dt, {ties}, one([](auto& in) { return argmin(in[0], 0); }));
    row("argmax [1,1]", dt, {X({1, 1})}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmax large [129,257]", dt, {X({129, 257})}, one([](auto& in) { return argmax(in[0], 1); }));
  }
  // softmax / log_softmax.
  for (DType dt : floats) {
    row("softmax axis -1 [7,13]", dt, {X({7, 13}, -4, 4)},
        one([](auto& in) { return softmax(in[0], -1); }), Tol::transcendental);
    row("softmax axis 0 transposed [13,7]", dt, {X({13, 7}, -4, 4).t()},
        one([](auto& in) { return softmax(in[0], 0); }), Tol::transcendental);
    row("softmax [1,1]", dt, {X({1, 1})}, one([](auto& in) { return softmax(in[0], 1); }),
        Tol::transcendental);
    row("log_softmax axis 1 [7,13]", dt, {X({7, 13}, -4, 4)},
        one([](auto& in) { return log_softmax(in[0], 1); }), Tol::transcendental);
    row("log_softmax axis 1 strided [4,3,6]", dt, {X({4, 3, 6}, -4, 4).s()},
        one([](auto& in) { return log_softmax(in[0], 1); }), Tol::transcendental);
  }

  // ---- matrix products ------------------------------------------------------------------------
  auto mm = one([](auto& in) { return matmul(in[0], in[1]); });
  for (DType dt : floats) {
    const Tol L = Tol::library;
    row("matmul 2-D [7,13]@[13,5]", dt, {X({7, 13}), X({13, 5})}, mm, L);
    row("matmul batched [3,7,13]@[3,13,5]", dt, {X({3, 7, 13}), X({3, 13, 5})}, mm, L);
    row("matmul broadcast batch [2,1,4,6]@[3,6,5]", dt, {X({2, 1, 4, 6}), X({3, 6, 5})}, mm, L);
    row("matmul batch @ 2-D [3,7,13]@[13,5]", dt, {X({3, 7, 13}), X({13, 5})}, mm, L);
    row("matmul transposed a [7,13]@[13,5]", dt, {X({7, 13}).t(), X({13, 5})}, mm, L);
    row("matmul transposed b [7,13]@[13,5]", dt, {X({7, 13}), X({13, 5}).t()}, mm, L);
    row("matmul both transposed batched [2,7,13]@[2,13,5]", dt, {X({2, 7, 13}).t(), X({2, 13, 5}).t()},
        mm, L);
    row("matmul strided a [7,6]@[6,5]", dt, {X({7, 6}).s(), X({6, 5})}, mm, L);
    row("matmul vec@mat [13]@[13,5]", dt, {X({13}), X({13, 5})}, mm, L);
    row("matmul mat@vec [7,13]@[13]", dt, {X({7, 13}), X({13})}, mm, L);
    row("matmul vec@vec [13]@[13]", dt, {X({13}), X({13})}, mm, L);
    row("matmul [1,1]@[1,1]", dt, {X({1, 1}), X({1, 1})}, mm, L);
    row("matmul empty k [4,0]@[0,3]", dt, {X({4, 0}), X({0, 3})}, mm, L);
    row("matmul empty m [0,5]@[5,3]", dt, {X({0, 5}), X({5, 3})}, mm, L);
    row("matmul larger [64,96]@[96,80]", dt, {X({64, 96}), X({96, 80})}, mm, L);
    row("linear [6,13] w[5,13] b[5]", dt, {X({6, 13}), X({5, 13}), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear no bias [6,13] w[5,13]", dt, {X({6, 13}), X({5, 13})},
        one([](auto& in) { return linear(in[0], in[1]); }), L);
    row("linear batched [2,3,13] w[5,13] b[5]", dt, {X({2, 3, 13}), X({5, 13}), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear transposed x, strided w", dt, {X({6, 13}).t(), X({5, 13}).s(), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear [1,1] w[1,1] b[1]", dt, {X({1, 1}), X({1, 1}), X({1})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
  }

  // ---- convolutions (groups are not exposed by Conv2dOptions: groups = 1 only) ----------------
  auto conv = [](Conv2dOptions o, bool bias) {
    return [o, bias](const TensorList& in, Device) {
      return TensorList{conv2d(in[0], in[1], bias ? in[2] : Tensor(), o)};
    };
  };
  Conv2dOptions plain_o, s2p1, dil2, pad10;
  s2p1.stride = {2, 2};
  s2p1.padding = {1, 1};
  dil2.dilation = {2, 2};
  pad10.padding = {1, 0};
  for (DType dt : floats) {
    const Tol L = Tol::library;
    row("conv2d [2,3,9,9] w[4,3,3,3] bias", dt, {X({2, 3, 9, 9}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(plain_o, true), L);
    row("conv2d stride 2 pad 1 [2,3,9,8]", dt, {X({2, 3, 9, 8}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(s2p1, true), L);
    row("conv2d dilation 2 no bias [1,2,9,9]", dt, {X({1, 2, 9, 9}), X({3, 2, 3, 3}, -0.5, 0.5)},
        conv(dil2, false), L);
    row("conv2d odd [1,1,7,5] w[2,1,3,2] pad (1,0)", dt, {X({1, 1, 7, 5}), X({2, 1, 3, 2}), X({2})},
        conv(pad10, true), L);
    row("conv2d transposed input [2,3,8,9]", dt, {X({2, 3, 8, 9}).t(), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(s2p1, true), L);
    row("conv2d strided weight", dt, {X({2, 3, 6, 6}), X({4, 3, 3, 2}, -0.5, 0.5).s()},
        conv(plain_o, false), L);
    row("conv2d 1x1 [2,5,4,4] w[3,5,1,1]", dt, {X({2, 5, 4, 4}), X({3, 5, 1, 1}), X({3})},
        conv(plain_o, true), L);
    row("conv2d_relu stride 2 pad 1", dt, {X({2, 3, 9, 8}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        [o = s2p1](const TensorList& in, Device) { return TensorList{conv2d_relu(in[0], in[1], in[2], o)}; },
        L);
    row("conv2d_relu leaky 0.1", dt, {X({2, 3, 7, 7}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        [o = plain_o](const TensorList& in, Device) {
          return TensorList{conv2d_relu(in[0], in[1], in[2], o, 0.1)};
        },
        L);
    Conv2dOptions tr;
    tr.stride = {2, 2};
    tr.padding = {1, 1};
    tr.output_padding = {1, 1};
    row("conv_transpose2d stride 2 pad 1 outpad 1 [2,4,5,5] w[4,3,3,3]", dt,
        {X({2, 4, 5, 5}), X({4, 3, 3, 3}, -0.5, 0.5), X({3})},
        [tr](const TensorList& in, Device) { return TensorList{conv_transpose2d(in[0], in[1], in[2], tr)}; },
        L);
    row("conv_transpose2d odd no bias [1,2,4,3] w[2,3,2,2]", dt, {X({1, 2, 4, 3}), X({2, 3, 2, 2})},
        [](const TensorList& in, Device) { return TensorList{conv_transpose2d(in[0], in[1])}; }, L);
    row("conv_transpose2d_relu leaky 0.2", dt, {X({2, 4, 5, 5}).t(), X({4, 3, 3, 3}, -0.5, 0.5), X({3})},
        [tr](const TensorList& in, Device) {
          return TensorList{conv_transpose2d_relu(in[0], in[1], in[2], tr, 0.2)};
        },
        L);
  }

  // ---- batch norm, dropout, losses, one_hot ---------------------------------------------------
  for (DType dt : floats) {
    // Training: output and the running statistics (updated in place) after the call.
    auto bn_train = [](const TensorList& in, Device) {
      Tensor y = batch_norm(in[0], in[1], in[2], in[3], in[4], true, 0.1, 1e-5);
      return TensorList{y, clone(in[3]), clone(in[4])};
    };
    auto bn_eval = [](const TensorList& in, Device) {
      return TensorList{batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.1, 1e-5)};
    };
    auto stats = [](int64_t c) {
      return std::vector<In>{X({c}, -0.5, 0.5).nograd(), X({c}, 0.5, 2).nograd()};
    };
    auto with = [](std::vector<In> a, const std::vector<In>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    const Tol L = Tol::library;
    row("batch_norm train [6,4]", dt, with({X({6, 4}), X({4}, 0.5, 1.5), X({4})}, stats(4)), bn_train, L);
    row("batch_norm train [3,4,5,5]", dt, with({X({3, 4, 5, 5}), X({4}, 0.5, 1.5), X({4})}, stats(4)),
        bn_train, L);
    row("batch_norm train transposed [7,3]", dt, with({X({7, 3}).t(), X({3}, 0.5, 1.5), X({3})}, stats(3)),
        bn_train, L);
    row("batch_norm train no affine, no running stats [5,3]", dt, {X({5, 3})},
        one([](auto& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }), L);
    row("batch_norm eval [6,4]", dt, with({X({6, 4}), X({4}, 0.5, 1.5), X({4})}, stats(4)), bn_eval, L);
    row("batch_norm eval [2,4,3,5]", dt, with({X({2, 4, 3, 5}), X({4}, 0.5, 1.5), X({4})}, stats(4)),
        bn_eval, L);
    row("dropout p=0.3 [7,13]", dt, {X({7, 13})}, [](const TensorList& in, Device) {
      Generator g(5, 3);
      return TensorList{dropout(in[0], 0.3, true, g)};
    });
    row("dropout p=0.5 strided [5,6]", dt, {X({5, 6}).s()}, [](const TensorList& in, Device) {
      Generator g(6);
      return TensorList{dropout(in[0], 0.5, true, g)};
    });
    for (Reduction red : {Reduction::none, Reduction::sum, Reduction::mean}) {
      const std::string rn = red == Reduction::none ? "none" : red == Reduction::sum ? "sum" : "mean";
      row("bce_with_logits " + rn + " [7,5]", dt, {X({7, 5}, -4, 4), X({7, 5}, 0, 1)},
          [red](const TensorList& in, Device) { return TensorList{bce_with_logits(in[0], in[1], red)}; },
          Tol::transcendental);
      row("mse_loss " + rn + " [7,5] transposed target", dt, {X({7, 5}), X({7, 5}).t()},
          [red](const TensorList& in, Device) { return TensorList{mse_loss(in[0], in[1], red)}; });
      row("cross_entropy " + rn + " [7,5]", dt, {X({7, 5}, -3, 3), Idx({7}, 5)},
          [red](const TensorList& in, Device) { return TensorList{cross_entropy(in[0], in[1], red)}; },
          Tol::transcendental);
    }
    row("cross_entropy transposed logits [13,4]", dt, {X({13, 4}, -3, 3).t(), Idx({13}, 4)},
        one([](auto& in) { return cross_entropy(in[0], in[1]); }), Tol::transcendental);
    // DC-IGN's clamp (a mask in [0, 1]: the formulas interpolate; its gradient is replaced).
    row("batch_mean_clamp [6,4]", dt, {X({6, 4}), X({4}, 0, 1).nograd()},
        one([](auto& in) { return batch_mean_clamp(in[0], in[1], 0.5); }));
    row("batch_mean_clamp [2,5,3] transposed", dt, {X({2, 5, 3}).t(), X({3}, 0, 1).nograd()},
        one([](auto& in) { return batch_mean_clamp(in[0], in[1], 2.0); }));
    row("one_hot [7] x5", dt, {Idx({7}, 5)},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 5, dt)}; });
    row("one_hot [3,4] x6 transposed index", dt, {Idx({4, 3}, 6).t()},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 6, dt)}; });
    row("one_hot empty [0]", dt, {Idx({0}, 3)},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 3, dt)}; });
  }

  // ---- indexing (backward: scatter_add for gather, index_add for index_select) -----------------
  for (DType dt : floats) {
    row("gather axis 1 [5,7] idx[5,4]", dt, {X({5, 7}), Idx({5, 4}, 7)},
        one([](auto& in) { return gather(in[0], 1, in[1]); }));
    row("gather axis 0 repeated [4,3] idx[10,3]", dt, {X({4, 3}), Idx({10, 3}, 4)},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("gather axis 0 transposed x, transposed idx", dt, {X({5, 7}).t(), Idx({3, 7}, 5).t()},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("gather axis -1 3-D [2,3,6] idx[2,3,9]", dt, {X({2, 3, 6}), Idx({2, 3, 9}, 6)},
        one([](auto& in) { return gather(in[0], -1, in[1]); }));
    row("gather empty idx [0,7]", dt, {X({5, 7}), Idx({0, 7}, 5)},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("index_select axis 0 repeated [6,5] idx[9]", dt, {X({6, 5}), Idx({9}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
    row("index_select axis 1 [6,5] idx[3]", dt, {X({6, 5}), Idx({3}, 5)},
        one([](auto& in) { return index_select(in[0], 1, in[1]); }));
    row("index_select strided x [6,5] idx[4]", dt, {X({6, 5}).s(), Idx({4}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
    row("index_select strided idx [3,4,5] axis 1", dt, {X({3, 4, 5}), Idx({7}, 4).s()},
        one([](auto& in) { return index_select(in[0], 1, in[1]); }));
    row("index_select empty idx [0]", dt, {X({6, 5}), Idx({0}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
  }
  for (DType dt : {DType::i32, DType::i64}) {
    row("gather int axis 1 [5,7]", dt, {X({5, 7}, -9, 9).ints(), Idx({5, 4}, 7)},
        one([](auto& in) { return gather(in[0], 1, in[1]); }));
    row("index_select int axis 0 [6,5]", dt, {X({6, 5}, -9, 9).ints(), Idx({9}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
  }

  // ---- copies: cat / stack / slice / transpose / reshape / expand / pad / casts ----------------
  for (DType dt : floats) {
    row("concat axis 0 [3,5] + transposed [4,5]", dt, {X({3, 5}), X({4, 5}).t()},
        one([](auto& in) { return concat({in[0], in[1]}, 0); }));
    row("concat axis 1 [3,2] + strided [3,5] + [3,1]", dt, {X({3, 2}), X({3, 5}).s(), X({3, 1})},
        one([](auto& in) { return concat({in[0], in[1], in[2]}, 1); }));
    row("concat with empty [0,5] + [2,5]", dt, {X({0, 5}), X({2, 5})},
        one([](auto& in) { return concat({in[0], in[1]}, 0); }));
    row("stack axis 0 [3,5] + transposed", dt, {X({3, 5}), X({3, 5}).t()},
        one([](auto& in) { return stack({in[0], in[1]}, 0); }));
    row("stack axis 2 [3,5] x3", dt, {X({3, 5}), X({3, 5}).s(), X({3, 5})},
        one([](auto& in) { return stack({in[0], in[1], in[2]}, 2); }));
    row("slice step 3 [7,13]", dt, {X({7, 13})}, one([](auto& in) { return slice(in[0], 1, 1, 12, 3); }));
    row("slice negative [7,13] then contiguous", dt, {X({7, 13})},
        one([](auto& in) { return contiguous(slice(in[0], 0, -5, -1)); }));
    row("transpose + contiguous [2,3,4]", dt, {X({2, 3, 4})},
        one([](auto& in) { return contiguous(transpose(in[0], 0, 2)); }));
    row("permute + contiguous [2,3,4]", dt, {X({2, 3, 4})},
        one([](auto& in) { return contiguous(permute(in[0], {1, 2, 0})); }));
    row("reshape of transposed (a copy) [13,7]", dt, {X({13, 7}).t()},
        one([](auto& in) { return reshape(in[0], Shape{-1}); }));
    row("flatten strided [3,4,5]", dt, {X({3, 4, 5}).s()}, one([](auto& in) { return flatten(in[0], 1); }));
    row("expand [3,1] -> [3,5] + contiguous", dt, {X({3, 1})},
        one([](auto& in) { return contiguous(expand(in[0], Shape{2, 3, 5})); }));
    row("expand 0-d -> [4,3] * x", dt, {X({}), X({4, 3})},
        one([](auto& in) { return expand(in[0], Shape{4, 3}) * in[1]; }));
    row("squeeze/unsqueeze [7,1,13]", dt, {X({7, 1, 13})},
        one([](auto& in) { return unsqueeze(squeeze(in[0], 1), 0) * 2.0; }));
    row("pad [3,4] (1,2,0,1) value 0.5", dt, {X({3, 4})},
        one([](auto& in) { return pad(in[0], {1, 2, 0, 1}, 0.5); }));
    row("pad transposed [5,3]", dt, {X({5, 3}).t()}, one([](auto& in) { return pad(in[0], {0, 3}); }));
    row("clone strided [5,6]", dt, {X({5, 6}).s()}, one([](auto& in) { return clone(in[0]); }));
    row("cast to the other float", dt, {X({7, 13}).t()}, [dt](const TensorList& in, Device) {
      return TensorList{to(in[0], dt == DType::f32 ? DType::f64 : DType::f32)};
    });
    row("cast to i64 / i32 / u8", dt, {X({7, 13}, 0, 9)}, [](const TensorList& in, Device) {
      return TensorList{to(in[0], DType::i64), to(in[0], DType::i32), to(in[0], DType::u8)};
    });
    row("device round trip to(cpu) and back", dt, {X({7, 5})}, [](const TensorList& in, Device d) {
      return TensorList{to(to(in[0] * 2.0, kCPU), d) + 1.0};
    });
    row("in-place add_/mul_/copy_/fill_ (broadcast src)", dt, {X({4, 5}), X({5})},
        [](const TensorList& in, Device) {
          NoGradGuard ng;
          Tensor y = clone(in[0]);
          add_(y, in[1], 0.5);
          mul_(y, 3.0);
          add_(y, -1.0);
          Tensor z = Tensor::empty(Shape{4, 5}, in[0].dtype(), in[0].device());
          copy_(z, in[1]);
          Tensor f = Tensor::empty(Shape{3}, in[0].dtype(), in[0].device());
          fill_(f, 2.5);
          return TensorList{y, z, f};
        });
  }
  for (DType dt : {DType::i32, DType::i64, DType::u8})
    row("cast int to f32 / f64, transposed", dt, {X({7, 13}, 0, 9).ints().t()},
        [](const TensorList& in, Device) { return TensorList{to(in[0], DType::f32), to(in[0], DType::f64)}; });

  // ---- random fills and constructions (made on the device; must equal the CPU's) ---------------
  for (DType dt : floats) {
    row("uniform [7,13] offset 3", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(11, 3);
      return TensorList{uniform(Shape{7, 13}, g, -1, 2, dt, d)};
    }, Tol::rng);
    row("uniform twice, odd sizes (offset continues)", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(12);
      Tensor a = uniform(Shape{5}, g, 0, 1, dt, d);
      Tensor b = uniform(Shape{3, 7}, g, -3, 3, dt, d);
      return TensorList{a, b, Tensor::scalar(static_cast<double>(g.offset()), DType::f64, d)};
    }, Tol::rng);
    row("uniform empty [0,4]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(13);
      return TensorList{uniform(Shape{0, 4}, g, 0, 1, dt, d)};
    }, Tol::rng);
    row("uniform large [1000,33]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(14, 1ull << 33);
      return TensorList{uniform(Shape{1000, 33}, g, 0, 1, dt, d)};
    }, Tol::rng);
    row("normal [7,13] mean 0.5 std 2", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(15, 1);
      return TensorList{normal(Shape{7, 13}, g, 0.5, 2.0, dt, d)};
    }, Tol::rng_normal);
    row("normal large [1000,33]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(16);
      return TensorList{normal(Shape{1000, 33}, g, 0, 1, dt, d)};
    }, Tol::rng_normal);
    row("randn_like(x) [7,13]", dt, {X({7, 13}).nograd()}, [](const TensorList& in, Device) {
      Generator g(17, 5);
      return TensorList{randn_like(in[0], g)};
    }, Tol::rng_normal);
    row("bernoulli p=0.3 [7,13]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(18, 2);
      return TensorList{bernoulli(Shape{7, 13}, 0.3, g, dt, d)};
    }, Tol::rng);
    row("arange 13 start -1 step 0.25", dt, {}, [dt](const TensorList&, Device d) {
      return TensorList{arange(13, dt, d, -1.0, 0.25)};
    });
    row("eye 5", dt, {}, [dt](const TensorList&, Device d) { return TensorList{eye(5, dt, d)}; });
  }
  row("bernoulli u8 p=0.7 [13]", DType::u8, {}, [](const TensorList&, Device d) {
    Generator g(19);
    return TensorList{bernoulli(Shape{13}, 0.7, g, DType::u8, d)};
  }, Tol::rng);
  for (DType dt : {DType::i64, DType::i32}) {
    row("arange 13 start 2 step 3", dt, {}, [dt](const TensorList&, Device d) {
      return TensorList{arange(13, dt, d, 2.0, 3.0)};
    });
    row("arange 0", dt, {}, [dt](const TensorList&, Device d) { return TensorList{arange(0, dt, d)}; });
  }
  row("permutation 13, 1, 0 and permutations 3x7", DType::i64, {}, [](const TensorList&, Device d) {
    Generator g(21, 7);
    Tensor a = permutation(13, g, d), b = permutation(1, g, d), c = permutation(0, g, d);
    Tensor p = permutations(3, 7, g, d);
    return TensorList{a, b, c, p};
  }, Tol::rng);
  row("permutation large 5000", DType::i64, {}, [](const TensorList&, Device d) {
    Generator g(22);
    return TensorList{permutation(5000, g, d)};
  }, Tol::rng);

  // ---- distributions and likelihoods (composites in ops/distributions.h, ops/likelihoods.h) ----
  for (DType dt : floats) {
    const Tol T = Tol::transcendental;
    row("gaussian_log_density broadcast [4,3] [3] [4,3]", dt, {X({4, 3}), X({3}), X({4, 3}, -1, 1)},
        one([](auto& in) { return gaussian_log_density(in[0], in[1], in[2]); }), T);
    row("gaussian_log_density_scale tensor / scalar", dt, {X({4, 3}).t(), X({4, 3}), X({4, 3}, 0.5, 2)},
        [](const TensorList& in, Device) {
          return TensorList{gaussian_log_density_scale(in[0], in[1], in[2]),
                            gaussian_log_density_scale(in[0], in[1], 0.7)};
        },
        T);
    row("pairwise_log_density [5,3] [4,3] [4,3]", dt, {X({5, 3}), X({4, 3}), X({4, 3}, -1, 1)},
        one([](auto& in) { return pairwise_log_density(in[0], in[1], in[2]); }), T);
    row("DiagonalGaussian rsample(K=3) / log_prob_sum / entropy", dt, {X({2, 3}), X({2, 3}, -1, 1)},
        [](const TensorList& in, Device) {
          DiagonalGaussian q = DiagonalGaussian::from_logvar(in[0], in[1]);
          Generator g(31, 4);
          Tensor z = q.rsample(g, 3);
          return TensorList{z, q.log_prob_sum(z), q.entropy(), q.variance()};
        },
        T);
    row("DiagonalGaussian from_scale rsample", dt, {X({4, 2}), X({4, 2}, 0.3, 2)},
        [](const TensorList& in, Device) {
          DiagonalGaussian q = DiagonalGaussian::from_scale(in[0], in[1]);
          Generator g(32);
          return TensorList{q.rsample(g), q.logvar()};
        },
        T);
    row("bernoulli_log_prob K-leading logits [3,2,3,4]", dt, {X({2, 3, 4}, 0, 1), X({3, 2, 3, 4}, -4, 4)},
        one([](auto& in) { return bernoulli_log_prob(in[0], in[1]); }), T);
    row("gaussian_log_prob fixed / learned log-scale", dt, {X({2, 3, 4}), X({2, 3, 4}).t(), X({4}, -1, 1)},
        [](const TensorList& in, Device) {
          return TensorList{gaussian_log_prob(in[0], in[1], 0.5), gaussian_log_prob(in[0], in[1], in[2])};
        },
        T);
    row("laplace_log_prob [2,3,4]", dt, {X({2, 3, 4}), X({2, 3, 4})},
        one([](auto& in) { return laplace_log_prob(in[0], in[1], 0.3); }), T);
  }

  // ---- fused kernel sums (ops/kernel_sums.h) --------------------------------------------------
  for (DType dt : floats) {
    static const std::vector<double> cs{0.2, 1.0, 4.0};
    const Tol L = Tol::library;
    row("pairwise_imq_sum [6,3] [5,3]", dt, {X({6, 3}), X({5, 3})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum_full [6,3] [5,3]", dt, {X({6, 3}), X({5, 3})},
        one([](auto& in) { return pairwise_imq_sum_full(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum a with itself [7,4]", dt, {X({7, 4})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[0], cs); }), L);
    row("pairwise_imq_sum_full transposed a, strided b", dt, {X({13, 2}).t(), X({9, 2}).s()},
        one([](auto& in) { return pairwise_imq_sum_full(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum [1,1] [1,1]", dt, {X({1, 1}), X({1, 1})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum larger [64,10] [48,10]", dt, {X({64, 10}), X({48, 10})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
  }
  return t;
}

// --- finite differences on the device --------------------------------------------------------

using DevFn = std::function<Tensor(const TensorList&, Device)>;

/// tests/gradcheck.cpp's check, run with the inputs on `dev`: the vector-Jacobian product of f
/// (from the tape, on the device) against central differences of <f(x), w>, each perturbation
/// written by a device kernel and each objective read with item().
bool device_gradcheck(const DevFn& f, const TensorList& cpu_inputs, Device dev,
                      const std::string& what, double eps = 1e-6, double rtol = 1e-5,
                      double atol = 1e-6) {
  TensorList leaves;
  for (const Tensor& t : cpu_inputs) {
    REQUIRE(t.dtype() == DType::f64);
    Tensor c = to(contiguous(t.detach()), dev).detach();
    c.set_requires_grad(true);
    leaves.push_back(c);
  }
  Tensor y = f(leaves, dev);
  REQUIRE(y.device() == dev);
  Tensor w = to(testing::rand64(y.shape(), 12345, 0.5, 1.5), dev);
  TensorList analytic = grad({y}, leaves, {w});
  auto objective = [&] {
    NoGradGuard ng;
    return sum(f(leaves, dev) * w).item();
  };
  for (size_t i = 0; i < leaves.size(); ++i) {
    Tensor a = analytic[i].defined() ? analytic[i] : Tensor::zeros_like(leaves[i]);
    CHECK(a.device() == dev);
    const std::vector<double> av = a.to_vector<double>();
    const std::vector<double> xv = leaves[i].to_vector<double>();
    Tensor flat;
    {
      NoGradGuard ng;
      flat = reshape(leaves[i], Shape{-1});  // a view: leaves are contiguous
    }
    for (int64_t j = 0; j < leaves[i].numel(); ++j) {
      Tensor e;
      {
        NoGradGuard ng;
        e = slice(flat, 0, j, j + 1);
        fill_(e, xv[j] + eps);
      }
      const double fp = objective();
      {
        NoGradGuard ng;
        fill_(e, xv[j] - eps);
      }
      const double fm = objective();
      {
        NoGradGuard ng;
        fill_(e, xv[j]);
      }
      const double num = (fp - fm) / (2 * eps);
      if (!(std::fabs(av[j] - num) <= atol + rtol * std::fabs(num))) {
        FAIL_CHECK(what << " on " << dev.str() << ": d/d(input " << i << ")[" << j
                        << "] analytic " << av[j] << " vs numeric " << num);
        return false;
      }
    }
  }
  return true;
}

}  // namespace

TEST_SUITE_BEGIN("device parity");

TEST_CASE("device parity: every op of the table equals the CPU on every device (values and gradients)") {
  const std::vector<Case> table = build_table();
  const std::vector<Device> devs = devices_under_test(true);
  MESSAGE(table.size() << " cases");
  for (Device dev : devs) {
    size_t ok = 0, bitwise = 0, outputs = 0, grads = 0;
    std::vector<std::string> not_bitwise;
    for (size_t i = 0; i < table.size(); ++i) {
      Verdict v = check_case(table[i], i, dev);
      ok += v.ok;
      outputs += v.outputs;
      grads += v.grads;
      if (v.ok && v.bitwise) ++bitwise;
      else if (v.ok) not_bitwise.push_back(table[i].name);
    }
    std::ostringstream os;
    os << dev.str() << ": " << ok << " of " << table.size() << " cases within tolerance, "
       << bitwise << " bitwise equal to the CPU (" << outputs << " outputs and " << grads
       << " gradients compared)";
    if (!not_bitwise.empty()) {
      os << "; not bitwise:";
      for (size_t k = 0; k < not_bitwise.size() && k < 25; ++k) os << "\n  " << not_bitwise[k];
      if (not_bitwise.size() > 25) os << "\n  … and " << not_bitwise.size() - 25 << " more";
    }
    MESSAGE(os.str());
    CHECK(ok == table.size());
  }
  CHECK(tape().size() == 0);
}

TEST_CASE("device parity: f64 finite-difference gradient checks on the device") {
  using testing::rand64;
  struct G {
    const char* name;
    DevFn f;
    TensorList inputs;
  };
  const Tensor idx_g = Tensor::from_vector<int64_t>({1, 0, 3, 3, 2, 0}, Shape{2, 3});
  const Tensor idx_s = Tensor::from_vector<int64_t>({2, 0, 2, 1}, Shape{4});
  const Tensor target = Tensor::from_vector<int64_t>({0, 2, 1, 2}, Shape{4});
  const Tensor cond = Tensor::from_vector<uint8_t>({1, 0, 0, 1, 1, 0}, Shape{2, 3});
  const std::vector<double> cs{0.2, 1.0, 4.0};
  Conv2dOptions s2p1;
  s2p1.stride = {2, 2};
  s2p1.padding = {1, 1};
  Conv2dOptions tr = s2p1;
  tr.output_padding = {1, 1};
  const std::vector<G> checks = {
      {"exp∘sin", [](const TensorList& in, Device) { return exp(sin(in[0])); }, {rand64({2, 3}, 1)}},
      {"log, sqrt", [](const TensorList& in, Device) { return log(in[0]) * sqrt(in[0]); },
       {rand64({2, 3}, 2, 0.3, 2)}},
      {"lgamma + digamma", [](const TensorList& in, Device) { return lgamma(in[0]) + digamma(in[0]); },
       {rand64({2, 3}, 3, 0.4, 4)}},
      {"sigmoid, softplus, tanh, erf",
       [](const TensorList& in, Device) { return sigmoid(in[0]) * softplus(in[0]) + tanh(in[0]) * erf(in[0]); },
       {rand64({3, 2}, 4, -2, 2)}},
      {"pow (broadcast) and fmod",
       [](const TensorList& in, Device) { return pow(in[0], in[1]) + fmod(in[0] * 3.0, in[1]); },
       {rand64({3, 1}, 5, 0.5, 2), rand64({4}, 6, 0.6, 1.9)}},
      {"div, maximum (transposed)",
       [](const TensorList& in, Device) { return maximum(in[0] / in[1], transpose(in[1], 0, 1)); },
       {rand64({3, 3}, 7, -1, 1), rand64({3, 3}, 8, 0.5, 2)}},
      {"where",
       [cond](const TensorList& in, Device d) { return where(to(cond, d), in[0], in[1] * 2.0); },
       {rand64({2, 3}, 9), rand64({3}, 10)}},
      {"max / min over axes", [](const TensorList& in, Device) { return max(in[0], {1}) + min(in[0], {0, 1}); },
       {rand64({2, 4, 3}, 11)}},
      {"logsumexp, var", [](const TensorList& in, Device) { return logsumexp(in[0], {1}) * var(in[0], {1}); },
       {rand64({3, 4}, 12)}},
      {"softmax (transposed)", [](const TensorList& in, Device) { return softmax(transpose(in[0], 0, 1), 1); },
       {rand64({3, 4}, 13)}},
      {"cross_entropy",
       [target](const TensorList& in, Device d) { return cross_entropy(in[0], to(target, d)); },
       {rand64({4, 3}, 14)}},
      {"matmul broadcast batch",
       [](const TensorList& in, Device) { return matmul(in[0], transpose(in[1], -1, -2)); },
       {rand64({2, 1, 2, 3}, 15), rand64({2, 4, 3}, 16)}},
      {"linear", [](const TensorList& in, Device) { return linear(in[0], in[1], in[2]); },
       {rand64({3, 4}, 17), rand64({2, 4}, 18), rand64({2}, 19)}},
      {"conv2d stride 2 pad 1 bias",
       [s2p1](const TensorList& in, Device) { return conv2d(in[0], in[1], in[2], s2p1); },
       {rand64({1, 2, 5, 4}, 20), rand64({2, 2, 3, 3}, 21), rand64({2}, 22)}},
      {"conv_transpose2d",
       [tr](const TensorList& in, Device) { return conv_transpose2d(in[0], in[1], in[2], tr); },
       {rand64({1, 2, 3, 3}, 23), rand64({2, 2, 3, 3}, 24), rand64({2}, 25)}},
      {"batch_norm train",
       [](const TensorList& in, Device) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); },
       {rand64({4, 2, 2, 1}, 26), rand64({2}, 27, 0.5, 1.5), rand64({2}, 28)}},
      {"gather (scatter_add backward)",
       [idx_g](const TensorList& in, Device d) { return gather(in[0], 1, to(idx_g, d)); },
       {rand64({2, 4}, 29)}},
      {"index_select (index_add backward)",
       [idx_s](const TensorList& in, Device d) { return index_select(in[0], 0, to(idx_s, d)); },
       {rand64({3, 2}, 30)}},
      {"pairwise_imq_sum",
       [cs](const TensorList& in, Device) { return pairwise_imq_sum(in[0], in[1], cs); },
       {rand64({3, 2}, 31), rand64({4, 2}, 32)}},
      {"pairwise_imq_sum_full",
       [cs](const TensorList& in, Device) { return pairwise_imq_sum_full(in[0], in[0], cs); },
       {rand64({4, 3}, 33)}},
      {"concat, pad, reshape of a transpose",
       [](const TensorList& in, Device) {
         return reshape(transpose(pad(concat({in[0], in[1]}, 0), {1, 0}), 0, 1), Shape{-1});
       },
       {rand64({2, 3}, 34), rand64({1, 3}, 35)}},
  };
  for (Device dev : devices_under_test(false)) {
    int passed = 0;
    for (const G& g : checks) {
      try {
        passed += device_gradcheck(g.f, g.inputs, dev, g.name);
      } catch (const std::exception& e) {
        tape().clear();
        FAIL_CHECK(g.name << " on " << dev.str() << " threw: " << std::string(e.what()));
      }
    }
    MESSAGE(dev.str() << ": " << passed << " of " << checks.size() << " f64 gradient checks passed");
  }
}

TEST_SUITE_END();
