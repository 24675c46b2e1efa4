// bfloat16: the upper 16 bits of an IEEE-754 binary32 (1 sign, 8 exponent, 7 mantissa bits), the
// storage type of mixed precision. float → bf16 rounds to nearest, ties to even (NaN stays a quiet
// NaN of the same sign); bf16 → float is exact. double converts through float (as PyTorch does),
// which can differ from a direct rounding in the last bf16 bit for values within 2^-24 relative
// of a tie.
#pragma once
#include <cstdint>
#include <cstring>

#include "engine/hd.h"

namespace unravel {

/// bf16 bits → float (exact).
UNRAVEL_HD float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// float → bf16 bits, round to nearest even.
UNRAVEL_HD uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace unravel
