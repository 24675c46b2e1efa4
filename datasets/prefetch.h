// PrefetchBatcher: a background thread that assembles the next batch (decoding, gathering from
// a mapped cache, u8 → f32) while the caller's training step runs. It owns the calls to the
// wrapped Batcher's next(), made one after another on the worker thread, so the batches, their
// order and the epochs are exactly those of the Batcher alone. Two slots: the batch returned by
// next() stays valid (and untouched) until the following call, while the other slot is filled.
// The destructor stops the worker cleanly (it finishes the batch in hand, then exits); an error
// in the worker is rethrown by the next call to next(). Host (CPU) batches only.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "datasets/batcher.h"

namespace unravel {

class PrefetchBatcher {
 public:
  /// Starts the worker; `batcher` must outlive this object and not be used directly meanwhile.
  explicit PrefetchBatcher(Batcher& batcher);
  ~PrefetchBatcher();
  PrefetchBatcher(const PrefetchBatcher&) = delete;
  PrefetchBatcher& operator=(const PrefetchBatcher&) = delete;

  /// The next batch, the same as batcher.next() would have returned.
  const Tensor& next();
  /// Item indices of the batch last returned by next().
  std::span<const int64_t> indices() const;
  /// The batcher's state as if it had handed out exactly the batches next() returned so far (what
  /// a checkpoint stores; the worker itself is one or two batches ahead).
  BatcherState state() const;

 private:
  struct Slot {
    Tensor batch;
    std::vector<int64_t> indices;
    BatcherState after{};
    std::exception_ptr error;
    bool ready = false;
  };
  void work();
  Batcher& batcher_;
  Slot slots_[2];
  BatcherState start_state_{};
  int want_ = 0, held_ = -1;
  bool stop_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread worker_;
};

}  // namespace unravel
