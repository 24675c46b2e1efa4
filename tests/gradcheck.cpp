#include "tests/gradcheck.h"

#include <doctest/doctest.h>

#include <cmath>

namespace unravel::testing {

Tensor rand64(const Shape& shape, uint64_t seed, double lo, double hi) {
  Generator g(seed);
  return uniform(shape, g, lo, hi, DType::f64);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double d = std::fabs(va[i] - vb[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

bool gradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
               const std::string& what, GradcheckOptions opt) {
  TensorList leaves;
  for (const Tensor& t : inputs) {
    REQUIRE_MESSAGE(t.dtype() == DType::f64, what << ": gradcheck needs f64 inputs");
    Tensor c = Tensor::empty(t.shape(), DType::f64);
    copy_(c, t.detach());
    c.set_requires_grad(true);
    leaves.push_back(c);
  }
  Tensor y = f(leaves);
  REQUIRE_MESSAGE(y.defined(), what << ": function returned an undefined tensor");
  Tensor w = rand64(y.shape(), 12345, 0.5, 1.5);
  TensorList analytic = grad({y}, leaves, {w});
  bool ok = true;
  auto objective = [&]() {
    NoGradGuard ng;
    Tensor out = f(leaves);
    return sum(out * w).item();
  };
  for (size_t i = 0; i < leaves.size(); ++i) {
    Tensor a = analytic[i].defined() ? analytic[i] : Tensor::zeros_like(leaves[i]);
    std::vector<double> av = a.to_vector<double>();
    double* x = leaves[i].data<double>();
    for (int64_t j = 0; j < leaves[i].numel(); ++j) {
      double orig = x[j];
      x[j] = orig + opt.eps;
      double fp = objective();
      x[j] = orig - opt.eps;
      double fm = objective();
      x[j] = orig;
      double num = (fp - fm) / (2 * opt.eps);
      double tol = opt.atol + opt.rtol * std::fabs(num);
      if (!(std::fabs(av[j] - num) <= tol)) {
        FAIL_CHECK(what << ": d/d(input " << i << ")[" << j << "] analytic " << av[j]
                        << " vs numeric " << num);
        ok = false;
        if (!ok) return false;
      }
    }
  }
  return ok;
}

}  // namespace unravel::testing
