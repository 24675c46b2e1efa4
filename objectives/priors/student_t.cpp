// Student-t prior and the χ² / Gamma samplers behind it (see student_t.h).
#include "objectives/priors/student_t.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "ops/ops.h"

namespace unravel {

Tensor sample_gamma(const Shape& shape, double a, Generator& gen, DType dtype, Device device) {
  UNRAVEL_CHECK(a > 0, "sample_gamma: shape must be positive, got {}", a);
  NoGradGuard ng;
  // Gamma(a) = Gamma(a + 1)·U^{1/a} for a < 1.
  const bool boost = a < 1.0;
  const double aa = boost ? a + 1.0 : a;
  const double d = aa - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  Shape rs;
  rs.push_back(kGammaRounds);
  for (int64_t e : shape) rs.push_back(e);
  Tensor x = normal(rs, gen, 0.0, 1.0, DType::f64, device);
  Tensor u = 1.0 - uniform(rs, gen, 0.0, 1.0, DType::f64, device);  // (0, 1]
  Tensor v = x * c + 1.0;
  Tensor pos = gt(v, 0.0);
  Tensor v3 = where(pos, v * v * v, scalar_like(1.0, v));
  // Accept when v > 0 and log u < x²/2 + d − d·v³ + d·log v³.
  Tensor bound = square(x) * 0.5 + d - v3 * d + log(v3) * d;
  Tensor accept = unravel::to(unravel::to(pos, DType::f64) * unravel::to(lt(log(u), bound), DType::f64), DType::u8);
  Tensor cand = v3 * d;
  // The first accepted round wins: fold from the last round to the first.
  Tensor g = Tensor::full(shape, d, DType::f64, device);
  for (int r = kGammaRounds - 1; r >= 0; --r) {
    Tensor ar = squeeze(slice(accept, 0, r, r + 1), 0), cr = squeeze(slice(cand, 0, r, r + 1), 0);
    g = where(ar, cr, g);
  }
  if (boost) g = g * pow(1.0 - uniform(shape, gen, 0.0, 1.0, DType::f64, device), 1.0 / a);
  return unravel::to(g, dtype);
}

Tensor sample_chi2(const Shape& shape, double df, Generator& gen, DType dtype, Device device) {
  UNRAVEL_CHECK(df > 0, "sample_chi2: degrees of freedom must be positive, got {}", df);
  if (df == std::floor(df) && df <= 64) {
    Shape s;
    s.push_back(static_cast<int64_t>(df));
    for (int64_t e : shape) s.push_back(e);
    return sum(square(normal(s, gen, 0.0, 1.0, dtype, device)), {0});
  }
  return sample_gamma(shape, 0.5 * df, gen, dtype, device) * 2.0;
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
  Tensor n = normal(s, gen, 0.0, 1.0, dtype_, device());
  Tensor chi2 = sample_chi2(s, df_, gen, dtype_, device());
  return n * rsqrt(chi2 * (1.0 / df_)) * scale_;
}

}  // namespace unravel
