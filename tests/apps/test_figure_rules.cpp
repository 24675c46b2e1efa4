// The figures' pure rules, without a trained run: the per-latent KL's closed form, a traversal
// row's label, and which factor names a traversal row (the heat map's rule). The figures
// themselves, drawn from trained runs: test_apps.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "apps/common/encoding.h"
#include "apps/figures/figures.h"

using namespace unravel;
using namespace unravel::apps;

TEST_CASE("figures: a latent's KL is the closed form, averaged over the rows") {
  // KL(N(mu, e^logvar) ‖ N(0, 1)) = (mu² + e^logvar − logvar − 1) / 2.
  const std::vector<double> kl = kl_per_dim(
      Tensor::from_vector<float>({1, 0, 3, 0}, Shape{2, 2}),
      Tensor::from_vector<float>({0, std::log(4.0f), 0, 0}, Shape{2, 2}));
  REQUIRE(kl.size() == 2);
  CHECK(kl[0] == doctest::Approx((0.5 + 4.5) / 2));
  CHECK(kl[1] == doctest::Approx(0.5 * (3 - std::log(4.0)) / 2).epsilon(1e-6));
}

TEST_CASE("figures: a traversal row's label") {
  CHECK(traversal_row_label(3, 4.371) == "z3\nKL 4.37");
  CHECK(traversal_row_label(12, 12.34) == "z12\nKL 12.3");
  CHECK(traversal_row_label(0, 1234.6) == "z0\nKL 1235");
  CHECK(traversal_row_label(1, 2.0, "posX") == "z1\nKL 2.00\nposX");
  CHECK(traversal_row_label(1, 2.0, "orientation") == "z1\nKL 2.00\norient.");
  CHECK(traversal_row_label(1, 2.0, "floor_hue") == "z1\nKL 2.00");  // '_' is not in the font
}

TEST_CASE("figures: a traversal row names the factor an active latent carries alone") {
  // At least twice the runner-up's normalised MI; an inactive latent is never named.
  FactorLatentMi m;
  m.factors = {"a", "b", "c"};
  m.latents = 3;
  m.nmi = {0.6, 0.2, 0.0,   // a: z0, three times z1's
           0.1, 0.5, 0.3,   // b: z1, but under twice z2's
           0.0, 0.0, 0.9};  // c: z2, which is inactive
  m.kl = {1.0, 1.0, 0.01};
  CHECK(latent_factor_names(m) == std::map<int64_t, std::string>{{0, "a"}});
  m.nmi[5] = 0.2;  // b: now 2.5 times the runner-up
  CHECK(latent_factor_names(m) == std::map<int64_t, std::string>{{0, "a"}, {1, "b"}});
}
