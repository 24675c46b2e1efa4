#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "engine/allocator.h"
#include "engine/bf16.h"
#include "engine/philox.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

TEST_CASE("tensor construction, metadata and data access") {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.strides() == Strides{3, 1});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.device() == kCPU);
  CHECK(t.is_contiguous());
  CHECK(t.desc() == "f32[2, 3]");
  CHECK(t.data<float>()[4] == 5.0f);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("tensor is f32[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(Tensor::from_vector<float>({1, 2}, Shape{3}),
                       doctest::Contains("2 values given for shape [3]"), Error);
  for (DType d : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8}) {
    Tensor z = Tensor::full(Shape{4}, 3.0, d);
    CHECK(z.dtype() == d);
    CHECK(z.to_vector<double>() == std::vector<double>{3, 3, 3, 3});
  }
}

TEST_CASE("a tensor with no elements is contiguous whatever its extents (found by fuzz_npy)") {
  for (const Shape& s : {Shape{0}, Shape{4, 0, 2}, Shape{4, 1, 0, 1, 1, 2}, Shape{3, 0}}) {
    CAPTURE(s.str());
    Tensor t = Tensor::empty(s, DType::i32, kCPU);
    CHECK(t.numel() == 0);
    CHECK(t.is_contiguous());
  }
}

TEST_CASE("views share storage without copies") {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Shape{3, 4});
  Tensor r = reshape(t, Shape{4, 3});
  CHECK(r.storage() == t.storage());
  Tensor p = transpose(t, 0, 1);
  CHECK(p.storage() == t.storage());
  CHECK(p.strides() == Strides{1, 4});
  CHECK_FALSE(p.is_contiguous());
  CHECK(p.to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  Tensor s = slice(t, 1, 1, 3);
  CHECK(s.storage() == t.storage());
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10});
  Tensor e = expand(slice(t, 0, 0, 1), Shape{3, 4});
  CHECK(e.strides() == Strides{0, 1});
  CHECK(e.to_vector<float>()[8] == 0.0f);
  Tensor q = squeeze(unsqueeze(t, 1), 1);
  CHECK(q.shape() == Shape{3, 4});
  CHECK(q.storage() == t.storage());
  // reshape of a transposed view cannot be a view: it copies.
  Tensor rc = reshape(p, Shape{12});
  CHECK(rc.storage() != t.storage());
  CHECK(rc.to_vector<float>()[1] == 4.0f);
  // slicing with a step, and negative bounds
  Tensor st = slice(t, 1, 0, -1, 2);
  CHECK(st.to_vector<float>() == std::vector<float>{0, 2, 4, 6, 8, 10});
}

TEST_CASE("caching host allocator reuses blocks instead of returning them to the OS") {
  Allocator& a = host_allocator();
  { Tensor warm = Tensor::empty(Shape{1 << 20}); }
  AllocatorStats before = a.stats();
  for (int i = 0; i < 50; ++i) {
    Tensor big = Tensor::empty(Shape{1 << 20});
    CHECK(reinterpret_cast<uintptr_t>(big.raw_data()) % 64 == 0);
  }
  AllocatorStats after = a.stats();
  CHECK(after.os_allocs == before.os_allocs);
  CHECK(after.requests == before.requests + 50);
  CHECK(allocator_size_class(1) == 64);
  CHECK(allocator_size_class(4097) == 8192);
  CHECK(allocator_size_class((1 << 20) + 1) >= (1 << 20) + 1);
  CHECK(allocator_size_class((1 << 20) + 1) <= (1 << 20) + (1 << 17));
}

TEST_CASE("device parsing and a clear error for CUDA in a CPU-only build") {
  CHECK(Device::parse("cpu") == kCPU);
  CHECK(Device::parse("cuda:1") == cuda_device(1));
  CHECK_THROWS_WITH_AS(Device::parse("tpu"), doctest::Contains("unknown device 'tpu'"), Error);
  if (!backend_compiled(DeviceKind::cuda))
    CHECK_THROWS_WITH_AS(Tensor::zeros(Shape{2}, DType::f32, cuda_device(0)),
                         doctest::Contains("has no CUDA backend"), Error);
}

TEST_CASE("Philox generator: known answer, reproducible, offset-addressable, distributed") {
  // Random123's known-answer vector for Philox4x32-10 with zero counter and key.
  philox::Block kat = philox::block(0, 0);
  CHECK(kat.v[0] == 0x6627e8d5u);
  CHECK(kat.v[1] == 0xe169c58du);
  CHECK(kat.v[2] == 0xbc57ac4cu);
  CHECK(kat.v[3] == 0x9b00dbd8u);

  Generator g1(42), g2(42), g3(42);
  Tensor a = normal(Shape{4000}, g1, 0, 1, DType::f64);
  Tensor b = normal(Shape{4000}, g2, 0, 1, DType::f64);
  CHECK(testing::max_abs_diff(a, b) == 0.0);
  CHECK(g1.offset() == 4000);
  // Two draws of 2000 equal one draw of 4000: numbers depend only on (seed, offset, index).
  Tensor c1 = normal(Shape{2000}, g3, 0, 1, DType::f64);
  Tensor c2 = normal(Shape{2000}, g3, 0, 1, DType::f64);
  CHECK(testing::max_abs_diff(concat({c1, c2}, 0), a) == 0.0);
  // f32 draws are the rounded f64 draws.
  Generator g4(42);
  Tensor f = normal(Shape{4000}, g4, 0, 1, DType::f32);
  CHECK(testing::max_abs_diff(to(f, DType::f64), a) < 1e-6);
  // Moments: mean 0 +- 4 sigma/sqrt(n), variance 1 +- 0.1.
  double m = mean(a).item();
  double v = var(a).item();
  CHECK(std::fabs(m) < 4.0 / std::sqrt(4000.0));
  CHECK(std::fabs(v - 1.0) < 0.1);
  Generator g5(7);
  Tensor u = uniform(Shape{10000}, g5, 2.0, 3.0, DType::f64);
  CHECK(min(u).item() >= 2.0);
  CHECK(max(u).item() < 3.0);
  CHECK(std::fabs(mean(u).item() - 2.5) < 0.02);
  Tensor bern = bernoulli(Shape{10000}, 0.3, g5);
  CHECK(std::fabs(mean(bern).item() - 0.3) < 0.03);
  // A different seed gives different numbers.
  Generator g6(43);
  CHECK(testing::max_abs_diff(normal(Shape{4000}, g6, 0, 1, DType::f64), a) > 0.5);
}

TEST_CASE("permutation is a seeded permutation") {
  Generator g(3), h(3);
  auto p = permutation(1000, g).to_vector<int64_t>();
  auto q = permutation(1000, h).to_vector<int64_t>();
  CHECK(p == q);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) CHECK(sorted[i] == i);
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += p[i] == i;
  CHECK(fixed < 10);
}

TEST_CASE("CPU kernels flush subnormals to zero on every thread (FTZ + DAZ), new threads included") {
  // Big enough for the elementwise loop to use every OpenMP thread (ops/cpu/parallel.h).
  const int64_t n = int64_t{1} << 20;
  auto check = [n] {
    Tensor x = Tensor::full({n}, -100.0, DType::f32);  // exp(-100) ≈ 3.7e-44 is subnormal in f32
    std::vector<float> y = exp(x).to_vector<float>();
    int64_t nonzero = 0;
    for (float v : y) nonzero += v != 0.0f;
    CHECK(nonzero == 0);
    // A subnormal operand reads as zero: x * 2^100 would be normal if x were kept.
    Tensor d = Tensor::from_vector<float>(
        std::vector<float>(static_cast<size_t>(n), std::numeric_limits<float>::denorm_min()), {n});
    REQUIRE(d.to_vector<float>()[0] == std::numeric_limits<float>::denorm_min());  // bits kept
    std::vector<float> z = mul(d, Tensor::full({n}, std::ldexp(1.0, 100), DType::f32)).to_vector<float>();
    int64_t kept = 0;
    for (float v : z) kept += v != 0.0f;
    CHECK(kept == 0);
  };
  check();
  std::thread other(check);  // a thread of the caller's own
  other.join();
}

TEST_CASE("bf16: float to bf16 rounds to nearest even, keeps NaN a NaN, overflows to infinity") {
  auto bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  };
  struct Case {
    uint32_t f32;
    uint16_t bf16;
    const char* what;
  };
  const Case cases[] = {
      {0x3F800000u, 0x3F80, "1 (exact)"},
      {0x3F808000u, 0x3F80, "a tie above an even bf16: down"},
      {0x3F818000u, 0x3F82, "a tie above an odd bf16: up"},
      {0x3F808001u, 0x3F81, "just above a tie: up"},
      {0x3F807FFFu, 0x3F80, "just below a tie: down"},
      {0xBF808000u, 0xBF80, "a negative tie: toward the even, not away from zero"},
      {0x7F7FFFFFu, 0x7F80, "the largest float rounds to infinity"},
      {0x7F800000u, 0x7F80, "infinity"},
      {0x7F800001u, 0x7FC0, "a NaN with its payload in the low half: a quiet NaN, not infinity"},
      {0xFFC00000u, 0xFFC0, "a negative quiet NaN"},
      {0x00000001u, 0x0000, "the smallest subnormal"},
  };
  std::vector<float> in;
  for (const Case& c : cases) {
    CAPTURE(c.what);
    CHECK(float_to_bf16(bits(c.f32)) == c.bf16);
    in.push_back(bits(c.f32));
  }
  // The CPU backend's copy into a bf16 tensor gives the same bits.
  Tensor b = to(Tensor::from_vector(in, Shape{static_cast<int64_t>(in.size())}), DType::bf16);
  const auto* p = static_cast<const uint16_t*>(b.raw_data());
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(cases[i].what);
    CHECK(p[i] == cases[i].bf16);
  }
}
