// Batches in which a single ground-truth factor varies (DC-IGN's training batches, Kulkarni et
// al. 2015): per batch, the varying factor k uniform over the K factors, one base tuple uniform
// over the grid (FactorSampler), and for each row factor k's class uniform while the others keep
// the base's classes. Drawn on the host from the batcher's own Generator (one randint for k, K
// for the base, one per row), so the state — the generator's offset and the batch count — goes
// into a checkpoint's BatcherState and a resumed run continues the same batches.
#pragma once
#include <cstdint>
#include <vector>

#include "datasets/batcher.h"

namespace unravel {

class VaryingFactorBatcher {
 public:
  /// `data` must have factors (dSprites); batches of `batch` rows go to `device`.
  VaryingFactorBatcher(const Dataset& data, int64_t batch, Generator gen, Device device = kCPU);
  /// The next batch [B, item...] (overwritten by the following call).
  const Tensor& next();
  /// The factor that varies in the batch last returned (−1 before the first).
  int factor() const { return factor_; }
  /// Factor classes of the batch last returned, row-major [B × K].
  const std::vector<int64_t>& classes() const { return classes_; }
  /// Checkpoint state: epoch 0, position = batches drawn, the generator's seed and offset.
  BatcherState state() const;
  void restore(const BatcherState& s);

 private:
  const Dataset& data_;
  FactorSampler sampler_;
  int64_t batch_;
  Generator gen_;
  Device device_;
  int64_t drawn_ = 0;
  int factor_ = -1;
  std::vector<int64_t> indices_, classes_;
  Tensor host_, out_;
};

}  // namespace unravel
