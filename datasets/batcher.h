// Batcher: minibatches from a Dataset. Each epoch visits a fresh permutation of 0..N−1
// (`permutation` from ops/random_ops.h, drawn from an explicit Generator, so N counters per
// epoch), i.e. sampling without replacement; with drop_last the final partial batch of an epoch
// is skipped. Images are assembled into one batch tensor allocated at construction and reused
// (a short last batch is a view of it), so a batch costs no allocation: the tensor returned by
// next() is overwritten (and its version bumped) by the following call.
// The state (epoch, position, generator seed and offset at the start of the epoch) can be saved
// and restored to resume exactly.
//
// FactorSampler: for metrics on datasets with factors (dSprites). "Fix factor k at class v and
// draw the others uniformly" returns item indices; the Generator is consumed one randint per
// free factor per item, in factor order.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"

namespace unravel {

struct BatcherOptions {
  int64_t batch_size = 64;
  bool shuffle = true;     ///< false: items in index order every epoch
  bool drop_last = true;   ///< skip the last partial batch of each epoch
  /// Where batches are wanted. Not the CPU: a dataset whose f32 items fit in
  /// resident_limit_bytes is uploaded once and stays there; each epoch's permutation is uploaded
  /// once; a batch is gathered on the device (index_select) with no host work. Binary image
  /// datasets held bit-packed (Dataset::packed_binary_items, dSprites) count their packed bytes
  /// and stay packed there: a batch is gathered as bytes and unpacked on the device through a
  /// 256 × 8 table. Larger datasets are assembled on the host and uploaded per batch.
  Device device = kCPU;
  size_t resident_limit_bytes = size_t{2} << 30;  // pinwheel, (Fashion-)MNIST, packed dSprites
  /// Data-parallel training: assemble only rows [shard_begin, shard_begin + shard_size) of each
  /// batch (0 = every row). The order of the whole batch, the epochs and the state are those of
  /// the unsharded batcher (the same seed gives every process the same permutation), so each
  /// process loads only its contiguous slice. Needs drop_last (every batch full).
  int64_t shard_begin = 0;
  int64_t shard_size = 0;
};

/// What a checkpoint stores to resume a Batcher.
struct BatcherState {
  int64_t epoch = 0;        ///< epochs started before the current one
  int64_t position = 0;     ///< items of the current epoch already handed out
  uint64_t seed = 0;        ///< generator seed
  uint64_t offset = 0;      ///< generator offset when the current epoch's permutation was drawn
};

class Batcher {
 public:
  /// Draws the first epoch's permutation from `gen` (copied; the batcher owns its stream).
  Batcher(const Dataset& data, const BatcherOptions& opts, Generator gen);

  /// The next batch [B, item_shape...] (f32), or its shard (BatcherOptions::shard_size rows);
  /// starts a new epoch when the current one is done.
  const Tensor& next();
  /// Labels (i64 [B]) of the batch last returned by next(); requires dataset labels.
  const Tensor& labels() const;
  /// Item indices of the whole batch last returned by next() (every row, sharded or not).
  std::span<const int64_t> indices() const { return {perm_.data() + last_start_, static_cast<size_t>(last_count_)}; }
  /// Batches per epoch (N / B with drop_last, else ceil(N / B)).
  int64_t batches_per_epoch() const;
  /// Index of the current epoch (0-based).
  int64_t epoch() const { return epoch_; }
  /// True when the current epoch has no batch left (the next call to next() starts a new one).
  bool epoch_done() const;

  /// The state to save in a checkpoint.
  BatcherState state() const;
  /// Resumes from a saved state (the dataset and options must be the same).
  void restore(const BatcherState& s);

 private:
  void start_epoch();
  /// The items live on opts_.device (as f32 or bit-packed): batches are gathered there.
  bool resident() const { return resident_.defined() || resident_bits_.defined(); }
  const Dataset& data_;
  BatcherOptions opts_;
  Generator gen_;
  uint64_t epoch_offset_ = 0;
  int64_t epoch_ = 0, position_ = 0;
  int64_t last_start_ = 0, last_count_ = 0;
  std::vector<int64_t> perm_;
  Tensor full_, tail_, labels_full_, labels_tail_;
  Tensor resident_, perm_device_, batch_device_;  ///< device-resident data (opts_.device)
  Tensor resident_bits_, bits_table_;  ///< packed binary items [N, numel/8] u8; byte -> 8 pixels
  bool last_was_tail_ = false;
};

/// Draws items of a factored dataset for the disentanglement metrics.
class FactorSampler {
 public:
  /// `data` must have factors and support index_of_factors (dSprites).
  explicit FactorSampler(const Dataset& data);
  /// Number of factors K and their sizes.
  int num_factors() const { return static_cast<int>(sizes_.size()); }
  const std::vector<int64_t>& factor_sizes() const { return sizes_; }
  /// A uniformly random class of factor k.
  int64_t sample_class(int k, Generator& gen) const;
  /// out.size() items with factor k fixed at class `value`, the other factors uniform;
  /// their classes go to `classes` (out.size() × K) when it is not empty.
  void sample_fixed(int k, int64_t value, std::span<int64_t> out, Generator& gen,
                    std::span<int64_t> classes = {}) const;
  /// out.size() items with every factor uniform (classes as above).
  void sample(std::span<int64_t> out, Generator& gen, std::span<int64_t> classes = {}) const;

 private:
  void draw(int fixed_k, int64_t value, std::span<int64_t> out, Generator& gen,
            std::span<int64_t> classes) const;
  const Dataset& data_;
  std::vector<int64_t> sizes_;
};

}  // namespace unravel
