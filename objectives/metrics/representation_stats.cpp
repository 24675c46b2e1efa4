// Hoyer sparsity, per-class magnitudes, the IMQ MMD between aggregate posterior and prior, and
// held-out batch averaging (definitions in representation_stats.h).
#include "objectives/metrics/representation_stats.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "ops/shape_ops.h"

namespace unravel {

double hoyer_sparsity(const HostMatrix& codes) {
  const int64_t N = codes.rows, D = codes.cols;
  UNRAVEL_CHECK(N > 1 && D > 1, "hoyer_sparsity: need codes [N > 1, D > 1], got [{}, {}]", N, D);
  std::vector<double> inv(D);
  int64_t live = 0;
  for (int64_t d = 0; d < D; ++d) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < N; ++i) m += codes(i, d);
    m /= double(N);
    for (int64_t i = 0; i < N; ++i) s += (codes(i, d) - m) * (codes(i, d) - m);
    const double sd = std::sqrt(s / double(N - 1));
    inv[d] = sd > 0 ? 1.0 / sd : 0.0;
    live += sd > 0;
  }
  UNRAVEL_CHECK(live > 1, "hoyer_sparsity: fewer than two dims vary over the {} codes", N);
  double acc = 0;
  int64_t rows = 0;
  for (int64_t i = 0; i < N; ++i) {
    double l1 = 0, l2 = 0;
    for (int64_t d = 0; d < D; ++d) {
      const double u = codes(i, d) * inv[d];
      l1 += std::abs(u);
      l2 += u * u;
    }
    if (l2 > 0) {
      acc += l1 / std::sqrt(l2);
      ++rows;
    }
  }
  UNRAVEL_CHECK(rows > 0, "hoyer_sparsity: every code is zero");
  const double r = acc / double(rows), sq = std::sqrt(double(live));
  return (sq - r) / (sq - 1.0);
}

std::vector<double> class_mean_magnitude(const HostMatrix& codes,
                                         const std::vector<int64_t>& labels, int64_t num_classes) {
  const int64_t N = codes.rows, D = codes.cols;
  UNRAVEL_CHECK(static_cast<int64_t>(labels.size()) == N && num_classes > 0,
                "class_mean_magnitude: {} labels for {} codes, {} classes", labels.size(), N,
                num_classes);
  std::vector<double> out(num_classes * D, 0.0);
  std::vector<int64_t> cnt(num_classes, 0);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t c = labels[i];
    UNRAVEL_CHECK(c >= 0 && c < num_classes, "class_mean_magnitude: label {} of row {} outside [0, {})",
                  c, i, num_classes);
    cnt[c] += 1;
    for (int64_t d = 0; d < D; ++d) out[c * D + d] += std::abs(codes(i, d));
  }
  for (int64_t c = 0; c < num_classes; ++c)
    if (cnt[c] > 0)
      for (int64_t d = 0; d < D; ++d) out[c * D + d] /= double(cnt[c]);
  return out;
}

namespace {

constexpr double kScales[] = {0.1, 0.2, 0.5, 1.0, 2.0, 5.0};

// Σ over pairs of rows (i from a, j from b) of the kernel; `same` skips i == j.
double kernel_sum(const HostMatrix& a, const HostMatrix& b, bool same, bool per_dim) {
  const int64_t D = a.cols;
  std::vector<double> rows(static_cast<size_t>(a.rows));  // per-row sums: a fixed summation order
#pragma omp parallel for schedule(dynamic, 16) if (a.rows * b.rows > 4096)
  for (int64_t i = 0; i < a.rows; ++i) {
    const double* x = a.row(i);
    double row = 0;
    for (int64_t j = 0; j < b.rows; ++j) {
      if (same && i == j) continue;
      const double* y = b.row(j);
      if (per_dim) {
        for (int64_t d = 0; d < D; ++d) {
          const double q = (x[d] - y[d]) * (x[d] - y[d]);
          for (double s : kScales) row += 2 * s / (2 * s + q);
        }
      } else {
        double q = 0;
        for (int64_t d = 0; d < D; ++d) q += (x[d] - y[d]) * (x[d] - y[d]);
        for (double s : kScales) row += 2 * double(D) * s / (2 * double(D) * s + q);
      }
    }
    rows[i] = row;
  }
  double total = 0;
  for (double r : rows) total += r;
  return total;
}

}  // namespace

double mmd_imq(const HostMatrix& x, const HostMatrix& y, bool per_dim) {
  UNRAVEL_CHECK(x.rows > 1 && y.rows > 1 && x.cols == y.cols && x.cols > 0,
                "mmd_imq: samples [{}, {}] and [{}, {}] (need >= 2 rows each, same D)", x.rows,
                x.cols, y.rows, y.cols);
  const double n = double(x.rows), m = double(y.rows);
  return kernel_sum(x, x, true, per_dim) / (n * (n - 1)) +
         kernel_sum(y, y, true, per_dim) / (m * (m - 1)) -
         2 * kernel_sum(x, y, false, per_dim) / (n * m);
}

HostMatrix standard_normal_samples(int64_t m, int64_t D, Generator& gen) {
  UNRAVEL_CHECK(m > 0 && D > 0, "standard_normal_samples: [{}, {}]", m, D);
  HostMatrix out;
  out.rows = m;
  out.cols = D;
  out.data.resize(m * D);
  for (double& v : out.data) v = gen.normal();
  return out;
}

std::map<std::string, double> prior_fit_mmd(const HostMatrix& means, const HostMatrix* logvars,
                                            const HostMatrix& prior_samples, Generator& gen,
                                            const PriorFitOptions& opt) {
  UNRAVEL_CHECK(means.cols == prior_samples.cols && opt.num_points > 1,
                "prior_fit_mmd: codes [{}, {}] vs prior samples [{}, {}], num_points {}",
                means.rows, means.cols, prior_samples.rows, prior_samples.cols, opt.num_points);
  if (logvars)
    UNRAVEL_CHECK(logvars->rows == means.rows && logvars->cols == means.cols,
                  "prior_fit_mmd: logvars [{}, {}] for means [{}, {}]", logvars->rows,
                  logvars->cols, means.rows, means.cols);
  auto pick = sample_without_replacement(means.rows, opt.num_points, gen);
  HostMatrix q;
  q.rows = static_cast<int64_t>(pick.size());
  q.cols = means.cols;
  q.data.resize(q.rows * q.cols);
  const bool sample = logvars && opt.use_samples;
  for (int64_t i = 0; i < q.rows; ++i)
    for (int64_t d = 0; d < q.cols; ++d) {
      double v = means(pick[i], d);
      if (sample) v += std::exp(0.5 * (*logvars)(pick[i], d)) * gen.normal();
      q.data[i * q.cols + d] = v;
    }
  return {{"mmd_imq_full", mmd_imq(q, prior_samples, false)},
          {"mmd_imq_per_dim", mmd_imq(q, prior_samples, true)}};
}

std::map<std::string, double> average_over_batches(const Dataset& data, int64_t batch_size,
                                                   const BatchEvaluator& eval,
                                                   int64_t max_items) {
  UNRAVEL_CHECK(batch_size > 0, "average_over_batches: batch_size must be positive, got {}",
                batch_size);
  const int64_t n = max_items < 0 ? data.size() : std::min(max_items, data.size());
  UNRAVEL_CHECK(n > 0, "average_over_batches: no items to evaluate in '{}'", data.name());
  Tensor buf = data.make_batch_tensor(std::min(batch_size, n));
  std::map<std::string, double> acc;
  std::vector<int64_t> idx;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    idx.resize(b);
    for (int64_t i = 0; i < b; ++i) idx[i] = start + i;
    Tensor x = b == buf.size(0) ? buf : slice(buf, 0, 0, b);
    data.get_batch(idx, x);
    std::map<std::string, double> r = eval(x);
    if (start == 0) {
      for (auto& [k, v] : r) acc[k] = 0;
    }
    UNRAVEL_CHECK(r.size() == acc.size(),
                  "average_over_batches: the evaluator returned {} values for the batch at {}, "
                  "{} for the first batch",
                  r.size(), start, acc.size());
    for (auto& [k, v] : r) {
      auto it = acc.find(k);
      UNRAVEL_CHECK(it != acc.end(), "average_over_batches: new key '{}' at batch {}", k, start);
      it->second += v * double(b);
    }
  }
  for (auto& [k, v] : acc) v /= double(n);
  return acc;
}

}  // namespace unravel
