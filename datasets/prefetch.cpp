// Background batch assembly (datasets/prefetch.h).
#include "datasets/prefetch.h"

#include <cstring>

#include "engine/check.h"

namespace unravel {

PrefetchBatcher::PrefetchBatcher(Batcher& batcher)
    : batcher_(batcher), start_state_(batcher.state()) {
  worker_ = std::thread([this] { work(); });
}

PrefetchBatcher::~PrefetchBatcher() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void PrefetchBatcher::work() {
  for (int k = 0;; k ^= 1) {
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return stop_ || (!slots_[k].ready && held_ != k); });
      if (stop_) return;
    }
    Slot& s = slots_[k];  // free: neither ready nor held, so only this thread touches it
    bool failed = false;
    try {
      const Tensor& b = batcher_.next();
      UNRAVEL_CHECK(b.device() == kCPU, "PrefetchBatcher: batches must be on the CPU, got {}",
                    b.device().str());
      if (!s.batch.defined() || s.batch.shape() != b.shape()) s.batch = Tensor::empty(b.shape());
      std::memcpy(s.batch.data<float>(), b.data<float>(), sizeof(float) * static_cast<size_t>(b.numel()));
      s.batch.bump_version();
      const auto idx = batcher_.indices();
      s.indices.assign(idx.begin(), idx.end());
      s.after = batcher_.state();
    } catch (...) {
      s.error = std::current_exception();
      failed = true;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      s.ready = true;
    }
    cv_.notify_all();
    if (failed) return;
  }
}

const Tensor& PrefetchBatcher::next() {
  std::unique_lock<std::mutex> g(mu_);
  held_ = -1;  // the batch handed out last time may now be refilled
  cv_.notify_all();
  cv_.wait(g, [&] { return slots_[want_].ready; });
  Slot& s = slots_[want_];
  if (s.error) std::rethrow_exception(s.error);
  s.ready = false;
  held_ = want_;
  want_ ^= 1;
  g.unlock();
  cv_.notify_all();
  return s.batch;
}

std::span<const int64_t> PrefetchBatcher::indices() const {
  std::lock_guard<std::mutex> g(mu_);
  UNRAVEL_CHECK(held_ >= 0, "PrefetchBatcher::indices: no batch handed out yet");
  return slots_[held_].indices;
}

BatcherState PrefetchBatcher::state() const {
  std::lock_guard<std::mutex> g(mu_);
  return held_ >= 0 ? slots_[held_].after : start_state_;
}

}  // namespace unravel
