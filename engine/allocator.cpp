#include "engine/allocator.h"

#include <cstdlib>
#include <algorithm>

#include "engine/check.h"

namespace unravel {

size_t allocator_size_class(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  // Up to 1 MiB: multiples of 64 bytes below 4 KiB, then 4 KiB pages. Above: 1/8 steps between
  // powers of two, which bounds the waste to 12.5% while keeping few classes.
  if (nbytes <= 4096) return (nbytes + 63) & ~size_t{63};
  if (nbytes <= (size_t{1} << 20)) return (nbytes + 4095) & ~size_t{4095};
  size_t p = size_t{1} << (63 - __builtin_clzll(nbytes - 1));  // largest power of two < nbytes
  size_t step = p / 8;
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t cls = allocator_size_class(nbytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.requests;
    stats_.in_use += cls;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
    FreeLists& lists = active_pool_ ? pools_[active_pool_] : free_;
    auto it = lists.find(cls);
    if (it != lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached -= cls;
      return p;
    }
    ++stats_.os_allocs;
  }
  void* p = fresh(cls);
  if (!p) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use -= cls;
    UNRAVEL_CHECK(false, "{} allocator: out of memory allocating {} bytes ({} in use)", what(), cls,
                  stats_.in_use);
  }
  if (active_pool_) {
    std::lock_guard<std::mutex> lock(mu_);
    pool_block_[p] = active_pool_;
  }
  return p;
}

uint64_t CachingAllocator::begin_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  UNRAVEL_CHECK(active_pool_ == 0, "{} allocator: a private pool is already being recorded", what());
  active_pool_ = next_pool_++;
  pools_[active_pool_];
  return active_pool_;
}

void CachingAllocator::end_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  active_pool_ = 0;
}

void CachingAllocator::release_pool(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pools_.find(id);
  if (it == pools_.end()) return;
  for (auto& [cls, v] : it->second)
    for (void* p : v) {
      pool_block_.erase(p);
      free_[cls].push_back(p);
    }
  pools_.erase(it);
  if (active_pool_ == id) active_pool_ = 0;
  // Blocks still in use keep their pool_block_ entry; deallocate() finds the pool gone.
}

void CachingAllocator::deallocate(void* p, size_t nbytes) {
  if (!p) return;
  const size_t cls = allocator_size_class(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  FreeLists* lists = &free_;
  if (!pool_block_.empty()) {
    auto it = pool_block_.find(p);
    if (it != pool_block_.end()) {
      auto pool = pools_.find(it->second);
      if (pool != pools_.end()) lists = &pool->second;
      else pool_block_.erase(it);  // its graph is gone: the block is ordinary again
    }
  }
  (*lists)[cls].push_back(p);
  stats_.in_use -= cls;
  stats_.cached += cls;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [cls, v] : free_)
    for (void* p : v) release(p, cls);
  free_.clear();
  stats_.cached = 0;
}

namespace {

class CachingHostAllocator final : public CachingAllocator {
 public:
  ~CachingHostAllocator() override { empty_cache(); }

 protected:
  void* fresh(size_t bytes) override { return std::aligned_alloc(64, bytes); }
  void release(void* p, size_t) override { std::free(p); }
  const char* what() const override { return "host"; }
};

}  // namespace

Allocator& host_allocator() {
  // Leaked on purpose: tensors with static storage duration may be destroyed after main().
  static Allocator* a = new CachingHostAllocator();
  return *a;
}

}  // namespace unravel
