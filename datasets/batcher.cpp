// Batcher and FactorSampler (datasets/batcher.h).
#include "datasets/batcher.h"

#include <algorithm>
#include <numeric>

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel {

namespace {

Tensor leading_view(const Tensor& full, int64_t n) {
  Shape s = full.shape();
  s[0] = n;
  return Tensor::make_view(full.storage(), 0, s, contiguous_strides(s), full.dtype());
}

}  // namespace

Batcher::Batcher(const Dataset& data, const BatcherOptions& opts, Generator gen)
    : data_(data), opts_(opts), gen_(gen) {
  const int64_t n = data.size(), b = opts.batch_size;
  UNRAVEL_CHECK(b > 0, "Batcher({}): batch_size must be positive, got {}", data.name(), b);
  UNRAVEL_CHECK(n > 0, "Batcher({}): the dataset is empty", data.name());
  UNRAVEL_CHECK(!opts.drop_last || n >= b,
                "Batcher({}): batch_size {} exceeds the {} items and drop_last leaves no batch",
                data.name(), b, n);
  const bool sharded = opts.shard_size != 0;
  UNRAVEL_CHECK(!sharded || (opts.drop_last && opts.shard_begin >= 0 && opts.shard_size > 0 &&
                             opts.shard_begin + opts.shard_size <= b),
                "Batcher({}): shard [{}, {}) of a batch of {} (needs drop_last)", data.name(),
                opts.shard_begin, opts.shard_begin + opts.shard_size, b);
  const int64_t cap = sharded ? opts.shard_size : std::min(b, n);
  full_ = data.make_batch_tensor(cap);
  if (!opts.drop_last && n % cap != 0) tail_ = leading_view(full_, n % cap);
  if (data.has_labels()) {
    labels_full_ = Tensor::empty(Shape{cap}, DType::i64);
    if (tail_.defined()) labels_tail_ = leading_view(labels_full_, n % cap);
  }
  perm_.resize(static_cast<size_t>(n));
  const size_t bytes = static_cast<size_t>(n) * static_cast<size_t>(data.item_numel()) * sizeof(float);
  const uint8_t* packed = data.packed_binary_items();
  const int64_t packed_row = data.item_numel() / 8;
  if (!opts.device.is_cpu() && packed && data.item_numel() % 8 == 0 &&
      static_cast<size_t>(n * packed_row) <= opts.resident_limit_bytes) {
    // Binary images stay packed on the device, 1 bit per pixel (dSprites: 377 MB), uploaded in
    // chunks of up to 64 MiB; a batch is unpacked there through a 256-entry table (bits_table).
    resident_bits_ = Tensor::empty(Shape{n, packed_row}, DType::u8, opts.device);
    const int64_t chunk = std::max<int64_t>(1, (int64_t{64} << 20) / packed_row);
    for (int64_t lo = 0; lo < n; lo += chunk) {
      const int64_t m = std::min(chunk, n - lo);
      copy_(slice(resident_bits_, 0, lo, lo + m),
            Tensor::from_data(packed + lo * packed_row, static_cast<size_t>(m * packed_row),
                              DType::u8, Shape{m, packed_row}, opts.device));
    }
    std::vector<float> table(256 * 8);
    for (int v = 0; v < 256; ++v)
      for (int b = 0; b < 8; ++b) table[static_cast<size_t>(v * 8 + b)] = static_cast<float>((v >> b) & 1);
    bits_table_ = Tensor::from_vector(table, Shape{256, 8}, opts.device);
  } else if (!opts.device.is_cpu() && bytes <= opts.resident_limit_bytes) {
    // Upload every item once, in chunks of up to 64 MiB assembled on the host.
    Shape s = data.item_shape();
    s.insert(0, n);
    resident_ = Tensor::empty(s, DType::f32, opts.device);
    const int64_t chunk = std::max<int64_t>(1, (int64_t{64} << 20) / (data.item_numel() * 4));
    Tensor host = data.make_batch_tensor(std::min(chunk, n));
    std::vector<int64_t> idx;
    for (int64_t lo = 0; lo < n; lo += chunk) {
      const int64_t m = std::min(chunk, n - lo);
      idx.resize(static_cast<size_t>(m));
      std::iota(idx.begin(), idx.end(), lo);
      Tensor part = m == host.size(0) ? host : leading_view(host, m);
      data.get_batch(idx, part);
      copy_(slice(resident_, 0, lo, lo + m), to(part, opts.device));
    }
  }
  start_epoch();
}

void Batcher::start_epoch() {
  position_ = 0;
  epoch_offset_ = gen_.offset();
  const int64_t n = data_.size();
  if (opts_.shuffle) {
    const Tensor p = permutation(n, gen_);
    std::copy_n(p.data<int64_t>(), n, perm_.begin());
  } else {
    std::iota(perm_.begin(), perm_.end(), int64_t{0});
  }
  if (resident())  // one upload per epoch
    perm_device_ = to(Tensor::from_vector(perm_, Shape{n}), opts_.device);
}

int64_t Batcher::batches_per_epoch() const {
  const int64_t n = data_.size(), b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

bool Batcher::epoch_done() const {
  const int64_t left = data_.size() - position_;
  return opts_.drop_last ? left < opts_.batch_size : left <= 0;
}

const Tensor& Batcher::next() {
  if (epoch_done()) {
    ++epoch_;
    start_epoch();
  }
  const int64_t count = std::min(opts_.batch_size, data_.size() - position_);
  last_start_ = position_;
  last_count_ = count;
  position_ += count;
  last_was_tail_ = count < full_.size(0);
  Tensor& out = last_was_tail_ ? tail_ : full_;
  std::span<const int64_t> idx = indices();
  int64_t first = last_start_;
  if (opts_.shard_size != 0) {  // this process's rows of the batch
    idx = idx.subspan(static_cast<size_t>(opts_.shard_begin),
                      static_cast<size_t>(opts_.shard_size));
    first += opts_.shard_begin;  // (drop_last: never a tail)
  }
  const int64_t rows = static_cast<int64_t>(idx.size());
  if (resident_.defined()) {
    batch_device_ = index_select(resident_, 0, slice(perm_device_, 0, first, first + rows));
  } else if (resident_bits_.defined()) {
    // rows [B, P] u8 -> P·B table indices -> [B·P, 8] pixels (bit b of byte j is pixel 8j + b).
    const Tensor packed = index_select(resident_bits_, 0, slice(perm_device_, 0, first, first + rows));
    const Tensor pixels = index_select(bits_table_, 0, to(reshape(packed, Shape{packed.numel()}), DType::i64));
    Shape s = data_.item_shape();
    s.insert(0, rows);
    batch_device_ = reshape(pixels, s);
  } else {
    data_.get_batch(idx, out);
  }
  if (labels_full_.defined()) {
    Tensor& lab = last_was_tail_ ? labels_tail_ : labels_full_;
    int64_t* l = lab.data<int64_t>();
    for (size_t i = 0; i < idx.size(); ++i) l[i] = data_.label(idx[i]);
    lab.bump_version();
  }
  return resident() ? batch_device_ : out;
}

const Tensor& Batcher::labels() const {
  UNRAVEL_CHECK(labels_full_.defined(), "Batcher({}): the dataset has no labels", data_.name());
  UNRAVEL_CHECK(last_count_ > 0, "Batcher({}): labels() before the first next()", data_.name());
  return last_was_tail_ ? labels_tail_ : labels_full_;
}

BatcherState Batcher::state() const { return {epoch_, position_, gen_.seed(), epoch_offset_}; }

void Batcher::restore(const BatcherState& s) {
  UNRAVEL_CHECK(s.position >= 0 && s.position <= data_.size() && s.epoch >= 0,
                "Batcher({}): invalid state epoch {} position {} for {} items", data_.name(),
                s.epoch, s.position, data_.size());
  gen_ = Generator(s.seed, s.offset);
  epoch_ = s.epoch;
  start_epoch();
  position_ = s.position;
  last_start_ = last_count_ = 0;
}

// ---------------------------------------------------------------------------------------------

FactorSampler::FactorSampler(const Dataset& data) : data_(data), sizes_(data.factor_sizes()) {
  UNRAVEL_CHECK(data.num_factors() > 0, "FactorSampler: dataset '{}' has no factors", data.name());
}

int64_t FactorSampler::sample_class(int k, Generator& gen) const {
  UNRAVEL_CHECK(k >= 0 && k < num_factors(), "FactorSampler: factor {} out of range [0, {})", k,
                num_factors());
  return static_cast<int64_t>(gen.randint(static_cast<uint64_t>(sizes_[k])));
}

void FactorSampler::draw(int fixed_k, int64_t value, std::span<int64_t> out, Generator& gen,
                         std::span<int64_t> classes) const {
  const int K = num_factors();
  UNRAVEL_CHECK(classes.empty() || classes.size() == out.size() * K,
                "FactorSampler: classes output has {} slots, need {} × {}", classes.size(),
                out.size(), K);
  // Any K (CelebA has 40 attributes; a dataset that is not a full grid says so in
  // index_of_factors).
  std::vector<int64_t> cls(static_cast<size_t>(K));
  for (size_t i = 0; i < out.size(); ++i) {
    for (int j = 0; j < K; ++j)
      cls[j] = j == fixed_k ? value : static_cast<int64_t>(gen.randint(static_cast<uint64_t>(sizes_[j])));
    out[i] = data_.index_of_factors(cls);
    if (!classes.empty()) std::copy_n(cls.begin(), K, classes.begin() + i * K);
  }
}

void FactorSampler::sample_fixed(int k, int64_t value, std::span<int64_t> out, Generator& gen,
                                 std::span<int64_t> classes) const {
  UNRAVEL_CHECK(k >= 0 && k < num_factors(), "FactorSampler: factor {} out of range [0, {})", k,
                num_factors());
  UNRAVEL_CHECK(value >= 0 && value < sizes_[k],
                "FactorSampler: class {} of factor {} out of range [0, {})", value, k, sizes_[k]);
  draw(k, value, out, gen, classes);
}

void FactorSampler::sample(std::span<int64_t> out, Generator& gen, std::span<int64_t> classes) const {
  draw(-1, 0, out, gen, classes);
}

}  // namespace unravel
