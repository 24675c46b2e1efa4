// The CUDA fused pairwise IMQ kernel sums (ops/cuda/imq_body.h) run on the CPU through
// emulate_launch, under the launch plans the CUDA backend uses (ops/cuda/kernel_sums.cu), and
// compared with the CPU backend's kernel (ops/cpu/kernel_sums_cpu.cpp) and, in f64, with the sum
// written out pair by pair: both modes, f32 and f64, one row, odd sizes, a transposed (strided)
// operand, a and b the same tensor, and more rows than the grid has blocks. Host compiler
// only, like tests/engine/test_cuda_emulated.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "ops/cuda/imq_body.h"
#include "ops/cuda/launch_ctx.h"
#include "ops/ops.h"

using namespace unravel;
namespace cu = unravel::cuda;
using cu::HostCtx;

namespace {

/// What CudaBackend::pairwise_imq does, with emulate_launch for <<<>>>.
template <class T>
void emulated_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                  const std::vector<double>& c, T* y, T* ga, T* gb, int64_t max_blocks,
                  unsigned threads) {
  const cu::ImqScales cs = cu::imq_scales(c);
  const bool full = mode == ImqMode::full;
  const cu::ImqOperand<T> ao{a.ptr<T>(), a.shape[0], a.strides[0], a.strides[1]};
  const cu::ImqOperand<T> bo{b.ptr<T>(), b.shape[0], b.strides[0], b.strides[1]};
  const int64_t dim = a.shape[1];
  std::vector<double> rows(static_cast<size_t>(ao.rows), std::nan(""));
  cu::emulate_launch(cu::imq_rows_dims(ao.rows, max_blocks, threads), [&](HostCtx& ctx) {
    cu::imq_rows_body<T>(ctx, ao, bo, dim, full, cs, rows.data(), ga);
  });
  if (gb)
    cu::emulate_launch(cu::imq_rows_dims(bo.rows, max_blocks, threads), [&](HostCtx& ctx) {
      cu::imq_rows_body<T>(ctx, bo, ao, dim, full, cs, nullptr, gb);
    });
  cu::emulate_launch(cu::imq_total_dims(threads), [&](HostCtx& ctx) {
    cu::imq_total_body<T>(ctx, rows.data(), ao.rows, y);
  });
}

/// Σ_{i,j} of the kernel, pair by pair in long double (the definition, for f64 inputs).
long double direct_sum(ImqMode mode, const Tensor& a, const Tensor& b, const std::vector<double>& c) {
  const Tensor ac = contiguous(to(a, DType::f64)), bc = contiguous(to(b, DType::f64));
  const double* ap = ac.data<double>();
  const double* bp = bc.data<double>();
  const int64_t ba = a.size(0), bb = b.size(0), dim = a.size(1);
  auto k = [&](long double rho) {
    long double s = 0;
    for (double cs : c) s += cs / (cs + rho);
    return s;
  };
  long double y = 0;
  for (int64_t i = 0; i < ba; ++i)
    for (int64_t j = 0; j < bb; ++j) {
      long double rho = 0;
      for (int64_t d = 0; d < dim; ++d) {
        const long double dl = static_cast<long double>(ap[i * dim + d]) - bp[j * dim + d];
        if (mode == ImqMode::full) rho += dl * dl;
        else y += k(dl * dl);
      }
      if (mode == ImqMode::full) y += k(rho);
    }
  return y;
}

/// One case: the emulated GPU kernel against the CPU backend's (value and both gradients).
void check_case(ImqMode mode, DType dtype, int64_t ba, int64_t bb, int64_t dim, bool transposed,
                bool same, uint64_t seed, unsigned threads = 16, int64_t max_blocks = 65535) {
  CAPTURE(ba);
  CAPTURE(bb);
  CAPTURE(dim);
  CAPTURE(transposed);
  CAPTURE(same);
  CAPTURE(mode == ImqMode::full);
  CAPTURE(dtype_name(dtype));
  Generator g(seed);
  // a as a transposed view of a (D, Ba) tensor when asked: strides (1, Ba).
  Tensor a = transposed ? transpose(normal(Shape{dim, ba}, g, 0.0, 1.0, dtype), 0, 1)
                        : normal(Shape{ba, dim}, g, 0.0, 1.0, dtype);
  Tensor b = same ? a : normal(Shape{bb, dim}, g, 0.0, 1.5, dtype);
  if (same) bb = ba;
  const std::vector<double> c = {0.2, 1.0, 5.0};
  Tensor y_cpu = Tensor::empty(Shape{}, dtype, kCPU);
  Tensor ga_cpu = Tensor::empty(Shape{ba, dim}, dtype, kCPU);
  Tensor gb_cpu = Tensor::empty(Shape{bb, dim}, dtype, kCPU);
  backend(kCPU).pairwise_imq(mode, a.view(), b.view(), c, y_cpu.view(), ga_cpu.view(), gb_cpu.view());
  Tensor y = Tensor::empty(Shape{}, dtype, kCPU);
  Tensor ga = Tensor::empty(Shape{ba, dim}, dtype, kCPU);
  Tensor gb = Tensor::empty(Shape{bb, dim}, dtype, kCPU);
  const double rtol = dtype == DType::f32 ? 2e-5 : 1e-12;
  auto close = [&](const Tensor& got, const Tensor& want, const char* what) {
    const Tensor gd = to(got, DType::f64), wd = to(want, DType::f64);
    const double* gp = gd.data<double>();
    const double* wp = wd.data<double>();
    double scale = 0;
    for (int64_t i = 0; i < gd.numel(); ++i) scale = std::max(scale, std::abs(wp[i]));
    for (int64_t i = 0; i < gd.numel(); ++i) {
      INFO(std::string(what), "[", i, "] = ", gp[i], ", CPU ", wp[i]);
      REQUIRE(std::abs(gp[i] - wp[i]) <= rtol * std::max(scale, 1.0));
    }
  };
  if (dtype == DType::f32) {
    emulated_imq<float>(mode, a.view(), b.view(), c, y.data<float>(), ga.data<float>(),
                        gb.data<float>(), max_blocks, threads);
  } else {
    emulated_imq<double>(mode, a.view(), b.view(), c, y.data<double>(), ga.data<double>(),
                         gb.data<double>(), max_blocks, threads);
    const long double want = direct_sum(mode, a, b, c);
    CHECK(std::abs(static_cast<long double>(y.item()) - want) <= 1e-12L * std::abs(want));
  }
  close(y, y_cpu, "y");
  close(ga, ga_cpu, "da");
  close(gb, gb_cpu, "db");
}

}  // namespace

TEST_CASE("cuda emulated: fused IMQ kernel sums equal the CPU kernel (value and gradients)") {
  // Blocks of 16 threads (the bodies take any power of two; the emulation's cost is its
  // barriers), then the backend's own plan of 128 threads on small shapes.
  uint64_t seed = 1;
  for (ImqMode mode : {ImqMode::per_dim, ImqMode::full})
    for (DType dtype : {DType::f32, DType::f64}) {
      check_case(mode, dtype, 1, 1, 1, false, false, seed++);
      check_case(mode, dtype, 5, 7, 3, false, false, seed++);
      check_case(mode, dtype, 24, 40, 10, false, false, seed++);
      check_case(mode, dtype, 13, 70, 4, true, false, seed++);   // strided a, Bb > threads
      check_case(mode, dtype, 30, 3, 2, false, false, seed++);
      check_case(mode, dtype, 17, 17, 6, false, true, seed++);   // a and b the same tensor
    }
  for (ImqMode mode : {ImqMode::per_dim, ImqMode::full}) {
    check_case(mode, DType::f64, 3, 200, 2, false, false, seed++, cu::kImqThreads);
    check_case(mode, DType::f32, 4, 4, 3, false, true, seed++, cu::kImqThreads);
  }
}

TEST_CASE("cuda emulated: fused IMQ kernel sums grid-stride when rows outnumber blocks") {
  // The grid is capped (65 535 blocks on the GPU; 7 here, to keep the emulation short): block k
  // takes rows k, k + 7, ….
  check_case(ImqMode::per_dim, DType::f64, 50, 9, 3, false, false, 99, 16, 7);
  check_case(ImqMode::full, DType::f32, 23, 20, 2, false, true, 100, 16, 7);
}

TEST_CASE("cuda emulated: the IMQ launch refuses more kernel scales than it carries") {
  CHECK_THROWS_WITH_AS(cu::imq_scales(std::vector<double>(cu::kImqMaxScales + 1, 1.0)),
                       doctest::Contains("takes 1 to 32 kernel scales, got 33"), Error);
}
