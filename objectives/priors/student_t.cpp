// Student-t prior and the χ² / Gamma samplers behind it (see student_t.h).
#include "objectives/priors/student_t.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "ops/ops.h"

namespace unravel {

double sample_gamma(double shape, Generator& gen) {
  UNRAVEL_CHECK(shape > 0, "sample_gamma: shape must be positive, got {}", shape);
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) · U^{1/a}.
    double g = sample_gamma(shape + 1.0, gen);
    double u = gen.uniform();
    while (u <= 0.0) u = gen.uniform();
    return g * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = gen.normal();
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    double u = gen.uniform();
    if (u <= 0.0) continue;
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

Tensor sample_chi2(const Shape& shape, double df, Generator& gen, DType dtype) {
  UNRAVEL_CHECK(df > 0, "sample_chi2: degrees of freedom must be positive, got {}", df);
  if (df == std::floor(df) && df <= 64) {
    Shape s;
    s.push_back(static_cast<int64_t>(df));
    for (int64_t e : shape) s.push_back(e);
    return sum(square(normal(s, gen, 0.0, 1.0, dtype)), {0});
  }
  std::vector<double> v(static_cast<size_t>(numel(shape)));
  for (double& x : v) x = 2.0 * sample_gamma(0.5 * df, gen);
  return to(Tensor::from_vector(v, shape), dtype);
}

StudentTPrior::StudentTPrior(int64_t dim, double df, double scale, DType dtype)
    : Prior(dtype), dim_(dim), df_(df), scale_(scale) {
  UNRAVEL_CHECK(dim >= 1, "student-t prior: latent size must be >= 1, got {}", dim);
  UNRAVEL_CHECK(df > 0, "student-t prior: df must be positive, got {}", df);
  UNRAVEL_CHECK(scale > 0, "student-t prior: scale must be positive, got {}", scale);
}

Tensor StudentTPrior::log_prob(const Tensor& z) const {
  check_z(z, "log_prob");
  const double nu = df_;
  const double c = std::lgamma(0.5 * (nu + 1.0)) - std::lgamma(0.5 * nu) -
                   0.5 * std::log(nu * std::numbers::pi) - std::log(scale_);
  Tensor u = z * (1.0 / scale_);
  return log1p(square(u) * (1.0 / nu)) * (-0.5 * (nu + 1.0)) + c;
}

Tensor StudentTPrior::sample(const Shape& batch, Generator& gen) const {
  Shape s = sample_shape(batch);
  Tensor n = normal(s, gen, 0.0, 1.0, dtype_);
  Tensor chi2 = sample_chi2(s, df_, gen, dtype_);
  return n * rsqrt(chi2 * (1.0 / df_)) * scale_;
}

}  // namespace unravel
