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

#include <cstdlib>

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
#include "tests/engine/device_parity.h"
#include "tests/gradcheck.h"

using namespace unravel;
using namespace unravel::parity;

namespace {
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

std::vector<Case> build_table() {
  std::vector<Case> t;
  add_elementwise_cases(t);
  add_reduction_matmul_conv_cases(t);
  add_index_copy_random_cases(t);
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
  std::vector<Case> table = build_table();
  // UNRAVEL_PARITY_ONLY=TEXT keeps the cases whose name contains TEXT (scripts/gpu-check.sh runs
  // the convolution cases again through the CUDA direct kernels); it must keep at least one.
  if (const char* only = std::getenv("UNRAVEL_PARITY_ONLY"); only != nullptr && *only != '\0') {
    std::erase_if(table, [&](const Case& c) { return c.name.find(only) == std::string::npos; });
    MESSAGE("UNRAVEL_PARITY_ONLY=" << std::string(only));
    REQUIRE_MESSAGE(!table.empty(), "UNRAVEL_PARITY_ONLY=" << std::string(only) << " matches no case");
  }
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
