#include "engine/allocator.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

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

namespace {

class CachingHostAllocator final : public Allocator {
 public:
  ~CachingHostAllocator() override { empty_cache(); }

  void* allocate(size_t nbytes) override {
    size_t cls = allocator_size_class(nbytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.requests;
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.cached -= cls;
        note_in_use(cls);
        return p;
      }
      ++stats_.os_allocs;
      note_in_use(cls);
    }
    void* p = std::aligned_alloc(64, cls);
    if (!p) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.in_use -= cls;
      UNRAVEL_CHECK(false, "host allocator: out of memory allocating {} bytes", cls);
    }
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    size_t cls = allocator_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    free_[cls].push_back(p);
    stats_.in_use -= cls;
    stats_.cached += cls;
  }

  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [cls, v] : free_)
      for (void* p : v) std::free(p);
    free_.clear();
    stats_.cached = 0;
  }

 private:
  void note_in_use(size_t cls) {
    stats_.in_use += cls;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
  }
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace

Allocator& host_allocator() {
  // Leaked on purpose: tensors with static storage duration may be destroyed after main().
  static Allocator* a = new CachingHostAllocator();
  return *a;
}

}  // namespace unravel
