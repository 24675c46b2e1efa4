// Generator: the explicit source of randomness passed to every random op. It is a seed plus a
// counter offset; each draw of n numbers reserves counters [offset, offset + n) and advances
// offset by n. Saving (seed, offset) in a checkpoint resumes the exact same stream.
#pragma once
#include <cstdint>

#include "engine/backend.h"

namespace unravel {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  /// Reserves n counters and returns the state a kernel uses for them.
  PhiloxState reserve(uint64_t n) {
    PhiloxState s{seed_, offset_, base_};
    offset_ += n;
    return s;
  }
  /// For recorded work (engine/backend.h, RecordedWork): kernels add the device i64 at `base`
  /// to the offsets this generator hands out, read when they run (nullptr: plain offsets).
  void set_device_base(const int64_t* base) { base_ = base; }
  const int64_t* device_base() const { return base_; }
  /// One uniform double in [0, 1) (host side, advances by 1).
  double uniform();
  /// One standard normal (host side, advances by 1).
  double normal();
  /// Uniform integer in [0, n) (host side, advances by 1).
  uint64_t randint(uint64_t n);
  /// A child generator with an independent stream (for handing to a sub-component).
  Generator fork();

 private:
  uint64_t seed_;
  uint64_t offset_;
  const int64_t* base_ = nullptr;
};

}  // namespace unravel
