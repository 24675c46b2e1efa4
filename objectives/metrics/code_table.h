// The array form of a representation that every metric works on: posterior means Z [N, D] (and
// log-variances LV [N, D] where an estimator needs them) for the points of a factor grid, with
// their factor classes F [N, K]. Representations made by other tools are scored from such arrays;
// a model is scored by encoding a dataset into them (objectives/metrics/factor_source.h).
//
// FactorGrid indexes the rows of F: the rows holding value v of factor k (what the sampling
// protocols "fix factor k at v, sample the rest" draw from), and the row of a full class tuple.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel {

/// A representation given as arrays (CPU tensors).
struct CodeTable {
  Tensor codes;    ///< f32/f64 [N, D] posterior means (the representation)
  Tensor logvars;  ///< f32/f64 [N, D] posterior log-variances; undefined when not available
  Tensor factors;  ///< i64 [N, K] factor classes (0-based)
  std::vector<int64_t> factor_sizes;      ///< classes per factor; empty = max + 1 of each column
  std::vector<std::string> factor_names;  ///< optional, for the names of per-factor outputs
};

/// Checks a CodeTable's shapes and dtypes (naming `who`); throws on any mismatch.
void check_code_table(const CodeTable& t, const char* who);

/// A [rows, cols] row-major f64 matrix on the host: the metrics' working copy of codes.
struct HostMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> data;
  double* row(int64_t i) { return data.data() + i * cols; }
  const double* row(int64_t i) const { return data.data() + i * cols; }
  double operator()(int64_t i, int64_t j) const { return data[i * cols + j]; }
};

/// Copies a 2-D f32/f64 CPU tensor (any strides) into a HostMatrix; `who` names the caller.
HostMatrix to_host_matrix(const Tensor& t, const char* who);
/// Copies a 2-D i64 CPU tensor into a row-major vector, checking the shape; `who` names the caller.
std::vector<int64_t> to_host_i64(const Tensor& t, const char* who);

/// Row index of the factor classes F [N, K]: rows per factor value, and row of a class tuple.
class FactorGrid {
 public:
  /// Builds the index from row-major classes [n, k]; sizes empty = max + 1 per column.
  FactorGrid(std::vector<int64_t> classes, int64_t n, int k, std::vector<int64_t> sizes = {});
  /// Builds the index from an i64 tensor [N, K].
  explicit FactorGrid(const Tensor& factors, std::vector<int64_t> sizes = {});

  /// Number of rows N.
  int64_t size() const { return n_; }
  /// Number of factors K.
  int num_factors() const { return k_; }
  /// Classes per factor.
  const std::vector<int64_t>& sizes() const { return sizes_; }
  /// Class of factor k at row i.
  int64_t factor(int64_t i, int k) const { return classes_[i * k_ + k]; }
  /// The K classes of row i.
  std::span<const int64_t> classes(int64_t i) const { return {classes_.data() + i * k_, size_t(k_)}; }
  /// Rows whose factor k has class v (ascending).
  std::span<const int64_t> rows_with(int k, int64_t v) const;
  /// The first row holding class tuple `c` (size K), or -1 when no row does.
  int64_t row_of(std::span<const int64_t> c) const;
  /// True when the rows are exactly the full grid in row-major order (last factor fastest).
  bool is_full_grid() const { return full_grid_; }
  /// Empirical entropy (nats) of factor k over the rows.
  double factor_entropy(int k) const;

 private:
  void build();
  int64_t n_ = 0;
  int k_ = 0;
  std::vector<int64_t> classes_, sizes_;
  std::vector<std::vector<std::vector<int64_t>>> rows_;  // [k][v] -> rows
  std::unordered_map<uint64_t, int64_t> tuple_rows_;     // mixed-radix key -> first row
  bool full_grid_ = false;
};

/// A uniformly random subset of min(m, n) distinct indices of 0..n-1 (partial Fisher-Yates,
/// gen.randint per draw), in draw order.
std::vector<int64_t> sample_without_replacement(int64_t n, int64_t m, Generator& gen);

}  // namespace unravel
