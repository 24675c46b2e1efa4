// Compute precision of the matrix kernels — convolutions and GEMMs — under mixed precision:
// `fp32`, or `bf16` (inputs rounded to bfloat16, products accumulated and written in fp32; master
// weights, optimiser state, activations and every other op stay fp32). A thread-local mode set
// by a scope (PrecisionGuard, like NoGradGuard or torch.autocast): the TrainStep sets it from the
// run's --precision around the forward and backward passes; matmul, linear and the convolutions
// read it and pass it to the backend in the kernel's parameters. A backend that cannot compute in
// bf16 says so (Kernel::gemm_bf16 / conv2d_bf16 in supports(); ops refuse with a message).
#pragma once
#include <cstdint>
#include <string>

namespace unravel {

enum class Precision : uint8_t { fp32, bf16 };

/// "fp32" / "bf16".
const char* precision_name(Precision p);
/// Parses "fp32" or "bf16"; throws listing both for anything else.
Precision parse_precision(const std::string& s);

/// This thread's matrix-kernel precision (fp32 unless a PrecisionGuard says otherwise).
Precision matmul_precision();

/// RAII: sets this thread's matrix-kernel precision for its scope.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision prev_;
};

}  // namespace unravel
