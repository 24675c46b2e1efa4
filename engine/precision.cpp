#include "engine/precision.h"

#include "engine/check.h"

namespace unravel {

namespace {
thread_local Precision g_precision = Precision::fp32;
}

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  UNRAVEL_CHECK(false, "unknown precision '{}' (valid: fp32, bf16)", s);
  return Precision::fp32;
}

Precision matmul_precision() { return g_precision; }

PrecisionGuard::PrecisionGuard(Precision p) : prev_(g_precision) { g_precision = p; }
PrecisionGuard::~PrecisionGuard() { g_precision = prev_; }

}  // namespace unravel
