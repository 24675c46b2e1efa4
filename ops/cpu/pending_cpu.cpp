// TEMPORARY during bring-up: families not yet implemented. Each helper removes its entries.
#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"

namespace unravel {
void CpuBackend::gemm(bool, bool, double, const TensorView&, const TensorView&, double, const TensorView&) { UNRAVEL_CHECK(false, "gemm: pending"); }
void CpuBackend::gather(const TensorView&, int, const TensorView&, const TensorView&) { UNRAVEL_CHECK(false, "pending"); }
void CpuBackend::scatter_add(const TensorView&, int, const TensorView&, const TensorView&) { UNRAVEL_CHECK(false, "pending"); }
void CpuBackend::index_select(const TensorView&, int, const TensorView&, const TensorView&) { UNRAVEL_CHECK(false, "pending"); }
void CpuBackend::index_add(const TensorView&, int, const TensorView&, const TensorView&) { UNRAVEL_CHECK(false, "pending"); }
}  // namespace unravel
