// Default implementations and helpers of the Dataset interface (datasets/dataset.h): argument
// checks for get_batch, whole-dataset factor/label tables, mixed-radix grid indexing, linspace.
#include "datasets/dataset.h"

#include "engine/check.h"

namespace unravel {

int64_t Dataset::label(int64_t i) const {
  UNRAVEL_CHECK(false, "{}: label({}): this dataset has no labels", name(), i);
  return 0;
}

void Dataset::factor_classes(int64_t i, std::span<int64_t>) const {
  UNRAVEL_CHECK(false, "{}: factor_classes({}): this dataset has no factors", name(), i);
}

void Dataset::factor_values(int64_t i, std::span<double>) const {
  UNRAVEL_CHECK(false, "{}: factor_values({}): this dataset has no factors", name(), i);
}

int64_t Dataset::index_of_factors(std::span<const int64_t>) const {
  UNRAVEL_CHECK(false, "{}: index_of_factors: this dataset has no factors", name());
  return 0;
}

std::vector<int64_t> Dataset::factor_classes(int64_t i) const {
  std::vector<int64_t> v(static_cast<size_t>(num_factors()));
  factor_classes(i, std::span<int64_t>(v));
  return v;
}

std::vector<double> Dataset::factor_values(int64_t i) const {
  std::vector<double> v(static_cast<size_t>(num_factors()));
  factor_values(i, std::span<double>(v));
  return v;
}

Tensor Dataset::factor_class_table() const {
  const int64_t n = size(), k = num_factors();
  UNRAVEL_CHECK(k > 0, "{}: factor_class_table: this dataset has no factors", name());
  Tensor t = Tensor::empty(Shape{n, k}, DType::i64);
  int64_t* p = t.data<int64_t>();
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t i = 0; i < n; ++i) factor_classes(i, std::span<int64_t>(p + i * k, k));
  return t;
}

Tensor Dataset::factor_value_table() const {
  const int64_t n = size(), k = num_factors();
  UNRAVEL_CHECK(k > 0, "{}: factor_value_table: this dataset has no factors", name());
  Tensor t = Tensor::empty(Shape{n, k}, DType::f64);
  double* p = t.data<double>();
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t i = 0; i < n; ++i) factor_values(i, std::span<double>(p + i * k, k));
  return t;
}

Tensor Dataset::label_table() const {
  UNRAVEL_CHECK(has_labels(), "{}: label_table: this dataset has no labels", name());
  const int64_t n = size();
  Tensor t = Tensor::empty(Shape{n}, DType::i64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = label(i);
  return t;
}

Tensor Dataset::make_batch_tensor(int64_t n) const {
  UNRAVEL_CHECK(n > 0, "{}: make_batch_tensor: batch size must be positive, got {}", name(), n);
  Shape s{n};
  for (int64_t d : item_shape()) s.push_back(d);
  return Tensor::empty(s, DType::f32);
}

void Dataset::check_batch_args(std::span<const int64_t> indices, const Tensor& out) const {
  const auto n = static_cast<int64_t>(indices.size());
  UNRAVEL_CHECK(out.defined(), "{}: get_batch: output tensor is undefined", name());
  UNRAVEL_CHECK(out.dtype() == DType::f32 && out.device().is_cpu() && out.is_contiguous(),
                "{}: get_batch: output must be a contiguous CPU f32 tensor, got {}", name(),
                out.desc());
  Shape want{n};
  for (int64_t d : item_shape()) want.push_back(d);
  UNRAVEL_CHECK(out.shape() == want, "{}: get_batch: output shape {} does not match {} items of {}",
                name(), out.shape().str(), n, item_shape().str());
  const int64_t sz = size();
  for (int64_t i : indices)
    UNRAVEL_CHECK(i >= 0 && i < sz, "{}: get_batch: index {} out of range [0, {})", name(), i, sz);
}

int64_t grid_index(std::span<const int64_t> classes, std::span<const int64_t> sizes,
                   const char* who) {
  UNRAVEL_CHECK(classes.size() == sizes.size(), "{}: expected {} factor classes, got {}", who,
                sizes.size(), classes.size());
  int64_t idx = 0;
  for (size_t j = 0; j < sizes.size(); ++j) {
    UNRAVEL_CHECK(classes[j] >= 0 && classes[j] < sizes[j],
                  "{}: factor {} class {} out of range [0, {})", who, j, classes[j], sizes[j]);
    idx = idx * sizes[j] + classes[j];
  }
  return idx;
}

void grid_classes(int64_t index, std::span<const int64_t> sizes, std::span<int64_t> out) {
  for (size_t j = sizes.size(); j-- > 0;) {
    out[j] = index % sizes[j];
    index /= sizes[j];
  }
}

std::vector<double> linspace(double start, double stop, int64_t n) {
  UNRAVEL_CHECK(n >= 1, "linspace: n must be positive, got {}", n);
  std::vector<double> v(static_cast<size_t>(n));
  if (n == 1) {
    v[0] = start;
    return v;
  }
  const double step = (stop - start) / static_cast<double>(n - 1);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * step + start;
  v[n - 1] = stop;
  return v;
}

}  // namespace unravel
