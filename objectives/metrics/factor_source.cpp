// FactorSource/DatasetFactorSource (rendering factor tuples), encode_dataset (a whole dataset to a
// CodeTable), and the two CodeSamplers the sampling protocols draw from (see factor_source.h for
// why both consume the Generator identically).
#include "objectives/metrics/factor_source.h"

#include <algorithm>

#include "engine/check.h"
#include "ops/shape_ops.h"

namespace unravel {

void draw_grid_tuple(const std::vector<int64_t>& sizes, int k, int64_t v, Generator& gen,
                     int64_t* out) {
  const int K = static_cast<int>(sizes.size());
  uint64_t total = 1;
  for (int j = 0; j < K; ++j)
    if (j != k) total *= static_cast<uint64_t>(sizes[j]);
  uint64_t r = gen.randint(total);
  for (int j = K - 1; j >= 0; --j) {  // row-major decode: last factor fastest
    if (j == k) {
      out[j] = v;
      continue;
    }
    out[j] = static_cast<int64_t>(r % static_cast<uint64_t>(sizes[j]));
    r /= static_cast<uint64_t>(sizes[j]);
  }
}

Tensor FactorSource::sample_factors(int64_t n, Generator& gen) const {
  UNRAVEL_CHECK(n >= 0, "FactorSource::sample_factors: n must be >= 0, got {}", n);
  std::vector<int64_t> sizes = factor_sizes();
  const int64_t K = static_cast<int64_t>(sizes.size());
  Tensor out = Tensor::empty(Shape{n, K}, DType::i64);
  int64_t* p = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) draw_grid_tuple(sizes, -1, 0, gen, p + i * K);
  return out;
}

DatasetFactorSource::DatasetFactorSource(const Dataset& data) : data_(data) {
  UNRAVEL_CHECK(data.num_factors() > 0, "DatasetFactorSource: dataset '{}' has no factors",
                data.name());
}

Tensor DatasetFactorSource::images_for(const Tensor& classes) const {
  const int64_t K = data_.num_factors();
  UNRAVEL_CHECK(classes.defined() && classes.dim() == 2 && classes.dtype() == DType::i64 &&
                    classes.size(1) == K,
                "DatasetFactorSource::images_for({}): expected i64 [n, {}] classes",
                data_.name(), K);
  std::vector<int64_t> c = classes.to_vector<int64_t>();
  const int64_t n = classes.size(0);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    idx[i] = data_.index_of_factors(std::span<const int64_t>(c.data() + i * K, size_t(K)));
  Tensor out = data_.make_batch_tensor(n);
  data_.get_batch(idx, out);
  return out;
}

namespace {

// Copies encoder output rows into dst (n*D f64), checking the batch shape.
void copy_codes(const Tensor& t, int64_t n, int64_t d, double* dst, const char* what) {
  UNRAVEL_CHECK(t.defined() && t.dim() == 2 && t.size(0) == n && t.size(1) == d &&
                    is_floating(t.dtype()),
                "encoder: {} must be f32/f64 [{}, {}], got {}", what, n, d,
                t.defined() ? t.desc() : std::string("undefined"));
  std::vector<double> v = t.to_vector<double>();
  std::copy(v.begin(), v.end(), dst);
}

}  // namespace

CodeTable encode_dataset(const Dataset& data, const Encoder& encoder, int64_t batch_size) {
  UNRAVEL_CHECK(batch_size > 0, "encode_dataset: batch_size must be positive, got {}", batch_size);
  const int64_t n = data.size();
  UNRAVEL_CHECK(n > 0, "encode_dataset: dataset '{}' is empty", data.name());
  Tensor batch = data.make_batch_tensor(std::min(batch_size, n));
  std::vector<int64_t> idx;
  std::vector<double> mu, lv;
  int64_t d = -1;
  bool has_lv = false;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    idx.resize(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) idx[i] = start + i;
    Tensor x = b == batch.size(0) ? batch : slice(batch, 0, 0, b);
    data.get_batch(idx, x);
    EncodedBatch e = encoder(x);
    UNRAVEL_CHECK(e.mean.defined() && e.mean.dim() == 2,
                  "encode_dataset: the encoder must return means [B, D], got {}",
                  e.mean.defined() ? e.mean.desc() : std::string("undefined"));
    if (d < 0) {
      d = e.mean.size(1);
      has_lv = e.logvar.defined();
      mu.resize(static_cast<size_t>(n * d));
      if (has_lv) lv.resize(static_cast<size_t>(n * d));
    }
    copy_codes(e.mean, b, d, mu.data() + start * d, "means");
    if (has_lv) copy_codes(e.logvar, b, d, lv.data() + start * d, "log-variances");
  }
  CodeTable t;
  t.codes = Tensor::from_vector(mu, Shape{n, d});
  if (has_lv) t.logvars = Tensor::from_vector(lv, Shape{n, d});
  if (data.num_factors() > 0) {
    t.factors = data.factor_class_table();
    t.factor_sizes = data.factor_sizes();
    t.factor_names = data.factor_names();
  }
  return t;
}

void CodeSampler::sample_fixed(int64_t n, int k, int64_t v, Generator& gen, double* codes,
                               int64_t* classes) {
  std::vector<int64_t> fixed(static_cast<size_t>(std::max<int64_t>(n, 0)), v);
  sample(n, k, k >= 0 ? fixed.data() : nullptr, gen, codes, classes);
}

TableSampler::TableSampler(const HostMatrix& codes, const FactorGrid& grid)
    : codes_(codes), grid_(grid) {
  UNRAVEL_CHECK(codes.rows == grid.size(), "TableSampler: {} code rows but {} factor rows",
                codes.rows, grid.size());
}

void TableSampler::sample(int64_t n, int k, const int64_t* fixed, Generator& gen, double* codes,
                          int64_t* classes) {
  const int64_t D = codes_.cols;
  const int K = grid_.num_factors();
  UNRAVEL_CHECK(k < K, "TableSampler::sample: factor {} outside [0, {})", k, K);
  for (int64_t i = 0; i < n; ++i) {
    int64_t row;
    if (k < 0) {
      row = static_cast<int64_t>(gen.randint(static_cast<uint64_t>(grid_.size())));
    } else {
      auto rows = grid_.rows_with(k, fixed[i]);
      UNRAVEL_CHECK(!rows.empty(), "TableSampler::sample: no row has factor {} = {}", k,
                    fixed[i]);
      row = rows[gen.randint(rows.size())];
    }
    std::copy(codes_.row(row), codes_.row(row) + D, codes + i * D);
    if (classes) {
      auto c = grid_.classes(row);
      std::copy(c.begin(), c.end(), classes + i * K);
    }
  }
}

EncoderSampler::EncoderSampler(const FactorSource& source, const Encoder& encoder,
                               int64_t batch_size)
    : source_(source), encoder_(encoder), batch_size_(batch_size), sizes_(source.factor_sizes()) {
  UNRAVEL_CHECK(batch_size > 0, "EncoderSampler: batch_size must be positive, got {}", batch_size);
  UNRAVEL_CHECK(!sizes_.empty(), "EncoderSampler: the factor source has no factors");
}

int64_t EncoderSampler::code_dim() const {
  if (dim_ < 0) {  // encode one point to learn D
    std::vector<int64_t> zero(sizes_.size(), 0);
    Tensor c = Tensor::from_vector(zero, Shape{1, static_cast<int64_t>(sizes_.size())});
    EncodedBatch e = encoder_(source_.images_for(c));
    UNRAVEL_CHECK(e.mean.defined() && e.mean.dim() == 2,
                  "EncoderSampler: the encoder must return means [B, D]");
    dim_ = e.mean.size(1);
  }
  return dim_;
}

void EncoderSampler::sample(int64_t n, int k, const int64_t* fixed, Generator& gen, double* codes,
                            int64_t* classes) {
  const int K = static_cast<int>(sizes_.size());
  UNRAVEL_CHECK(k < K, "EncoderSampler::sample: factor {} outside [0, {})", k, K);
  const int64_t D = code_dim();
  std::vector<int64_t> tuples(static_cast<size_t>(n * K));
  for (int64_t i = 0; i < n; ++i) {
    if (k >= 0)
      UNRAVEL_CHECK(fixed[i] >= 0 && fixed[i] < sizes_[k],
                    "EncoderSampler::sample: class {} of factor {} outside [0, {})", fixed[i], k,
                    sizes_[k]);
    draw_grid_tuple(sizes_, k, k >= 0 ? fixed[i] : 0, gen, tuples.data() + i * K);
  }
  if (classes) std::copy(tuples.begin(), tuples.end(), classes);
  for (int64_t start = 0; start < n; start += batch_size_) {
    const int64_t b = std::min(batch_size_, n - start);
    std::vector<int64_t> part(tuples.begin() + start * K, tuples.begin() + (start + b) * K);
    EncodedBatch e = encoder_(source_.images_for(Tensor::from_vector(part, Shape{b, K})));
    copy_codes(e.mean, b, D, codes + start * D, "means");
  }
}

}  // namespace unravel
