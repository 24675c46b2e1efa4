// disentanglement_lib's histogram MIG and its discrete information helpers (see mig.h).
#include <algorithm>
#include <cmath>
#include <map>

#include "engine/check.h"
#include "objectives/metrics/mig.h"

namespace unravel {

std::vector<int64_t> histogram_discretize(const std::vector<double>& x, int bins) {
  UNRAVEL_CHECK(bins > 0 && !x.empty(), "histogram_discretize: {} values, {} bins", x.size(),
                bins);
  double lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
  if (lo == hi) {  // np.histogram widens a degenerate range to [lo − 0.5, hi + 0.5]
    lo -= 0.5;
    hi += 0.5;
  }
  // np.linspace(lo, hi, bins + 1) left edges, then np.digitize(x, edges[:-1]) − 1.
  std::vector<double> left(static_cast<size_t>(bins));
  const double step = (hi - lo) / bins;
  for (int i = 0; i < bins; ++i) left[i] = lo + i * step;
  std::vector<int64_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    auto it = std::upper_bound(left.begin(), left.end(), x[i]);
    out[i] = std::max<int64_t>(0, static_cast<int64_t>(it - left.begin()) - 1);
  }
  return out;
}

double discrete_mutual_info(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  UNRAVEL_CHECK(!a.empty() && a.size() == b.size(), "discrete_mutual_info: {} and {} labels",
                a.size(), b.size());
  std::map<int64_t, int64_t> ca, cb;
  std::map<std::pair<int64_t, int64_t>, int64_t> cab;
  for (size_t i = 0; i < a.size(); ++i) {
    ca[a[i]] += 1;
    cb[b[i]] += 1;
    cab[{a[i], b[i]}] += 1;
  }
  const double n = static_cast<double>(a.size());
  double mi = 0;
  for (const auto& [key, c] : cab) {
    const double pab = c / n, pa = ca[key.first] / n, pb = cb[key.second] / n;
    mi += pab * std::log(pab / (pa * pb));
  }
  return std::max(0.0, mi);
}

double discrete_entropy(const std::vector<int64_t>& a) {
  UNRAVEL_CHECK(!a.empty(), "discrete_entropy: no labels");
  std::map<int64_t, int64_t> c;
  for (int64_t v : a) c[v] += 1;
  double h = 0;
  for (const auto& [v, k] : c) {
    const double p = static_cast<double>(k) / static_cast<double>(a.size());
    h -= p * std::log(p);
  }
  return h;
}

MigResult mig_histogram(CodeSampler& sampler, Generator& gen, const MigHistogramOptions& opt) {
  UNRAVEL_CHECK(opt.num_train > 1 && opt.bins > 0, "mig_histogram: num_train {} (> 1), bins {}",
                opt.num_train, opt.bins);
  const int64_t n = opt.num_train, D = sampler.code_dim();
  const int K = sampler.num_factors();
  std::vector<double> z(n * D);
  std::vector<int64_t> c(n * K);
  sampler.sample(n, -1, nullptr, gen, z.data(), c.data());
  std::vector<int> factors = opt.factors;
  if (factors.empty())
    for (int k = 0; k < K; ++k)
      if (sampler.factor_sizes()[k] > 1) factors.push_back(k);
  std::vector<std::vector<int64_t>> codes(D);
  for (int64_t j = 0; j < D; ++j) {
    std::vector<double> col(n);
    for (int64_t i = 0; i < n; ++i) col[i] = z[i * D + j];
    codes[j] = histogram_discretize(col, opt.bins);
  }
  MigResult r;
  r.factors = factors;
  for (int k : factors) {
    UNRAVEL_CHECK(k >= 0 && k < K, "mig_histogram: factor {} outside [0, {})", k, K);
    std::vector<int64_t> y(n);
    for (int64_t i = 0; i < n; ++i) y[i] = c[i * K + k];
    const double h = discrete_entropy(y);
    UNRAVEL_CHECK(h > 0, "mig_histogram: factor {} took a single value in {} draws", k, n);
    std::vector<double> normed(D);
    for (int64_t j = 0; j < D; ++j) {
      const double mi = discrete_mutual_info(codes[j], y);
      r.mutual_info.push_back(mi);
      normed[j] = mi / h;
    }
    r.factor_entropies.push_back(h);
    r.gaps.push_back(top_gap(normed));
  }
  double acc = 0;
  for (double g : r.gaps) acc += g;
  r.mig = r.gaps.empty() ? 0.0 : acc / static_cast<double>(r.gaps.size());
  return r;
}

}  // namespace unravel
