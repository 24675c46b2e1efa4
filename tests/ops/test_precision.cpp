// Mixed-precision convolutions (engine/precision.h): under PrecisionGuard(bf16) an f32
// convolution with at least 8 input and output channels reads bf16-rounded operands and
// accumulates in f32 — its forward, backward-data and backward-weights each equal the f64
// convolution of the rounded operands to f32 accumulation error — while 1-channel layers and
// f64 convolutions keep their precision.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::max_abs_diff;

namespace {
Tensor rounded64(const Tensor& t) { return to(to(t, DType::bf16), DType::f64); }
double rel(const Tensor& a, const Tensor& b) {
  NoGradGuard ng;
  return max_abs_diff(a.detach(), b.detach()) / (max(abs(to(b.detach(), DType::f64))).item() + 1e-30);
}
}  // namespace

TEST_CASE("bf16 precision convolutions: forward and both gradients on bf16-rounded operands") {
  if (!backend(kCPU).supports(Kernel::conv2d_bf16)) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX (oneDNN), so bf16 is refused");
    return;
  }
  Generator g(3);
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  Tensor x = normal(Shape{4, 16, 12, 12}, g), w = normal(Shape{24, 16, 4, 4}, g, 0, 0.2);
  Tensor b = normal(Shape{24}, g), gy = normal(Shape{4, 24, 6, 6}, g);
  // f64 references on the rounded operands (the f64 convolution is the direct reference).
  Tensor x64 = rounded64(x).detach().set_requires_grad(true);
  Tensor w64 = rounded64(w).detach().set_requires_grad(true);
  Tensor y64 = conv2d(x64, w64, to(b, DType::f64), o);
  y64.backward(rounded64(gy));
  Tensor xb = x.detach().set_requires_grad(true), wb = w.detach().set_requires_grad(true);
  Tensor yb;
  {
    PrecisionGuard bf(Precision::bf16);
    yb = conv2d(xb, wb, b, o);
    yb.backward(gy);
  }
  CHECK(yb.dtype() == DType::f32);
  CHECK(rel(yb, y64) < 1e-5);
  CHECK(rel(xb.grad(), x64.grad()) < 1e-5);
  CHECK(rel(wb.grad(), w64.grad()) < 1e-5);
  // ... and they differ from the f32 convolution by the rounding (so bf16 really ran).
  Tensor y32 = conv2d(x, w, b, o);
  CHECK(rel(yb, y32) > 1e-6);
  CHECK(rel(yb, y32) < 0.05);
  // A 1-channel convolution stays f32 under bf16 (the per-geometry rule); f64 stays f64.
  Tensor x1 = normal(Shape{2, 1, 8, 8}, g), w1 = normal(Shape{8, 1, 4, 4}, g);
  Tensor ref1 = conv2d(x1, w1, Tensor(), o);
  PrecisionGuard bf(Precision::bf16);
  CHECK(max_abs_diff(conv2d(x1, w1, Tensor(), o), ref1) == 0.0);
  Tensor x2 = testing::rand64(Shape{2, 8, 6, 6}, 1), w2 = testing::rand64(Shape{8, 8, 3, 3}, 2);
  Tensor r64 = conv2d(x2, w2, Tensor(), Conv2dOptions{});
  CHECK(r64.dtype() == DType::f64);
}

TEST_CASE("bf16 precision on CUDA: convolutions and products read bf16-rounded operands") {
  // The same semantics as the CPU's (ops/cuda/gemm.cu, conv.cu): every pass multiplies the
  // bf16-rounded operands and accumulates in f32, so each equals the f64 computation on the
  // rounded operands to f32 accumulation error, and differs from the f32 one by the rounding.
  // Unlike the CPU, CUDA has no small-shape rule: a 1-channel convolution runs in bf16 too.
  if (!backend_compiled(DeviceKind::cuda)) {
    MESSAGE("skipped: this build has no CUDA backend");
    return;
  }
  const Device cuda = cuda_device(0);
  try {
    backend(cuda);
  } catch (const std::exception& e) {
    MESSAGE("skipped: " << std::string(e.what()));
    return;
  }
  REQUIRE(backend(cuda).supports(Kernel::conv2d_bf16));
  REQUIRE(backend(cuda).supports(Kernel::gemm_bf16));
  Generator g(5);
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  for (int64_t c : {16, 1}) {
    CAPTURE(c);
    Tensor x = normal(Shape{4, c, 12, 12}, g), w = normal(Shape{24, c, 4, 4}, g, 0, 0.2);
    Tensor b = normal(Shape{24}, g), gy = normal(Shape{4, 24, 6, 6}, g);
    Tensor x64 = rounded64(x).detach().set_requires_grad(true);
    Tensor w64 = rounded64(w).detach().set_requires_grad(true);
    Tensor b64 = to(b, DType::f64).detach().set_requires_grad(true);
    conv2d(x64, w64, b64, o).backward(rounded64(gy));
    Tensor y64 = conv2d(x64.detach(), w64.detach(), b64.detach(), o);
    Tensor xc = to(x, cuda).detach().set_requires_grad(true);
    Tensor wc = to(w, cuda).detach().set_requires_grad(true);
    Tensor bc = to(b, cuda).detach().set_requires_grad(true);
    Tensor yc;
    {
      PrecisionGuard bf(Precision::bf16);
      yc = conv2d(xc, wc, bc, o);
      yc.backward(to(gy, cuda));
    }
    CHECK(yc.dtype() == DType::f32);
    CHECK(rel(yc, y64) < 1e-5);
    CHECK(rel(xc.grad(), x64.grad()) < 1e-5);
    CHECK(rel(wc.grad(), w64.grad()) < 1e-5);
    CHECK(rel(bc.grad(), b64.grad()) < 1e-5);
    const double d32 = rel(yc, to(conv2d(x, w, b, o), cuda));
    CHECK(d32 > 1e-6);
    CHECK(d32 < 0.05);
  }
  // Products: a batched matmul with a broadcast operand and a transposed one.
  Tensor a = normal(Shape{3, 64, 96}, g), bm = normal(Shape{128, 96}, g);
  Tensor ref = matmul(rounded64(a), transpose(rounded64(bm), 0, 1));
  Tensor got;
  {
    PrecisionGuard bf(Precision::bf16);
    got = matmul(to(a, cuda), transpose(to(bm, cuda), 0, 1));
  }
  CHECK(got.dtype() == DType::f32);
  CHECK(rel(got, ref) < 1e-5);
  CHECK(rel(got, to(matmul(a, transpose(bm, 0, 1)), cuda)) > 1e-6);
}
