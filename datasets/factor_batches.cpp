// VaryingFactorBatcher (datasets/factor_batches.h).
#include "datasets/factor_batches.h"

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel {

VaryingFactorBatcher::VaryingFactorBatcher(const Dataset& data, int64_t batch, Generator gen,
                                           Device device)
    : data_(data), sampler_(data), batch_(batch), gen_(gen), device_(device) {
  UNRAVEL_CHECK(batch >= 2, "VaryingFactorBatcher: batch must be >= 2, got {}", batch);
  host_ = data.make_batch_tensor(batch);
  indices_.resize(static_cast<size_t>(batch));
}

const Tensor& VaryingFactorBatcher::next() {
  const int K = sampler_.num_factors();
  factor_ = static_cast<int>(gen_.randint(static_cast<uint64_t>(K)));
  std::vector<int64_t> base(static_cast<size_t>(K));
  int64_t one = 0;
  sampler_.sample(std::span<int64_t>(&one, 1), gen_, base);
  classes_.assign(static_cast<size_t>(batch_ * K), 0);
  for (int64_t i = 0; i < batch_; ++i) {
    int64_t* row = classes_.data() + i * K;
    std::copy(base.begin(), base.end(), row);
    row[factor_] = sampler_.sample_class(factor_, gen_);
    indices_[static_cast<size_t>(i)] = data_.index_of_factors(std::span<const int64_t>(row, K));
  }
  data_.get_batch(indices_, host_);
  out_ = device_.is_cpu() ? host_ : to(host_, device_);
  ++drawn_;
  return out_;
}

BatcherState VaryingFactorBatcher::state() const {
  return BatcherState{0, drawn_, gen_.seed(), gen_.offset()};
}

void VaryingFactorBatcher::restore(const BatcherState& s) {
  UNRAVEL_CHECK(s.seed == gen_.seed(), "VaryingFactorBatcher: checkpoint stream seed {} differs "
                "from this run's {}", s.seed, gen_.seed());
  gen_.set_offset(s.offset);
  drawn_ = s.position;
}

}  // namespace unravel
