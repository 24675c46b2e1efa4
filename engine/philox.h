// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
// counter-based generator behind every random op. Element i of a random fill takes the block
// philox(key = seed, counter = offset + i), so the numbers depend only on (seed, offset, i):
// every backend and every thread count produce the same stream. Header-only and UNRAVEL_HD so
// the CUDA kernels use this very code.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/hd.h"

namespace unravel::philox {

struct Block {
  uint32_t v[4];
};

UNRAVEL_HD Block block(uint64_t seed, uint64_t counter) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
    uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return Block{{c0, c1, c2, c3}};
}

/// Uniform double in [0, 1) with 53 random bits from two words.
UNRAVEL_HD double to_unit(uint32_t hi, uint32_t lo) {
  uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);  // 53 bits
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/// Uniform in [0, 1) for element `i`.
UNRAVEL_HD double uniform(uint64_t seed, uint64_t counter) {
  Block b = block(seed, counter);
  return to_unit(b.v[0], b.v[1]);
}

/// Standard normal for element `i` (Box-Muller on the block's two 53-bit uniforms).
UNRAVEL_HD double normal(uint64_t seed, uint64_t counter) {
  Block b = block(seed, counter);
  double u1 = 1.0 - to_unit(b.v[0], b.v[1]);  // (0, 1]
  double u2 = to_unit(b.v[2], b.v[3]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/// a + (b − a)·u and mean + stddev·n as single fused multiply-adds, so every backend and
/// compiler (contracting or not) produces the same bits from the same uniform / normal.
UNRAVEL_HD double affine(double a, double scale, double v) {
  using std::fma;
  return fma(scale, v, a);
}

/// 64 random bits for element `i` (permutation keys).
UNRAVEL_HD uint64_t bits64(uint64_t seed, uint64_t counter) {
  Block b = block(seed, counter);
  return (static_cast<uint64_t>(b.v[0]) << 32) | b.v[1];
}

}  // namespace unravel::philox
