// Generalised normal prior (see gen_normal.h).
#include "objectives/priors/gen_normal.h"

#include <cmath>

#include "objectives/priors/student_t.h"
#include "ops/ops.h"

namespace unravel {

GeneralisedNormalPrior::GeneralisedNormalPrior(int64_t dim, double power, double stddev,
                                               DType dtype)
    : Prior(dtype), dim_(dim), power_(power) {
  UNRAVEL_CHECK(dim >= 1, "gen-normal prior: latent size must be >= 1, got {}", dim);
  // p < 1 has an infinite density gradient at 0; very large p overflows Γ(1/p)/Γ(3/p)'s use.
  UNRAVEL_CHECK(std::isfinite(power) && power >= 1.0 && power <= 64.0,
                "gen-normal prior: power must be in [1, 64], got {}", power);
  UNRAVEL_CHECK(std::isfinite(stddev) && stddev > 0,
                "gen-normal prior: stddev must be positive, got {}", stddev);
  alpha_ = stddev * std::exp(0.5 * (std::lgamma(1.0 / power) - std::lgamma(3.0 / power)));
}

Tensor GeneralisedNormalPrior::log_prob(const Tensor& z) const {
  check_z(z, "log_prob");
  const double c = std::log(power_) - std::log(2.0 * alpha_) - std::lgamma(1.0 / power_);
  Tensor u = abs(z * (1.0 / alpha_));
  return (power_ == 2.0 ? square(u) : pow(u, power_)) * -1.0 + c;
}

Tensor GeneralisedNormalPrior::sample(const Shape& batch, Generator& gen) const {
  Shape s = sample_shape(batch);
  Tensor g = sample_gamma(s, 1.0 / power_, gen, dtype_, device());
  Tensor sign = where(lt(uniform(s, gen, 0.0, 1.0, dtype_, device()), 0.5),
                      scalar_like(-1.0, g), scalar_like(1.0, g));
  return sign * pow(g, 1.0 / power_) * alpha_;
}

}  // namespace unravel
