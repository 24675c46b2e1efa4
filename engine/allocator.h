// Memory allocators. The host allocator caches freed blocks by size class and never returns
// them to the OS during training: on this project's machines a freshly touched 4 KiB page costs
// ~12 µs, so a framework that frees and re-allocates every step pays that every step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace unravel {

/// What an allocator holds, in bytes.
struct AllocatorStats {
  size_t in_use = 0;       ///< handed out and not yet returned
  size_t cached = 0;       ///< returned and kept for reuse
  size_t peak_in_use = 0;  ///< highest in_use seen
  uint64_t os_allocs = 0;  ///< allocations that reached the OS (cache misses)
  uint64_t requests = 0;   ///< all allocation requests
};

/// Interface of a device memory allocator.
class Allocator {
 public:
  virtual ~Allocator() = default;
  /// Returns at least `nbytes` bytes, 64-byte aligned. Never returns null (throws instead).
  virtual void* allocate(size_t nbytes) = 0;
  /// Returns a block obtained from allocate(nbytes) with the same nbytes.
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  /// Gives every cached (unused) block back to the OS.
  virtual void empty_cache() = 0;
};

/// A caching allocator by size class over a source of fresh blocks: freed blocks are kept per
/// size class and handed out again; fresh() is asked only on a miss. The host allocator and the
/// sim device's arena are the two sources.
class CachingAllocator : public Allocator {
 public:
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  AllocatorStats stats() const override;
  /// Gives every cached block back through release().
  void empty_cache() override;

  // --- private pools: the memory of a recorded graph (Backend::capture_begin) ---------------
  /// Makes a new pool current: until end_pool(), every allocation comes from it, and every
  /// block allocated from it returns to it when freed (now or later, while the pool lives), so
  /// memory a recorded graph's kernels use is never handed to anything else. Returns its id.
  uint64_t begin_pool();
  /// Stops allocating from the current pool (its blocks stay reserved).
  void end_pool();
  /// The graph is gone: the pool's free blocks return to the shared cache, and so will its
  /// blocks still in use, when they are freed.
  void release_pool(uint64_t id);

 protected:
  /// A new block of exactly `bytes` (a size class), 64-byte aligned; nullptr when out of memory.
  virtual void* fresh(size_t bytes) = 0;
  /// Returns a block that fresh() made.
  virtual void release(void* p, size_t bytes) = 0;
  /// Names the memory in errors ("host", "sim device").
  virtual const char* what() const = 0;

 private:
  using FreeLists = std::unordered_map<size_t, std::vector<void*>>;
  mutable std::mutex mu_;
  FreeLists free_;
  AllocatorStats stats_;
  uint64_t active_pool_ = 0, next_pool_ = 1;
  std::unordered_map<uint64_t, FreeLists> pools_;      // live pools' free blocks
  std::unordered_map<void*, uint64_t> pool_block_;     // every block that belongs to a pool
};

/// The process-wide caching host allocator.
Allocator& host_allocator();

/// Rounds a request to its size class (exposed for tests).
size_t allocator_size_class(size_t nbytes);

}  // namespace unravel
