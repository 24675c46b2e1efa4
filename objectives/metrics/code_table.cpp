// CodeTable checks, host copies of code matrices, and FactorGrid: the index from factor values to
// the rows that hold them, used by every sampling protocol on array representations.
#include "objectives/metrics/code_table.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/check.h"

namespace unravel {

void check_code_table(const CodeTable& t, const char* who) {
  UNRAVEL_CHECK(t.codes.defined() && t.codes.dim() == 2 && is_floating(t.codes.dtype()),
                "{}: codes must be a 2-D f32/f64 tensor [N, D], got {}", who,
                t.codes.defined() ? t.codes.desc() : std::string("undefined"));
  UNRAVEL_CHECK(t.factors.defined() && t.factors.dim() == 2 && t.factors.dtype() == DType::i64,
                "{}: factors must be a 2-D i64 tensor [N, K], got {}", who,
                t.factors.defined() ? t.factors.desc() : std::string("undefined"));
  UNRAVEL_CHECK(t.codes.size(0) == t.factors.size(0),
                "{}: codes {} and factors {} disagree on the number of points", who,
                t.codes.desc(), t.factors.desc());
  if (t.logvars.defined())
    UNRAVEL_CHECK(t.logvars.shape() == t.codes.shape() && is_floating(t.logvars.dtype()),
                  "{}: logvars {} must be f32/f64 with the shape of codes {}", who,
                  t.logvars.desc(), t.codes.desc());
  if (!t.factor_sizes.empty())
    UNRAVEL_CHECK(static_cast<int64_t>(t.factor_sizes.size()) == t.factors.size(1),
                  "{}: {} factor sizes given for {} factor columns", who, t.factor_sizes.size(),
                  t.factors.size(1));
}

HostMatrix to_host_matrix(const Tensor& t, const char* who) {
  UNRAVEL_CHECK(t.defined() && t.dim() == 2 && is_floating(t.dtype()),
                "{}: expected a 2-D f32/f64 tensor, got {}", who,
                t.defined() ? t.desc() : std::string("undefined"));
  HostMatrix m;
  m.rows = t.size(0);
  m.cols = t.size(1);
  m.data = t.to_vector<double>();
  return m;
}

std::vector<int64_t> to_host_i64(const Tensor& t, const char* who) {
  UNRAVEL_CHECK(t.defined() && t.dim() == 2 && t.dtype() == DType::i64,
                "{}: expected a 2-D i64 tensor, got {}", who,
                t.defined() ? t.desc() : std::string("undefined"));
  return t.to_vector<int64_t>();
}

FactorGrid::FactorGrid(std::vector<int64_t> classes, int64_t n, int k, std::vector<int64_t> sizes)
    : n_(n), k_(k), classes_(std::move(classes)), sizes_(std::move(sizes)) {
  build();
}

FactorGrid::FactorGrid(const Tensor& factors, std::vector<int64_t> sizes)
    : n_(factors.defined() && factors.dim() == 2 ? factors.size(0) : 0),
      k_(factors.defined() && factors.dim() == 2 ? static_cast<int>(factors.size(1)) : 0),
      classes_(to_host_i64(factors, "FactorGrid")),
      sizes_(std::move(sizes)) {
  build();
}

void FactorGrid::build() {
  UNRAVEL_CHECK(n_ > 0 && k_ > 0, "FactorGrid: need at least one row and one factor, got [{}, {}]",
                n_, k_);
  UNRAVEL_CHECK(static_cast<int64_t>(classes_.size()) == n_ * k_,
                "FactorGrid: {} classes for [{}, {}]", classes_.size(), n_, k_);
  if (sizes_.empty()) {
    sizes_.assign(k_, 0);
    for (int64_t i = 0; i < n_; ++i)
      for (int j = 0; j < k_; ++j) sizes_[j] = std::max(sizes_[j], classes_[i * k_ + j] + 1);
  }
  UNRAVEL_CHECK(static_cast<int>(sizes_.size()) == k_, "FactorGrid: {} sizes for {} factors",
                sizes_.size(), k_);
  double log_prod = 0;
  for (int j = 0; j < k_; ++j) {
    UNRAVEL_CHECK(sizes_[j] > 0, "FactorGrid: factor {} has size {}", j, sizes_[j]);
    log_prod += std::log2(static_cast<double>(sizes_[j]));
  }
  UNRAVEL_CHECK(log_prod < 62, "FactorGrid: the grid of sizes has more than 2^62 tuples");
  rows_.assign(k_, {});
  for (int j = 0; j < k_; ++j) rows_[j].assign(sizes_[j], {});
  tuple_rows_.reserve(static_cast<size_t>(n_));
  bool full = true;
  int64_t grid_total = 1;
  for (int64_t s : sizes_) grid_total *= s;
  full = grid_total == n_;
  for (int64_t i = 0; i < n_; ++i) {
    uint64_t key = 0;
    for (int j = 0; j < k_; ++j) {
      int64_t c = classes_[i * k_ + j];
      UNRAVEL_CHECK(c >= 0 && c < sizes_[j],
                    "FactorGrid: row {} factor {} has class {}, outside [0, {})", i, j, c,
                    sizes_[j]);
      rows_[j][c].push_back(i);
      key = key * static_cast<uint64_t>(sizes_[j]) + static_cast<uint64_t>(c);
    }
    tuple_rows_.emplace(key, i);
    if (static_cast<int64_t>(key) != i) full = false;
  }
  full_grid_ = full;
}

std::span<const int64_t> FactorGrid::rows_with(int k, int64_t v) const {
  UNRAVEL_CHECK(k >= 0 && k < k_, "FactorGrid::rows_with: factor {} outside [0, {})", k, k_);
  UNRAVEL_CHECK(v >= 0 && v < sizes_[k], "FactorGrid::rows_with: class {} of factor {} outside [0, {})",
                v, k, sizes_[k]);
  return rows_[k][v];
}

int64_t FactorGrid::row_of(std::span<const int64_t> c) const {
  UNRAVEL_CHECK(static_cast<int>(c.size()) == k_, "FactorGrid::row_of: {} classes for {} factors",
                c.size(), k_);
  uint64_t key = 0;
  for (int j = 0; j < k_; ++j) {
    if (c[j] < 0 || c[j] >= sizes_[j]) return -1;
    key = key * static_cast<uint64_t>(sizes_[j]) + static_cast<uint64_t>(c[j]);
  }
  if (full_grid_) return static_cast<int64_t>(key);
  auto it = tuple_rows_.find(key);
  return it == tuple_rows_.end() ? -1 : it->second;
}

double FactorGrid::factor_entropy(int k) const {
  UNRAVEL_CHECK(k >= 0 && k < k_, "FactorGrid::factor_entropy: factor {} outside [0, {})", k, k_);
  double h = 0;
  for (const auto& r : rows_[k]) {
    if (r.empty()) continue;
    double p = static_cast<double>(r.size()) / static_cast<double>(n_);
    h -= p * std::log(p);
  }
  return h;
}

std::vector<int64_t> sample_without_replacement(int64_t n, int64_t m, Generator& gen) {
  UNRAVEL_CHECK(n > 0 && m >= 0, "sample_without_replacement: need n > 0 and m >= 0, got {} and {}",
                n, m);
  m = std::min(m, n);
  // Sparse Fisher-Yates: a hash of displaced entries keeps this O(m) in memory for m << n.
  std::unordered_map<int64_t, int64_t> moved;
  moved.reserve(static_cast<size_t>(2 * m));
  auto at = [&](int64_t i) {
    auto it = moved.find(i);
    return it == moved.end() ? i : it->second;
  };
  std::vector<int64_t> out(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    int64_t j = i + static_cast<int64_t>(gen.randint(static_cast<uint64_t>(n - i)));
    int64_t vi = at(i), vj = at(j);
    out[i] = vj;
    moved[j] = vi;
    moved[i] = vj;
  }
  return out;
}

}  // namespace unravel
