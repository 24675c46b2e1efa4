// Device parity of the optimiser step (the optimizer_step kernel family, ops/optim_functors.h),
// the part of tests/engine/test_device_parity.cpp's table that needs the VAE library
// (models/optim): each optimiser takes 3 steps on the CPU and on every other device (sim:0, and
// cuda:0 where usable) from the same parameters and gradients, and the parameters and every state
// tensor must agree. The steps cover what the device-side bookkeeping has to get right: f32 and
// f64 parameters in one optimiser, a strided parameter (written back from a dense copy), a
// parameter without a gradient at step 2 (skipped; its step count does not advance), and a
// learning-rate change before step 3 (read by the kernel from device memory).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>

#include "engine/sim/sim_backend.h"
#include "models/optim/optim.h"
#include "ops/ops.h"

using namespace unravel;
using namespace unravel::optim;

namespace {

std::vector<Device> devices_under_test() {
  std::vector<Device> ds{sim_device(0)};
  if (!backend_compiled(DeviceKind::cuda)) {
    MESSAGE("cuda: skipped: this build has no CUDA backend");
    return ds;
  }
  try {
    backend(cuda_device(0));
    ds.push_back(cuda_device(0));
  } catch (const std::exception& e) {
    MESSAGE("cuda: skipped: " << std::string(e.what()));
  }
  return ds;
}

using Make = std::function<std::unique_ptr<Optimizer>(TensorList)>;

/// Four parameters on `dev`: f32 [7,13], f32 [13], a strided f32 (3,4) view of a dense (4,3),
/// and f64 [5]; the same values on every device.
TensorList make_params(Device dev) {
  Generator g(3);
  Tensor a = normal(Shape{7, 13}, g, 0, 1, DType::f32);
  Tensor b = normal(Shape{13}, g, 0, 1, DType::f32);
  Tensor c = normal(Shape{4, 3}, g, 0, 1, DType::f32);
  Tensor d = normal(Shape{5}, g, 0, 1, DType::f64);
  TensorList ps{to(a, dev).detach(), to(b, dev).detach(), transpose(to(c, dev), 0, 1).detach(),
                to(d, dev).detach()};
  REQUIRE_FALSE(ps[2].is_contiguous());
  for (Tensor& p : ps) p.set_requires_grad(true);
  return ps;
}

struct Result {
  TensorList params;
  OptimizerState state;
};

Result run(const Make& make, Device dev) {
  TensorList ps = make_params(dev);
  std::unique_ptr<Optimizer> opt = make(ps);
  Generator gg(9);
  for (int step = 1; step <= 3; ++step) {
    for (size_t i = 0; i < ps.size(); ++i) {
      Tensor g = to(normal(ps[i].shape(), gg, 0, 1, DType::f64), ps[i].dtype());
      if (step == 2 && i == 1) {
        ps[i].zero_grad();  // no gradient: skipped, its step count does not advance
        continue;
      }
      ps[i].set_grad(to(g, dev));
    }
    if (step == 3) opt->set_lr(opt->lr() * 0.5);
    opt->step();
  }
  return {ps, opt->state_dict()};
}

/// "" when equal within rtol (relative to the larger of |x| and the tensor's max |x|).
std::string compare(const Tensor& c, const Tensor& d, double rtol, bool* bitwise) {
  if (c.shape() != d.shape() || c.dtype() != d.dtype())
    return "shape/dtype " + d.desc() + " vs CPU " + c.desc();
  std::vector<double> vc = c.to_vector<double>(), vd = d.to_vector<double>();
  double scale = 0;
  for (double v : vc) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < vc.size(); ++i) {
    if (std::memcmp(&vc[i], &vd[i], sizeof(double)) != 0) *bitwise = false;
    if (!(std::fabs(vc[i] - vd[i]) <= rtol * std::max(std::fabs(vc[i]), scale))) {
      std::ostringstream os;
      os.precision(17);
      os << "[" << i << "] device " << vd[i] << ", CPU " << vc[i];
      return os.str();
    }
  }
  return "";
}

}  // namespace

TEST_SUITE_BEGIN("device parity");

TEST_CASE("device parity: optimiser steps (SGD momentum / Nesterov, Adam, AdamW, AMSGrad) equal the CPU's") {
  const std::vector<std::pair<const char*, Make>> optimisers = {
      {"SGD momentum 0.9",
       [](TensorList ps) {
         return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.1, .momentum = 0.9});
       }},
      {"SGD dampening 0.1, weight decay",
       [](TensorList ps) {
         return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.05, .momentum = 0.8, .dampening = 0.1,
                                                     .weight_decay = 0.01, .nesterov = false});
       }},
      {"SGD Nesterov",
       [](TensorList ps) {
         return std::make_unique<SGD>(
             ps, SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
       }},
      {"Adam", [](TensorList ps) { return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01}); }},
      {"Adam weight decay, AMSGrad",
       [](TensorList ps) {
         return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
       }},
      {"AdamW",
       [](TensorList ps) { return std::make_unique<AdamW>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1}); }},
  };
  for (Device dev : devices_under_test()) {
    int bitwise_cases = 0;
    for (const auto& [name, make] : optimisers) {
      CAPTURE(name);
      const std::string devname = dev.str();
      CAPTURE(devname);
      Result cpu = run(make, kCPU), d = run(make, dev);
      bool bitwise = true;
      REQUIRE(cpu.params.size() == d.params.size());
      for (size_t i = 0; i < cpu.params.size(); ++i) {
        CAPTURE(i);
        CHECK(d.params[i].device() == dev);
        const double rtol = cpu.params[i].dtype() == DType::f64 ? 1e-12 : 1e-5;
        const std::string why = compare(cpu.params[i], d.params[i], rtol, &bitwise);
        CHECK_MESSAGE(why.empty(), "parameter " << i << ": " << why);
      }
      CHECK(cpu.state.step == d.state.step);
      CHECK(cpu.state.lr == d.state.lr);
      REQUIRE(cpu.state.tensors.size() == d.state.tensors.size());
      for (const auto& [key, t] : cpu.state.tensors) {
        CAPTURE(key);
        REQUIRE(d.state.tensors.count(key) == 1);
        const double rtol = t.dtype() == DType::f32 ? 1e-5 : 1e-12;
        const std::string why = compare(t, d.state.tensors.at(key), rtol, &bitwise);
        CHECK_MESSAGE(why.empty(), "state " << key << ": " << why);
      }
      // The skipped parameter took 2 steps, the others 3.
      CHECK(cpu.state.tensors.at("param_steps").to_vector<int64_t>() == std::vector<int64_t>{3, 2, 3, 3});
      bitwise_cases += bitwise;
    }
    MESSAGE(dev.str() << ": " << bitwise_cases << " of " << optimisers.size()
                      << " optimisers bitwise equal to the CPU after 3 steps");
  }
}

TEST_SUITE_END();
