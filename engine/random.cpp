#include "engine/random.h"

#include <cmath>

#include "engine/check.h"
#include "engine/philox.h"

namespace unravel {

double Generator::uniform() { return philox::uniform(seed_, offset_++); }
double Generator::normal() { return philox::normal(seed_, offset_++); }
uint64_t Generator::randint(uint64_t n) {
  UNRAVEL_CHECK(n > 0, "randint: n must be positive");
  // 64 random bits; the modulo bias is below 2^-40 for any n < 2^24 and negligible beyond.
  return philox::bits64(seed_, offset_++) % n;
}
Generator Generator::fork() {
  // SplitMix64 of (seed, a fresh counter) gives the child's key.
  uint64_t z = philox::bits64(seed_, offset_++) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return Generator(z ^ (z >> 31), 0);
}

}  // namespace unravel
