// The CUDA kernels' own logic, tested where there is no GPU (CI): the per-thread bodies of
// ops/cuda/*_body.h (index arithmetic, broadcasting, strided access, the reduction trees, Philox,
// the sort-based scatters' keys and runs, the optimiser updates) run here through emulate_launch
// (ops/cuda/launch_ctx.h), which executes a launch grid on the CPU with real concurrent threads
// per block, shared memory and block barriers, under the very launch plans the CUDA backend
// picks (the host-side functions of the same headers). Every result is compared with the CPU
// backend's. This file is built by the host compiler alone: no nvcc, no CUDA headers.
//
// What stays GPU-only: the CUB radix sorts (the scatters and permutations sort here with
// std::stable_sort, the order CUB's stable sort gives), cuBLAS, cuDNN, the device's libm (normal's
// log and cos) and nvcc's FMA contraction.
#include <doctest/doctest.h>

#include "tests/engine/cuda_emulated.h"

using namespace unravel;
using namespace unravel::emulated;

// --- the emulator itself ---------------------------------------------------------------------------

TEST_CASE("emulate_launch: every (block, thread) once, per-block shared memory, barriers") {
  // Indices: a 2-D grid of 1-D blocks covers each (x, y, thread) exactly once.
  const cu::Dim3 grid{5, 3}, block{64};
  std::vector<std::atomic<int>> seen(5 * 3 * 64);
  cu::emulate_launch(grid, block, 0, [&](HostCtx& c) {
    CHECK(c.block_dim_x() == 64u);
    CHECK(c.grid_dim_x() == 5u);
    seen[(c.block_idx_y() * 5 + c.block_idx_x()) * 64 + c.thread_idx_x()]++;
  });
  int once = 0;
  for (auto& s : seen) once += s.load() == 1;
  CHECK(once == 5 * 3 * 64);

  // Shared memory: one buffer per block, uninitialised (0xFF) when a block starts; a rotation
  // through it is right only if sync() orders the writes before the reads.
  const unsigned threads = 128, blocks = 4;
  std::vector<int> out(threads * blocks), fresh(threads * blocks);
  cu::emulate_launch(cu::Dim3{blocks}, cu::Dim3{threads}, threads * sizeof(int), [&](HostCtx& c) {
    int* s = c.shared<int>();
    const unsigned t = c.thread_idx_x(), b = c.block_idx_x();
    fresh[b * threads + t] = s[t];  // before anyone of this block wrote
    c.sync();
    s[t] = static_cast<int>(b * 1000 + t);
    c.sync();
    out[b * threads + t] = s[(t + 1) % threads];
  });
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t) {
      CHECK(out[b * threads + t] == static_cast<int>(b * 1000 + (t + 1) % threads));
      CHECK(fresh[b * threads + t] == -1);
    }

  // CUDA's launch limits are refused.
  auto noop = [](HostCtx&) {};
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1}, cu::Dim3{1025}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1, 65536}, cu::Dim3{32}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{0}, cu::Dim3{32}, 0, noop));
  CHECK_THROWS(cu::emulate_launch(cu::Dim3{1}, cu::Dim3{32}, 48 * 1024 + 1, noop));
}

// --- elementwise -----------------------------------------------------------------------------------

TEST_CASE("emulated CUDA unary: every op, dense / strided / broadcast / strided output") {
  struct Layout {
    const char* name;
    Shape xshape;
    Lay xlay, ylay;
  };
  const Shape shape{20, 17};  // 340 elements: two blocks of 256
  const Layout layouts[] = {{"dense", shape, Lay::dense, Lay::dense},
                            {"transposed x", shape, Lay::transposed, Lay::dense},
                            {"broadcast x", Shape{1, 17}, Lay::dense, Lay::dense},
                            {"sliced x, transposed y", shape, Lay::sliced, Lay::transposed}};
  int n_ops = 0;
  for (int o = 0; o < kNumUnaryOps; ++o) {
    const UnaryOp op = static_cast<UnaryOp>(o);
    bool ints = false;
    fn::visit_unary(op, [&](auto f) { ints = decltype(f)::kInt; });
    std::vector<DType> dts = {DType::f32, DType::f64};
    if (ints) dts.insert(dts.end(), {DType::i32, DType::i64, DType::u8});
    // float32 exp / log1p / softplus / sigmoid run the CPU's own vector kernels (vec_math.h).
    const bool vec = op == UnaryOp::exp || op == UnaryOp::log1p || op == UnaryOp::softplus ||
                     op == UnaryOp::sigmoid;
    for (DType dt : dts) {
      for (const Layout& l : layouts) {
        if (is_floating(dt) || l.xlay == Lay::dense) {  // integers: two layouts are enough
          const double lo = dt == DType::u8 ? 0 : -3, hi = dt == DType::u8 ? 9 : 3;
          const Tensor x = expand(make(l.xshape, dt, l.xlay, 11 + o, lo, hi), shape);
          Tensor y = make_out(shape, dt, l.ylay), want = make_out(shape, dt, l.ylay);
          emu::unary(op, x.view(), y.view(), 0.25);
          cpu().unary(op, x.view(), want.view(), 0.25);
          const double tol = vec && dt == DType::f32 ? 1e-6 : ulps(dt);
          same(y, want, std::string(fn::unary_name(op)) + " " + dn(dt) + " " + l.name, tol, tol);
        }
      }
    }
    ++n_ops;
  }
  CHECK(n_ops == kNumUnaryOps);

  // The grid-stride loop (only the largest tensors reach it under the backend's plan): run the
  // body on 3 blocks of 64 threads for 5000 elements.
  const Tensor x = make({50, 100}, DType::f64, Lay::transposed, 3);
  Tensor y = Tensor::zeros({50, 100}, DType::f64), want = Tensor::zeros({50, 100}, DType::f64);
  const cu::LaunchDims small{cu::Dim3{3}, cu::Dim3{64}, 0};
  emu::unary(UnaryOp::tanh, x.view(), y.view(), 0, &small);
  cpu().unary(UnaryOp::tanh, x.view(), want.view(), 0);
  same(y, want, "tanh on a 3-block grid", ulps(DType::f64), ulps(DType::f64));
}

TEST_CASE("emulated CUDA binary and where: every op, broadcasting both sides, strided operands") {
  const Shape shape{12, 30};  // 360 elements
  struct Layout {
    const char* name;
    Shape ashape, bshape;
    Lay alay, blay, ylay;
  };
  const Layout layouts[] = {
      {"dense", shape, shape, Lay::dense, Lay::dense, Lay::dense},
      {"broadcast a and b", Shape{12, 1}, Shape{1, 30}, Lay::dense, Lay::dense, Lay::dense},
      {"transposed a, sliced b, transposed y", shape, shape, Lay::transposed, Lay::sliced,
       Lay::transposed}};
  for (int o = 0; o < kNumBinaryOps; ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    bool ints = false, cmp = false;
    fn::visit_binary(op, [&](auto f) {
      ints = decltype(f)::kInt;
      cmp = decltype(f)::kCompare;
    });
    std::vector<DType> dts = {DType::f32, DType::f64};
    if (ints) dts.insert(dts.end(), {DType::i32, DType::u8});
    const bool vec = op == BinaryOp::softplus_grad;  // f32: the CPU's vector kernel
    for (DType dt : dts) {
      for (const Layout& l : layouts) {
        if (!is_floating(dt) && l.alay != Lay::dense) continue;
        // Integers: b in [1, 9] (no division by zero).
        const double alo = dt == DType::u8 ? 0 : -3, blo = is_floating(dt) ? -3 : 1;
        // Broadcast operands are expanded views (0 strides), as the ops hand them over.
        const Tensor a = expand(make(l.ashape, dt, l.alay, 100 + o, alo, 9), shape);
        Tensor b = expand(make(l.bshape, dt, l.blay, 200 + o, blo, 9), shape);
        if (cmp && is_floating(dt) && l.ashape == l.bshape) {  // equal pairs for eq / le / ge
          Tensor bd = contiguous(b);
          copy_(slice(bd, 0, 0, 4), slice(a, 0, 0, 4));
          b = bd;
        }
        const DType ydt = cmp ? DType::u8 : dt;
        Tensor y = make_out(shape, ydt, l.ylay), want = make_out(shape, ydt, l.ylay);
        emu::binary(op, a.view(), b.view(), y.view(), 0.5);
        cpu().binary(op, a.view(), b.view(), want.view(), 0.5);
        const double tol = cmp ? 0 : (vec && dt == DType::f32 ? 1e-6 : ulps(dt));
        same(y, want, std::string(fn::binary_name(op)) + " " + dn(dt) + " " + l.name, tol, tol);
      }
    }
  }
  for (DType dt : {DType::f32, DType::i64}) {
    const Tensor cond = expand(to(make({1, 30}, DType::f64, Lay::dense, 5, 0, 2), DType::u8), shape);
    const Tensor a = make(shape, dt, Lay::transposed, 6, 0, 50);
    const Tensor b = expand(make({12, 1}, dt, Lay::dense, 7), shape);
    Tensor y = make_out(shape, dt, Lay::sliced), want = make_out(shape, dt, Lay::sliced);
    emu::where(cond.view(), a.view(), b.view(), y.view());
    cpu().where(cond.view(), a.view(), b.view(), want.view());
    same(y, want, std::string("where ") + dn(dt));
  }
}

TEST_CASE("emulated CUDA copy (every dtype pair, bf16 included), fill and arange") {
  const DType all[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8, DType::bf16};
  const Shape shape{9, 31};
  for (DType from : all) {
    for (DType to_dt : all) {
      for (Lay lay : {Lay::dense, Lay::transposed}) {
        // Source values: integers in [0, 120) fit every dtype; floats get fractions.
        const Tensor src = make(shape, from, lay, 21, 0, 120);
        Tensor y = make_out(shape, to_dt, lay == Lay::dense ? Lay::sliced : Lay::dense);
        Tensor want = make_out(shape, to_dt, lay == Lay::dense ? Lay::sliced : Lay::dense);
        emu::copy(src.view(), y.view());
        cpu().copy(src.view(), want.view());
        same(to(y, DType::f64), to(want, DType::f64),
             std::string("copy ") + dn(from) + " -> " + dn(to_dt));
      }
    }
  }
  for (DType dt : all) {
    for (Lay lay : {Lay::dense, Lay::transposed}) {
      Tensor y = make_out(shape, dt, lay), want = make_out(shape, dt, lay);
      emu::fill(y.view(), 3.7);
      cpu().fill(want.view(), 3.7);
      same(to(y, DType::f64), to(want, DType::f64), std::string("fill ") + dn(dt));
    }
    if (dt == DType::bf16) continue;
    Tensor y = Tensor::zeros({700}, dt), want = Tensor::zeros({700}, dt);
    emu::arange(y.view(), 2, dt == DType::u8 ? 0.25 : 0.37);
    cpu().arange(want.view(), 2, dt == DType::u8 ? 0.25 : 0.37);
    same(y, want, std::string("arange ") + dn(dt), ulps(dt), ulps(dt));
  }
}

// --- reductions ------------------------------------------------------------------------------------

TEST_CASE("emulated CUDA reduce: serial, block-tree and chunked two-pass plans") {
  for (auto& r : emu::g_plan_runs) r = 0;
  struct Case {
    const char* name;
    Shape shape;
    std::vector<int> axes;  // reduced
    Lay lay;
  };
  const Case cases[] = {
      {"serial, axis 1", {7, 20}, {1}, Lay::dense},
      {"serial, axis 0 of a transposed x", {25, 9}, {0}, Lay::transposed},
      {"empty reduction", {3, 0}, {1}, Lay::dense},
      {"block tree, last axis", {5, 1000}, {1}, Lay::dense},
      {"block tree, axis 0 (strided)", {300, 6}, {0}, Lay::dense},
      {"block tree, two reduced axes of a sliced x", {5, 6, 9}, {0, 2}, Lay::sliced},
      {"chunked two-pass, 2 outputs", {2, 40000}, {1}, Lay::dense},
      // 40001 = 5 chunks of 8001 less 4: the last chunk is cut at the row's end.
      {"chunked two-pass, a short last chunk", {3, 40001}, {1}, Lay::dense},
      {"chunked two-pass, everything", {180, 190}, {0, 1}, Lay::transposed},
  };
  const ReduceOp ops[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min,
                          ReduceOp::prod};
  const char* names[] = {"sum", "mean", "max", "min", "prod"};
  for (const Case& k : cases) {
    Shape yshape = k.shape;
    for (int a : k.axes) yshape[a] = 1;
    const bool big = numel(k.shape) > 20000;
    for (int oi = 0; oi < 5; ++oi) {
      const ReduceOp op = ops[oi];
      if (numel(k.shape) == 0 && (op == ReduceOp::max || op == ReduceOp::min)) continue;
      std::vector<DType> dts = {DType::f32, DType::f64};
      if (!big || op == ReduceOp::sum) dts.push_back(DType::i32);
      if (!big && op == ReduceOp::sum) dts.push_back(DType::u8);
      for (DType dt : dts) {
        // prod: values near 1 (no overflow over 40000 elements); integers: small.
        double lo = -2, hi = 2;
        if (op == ReduceOp::prod) lo = 0.9, hi = 1.1;
        if (!is_floating(dt)) lo = 0, hi = op == ReduceOp::prod ? 2 : 7;
        Tensor x = make(k.shape, dt, k.lay, 31 + oi, lo, hi);
        Tensor y = Tensor::zeros(yshape, dt), want = Tensor::zeros(yshape, dt);
        emu::reduce(op, x.view(), y.view());
        cpu().reduce(op, x.view(), want.view());
        // Sums and products combine in another order than the CPU's.
        const bool exact = op == ReduceOp::max || op == ReduceOp::min || !is_floating(dt);
        same(y, want, std::string(names[oi]) + " " + dn(dt) + " " + k.name,
             exact ? 0 : (dt == DType::f32 ? 1e-6 : 1e-12), exact ? 0 : 1e-12);
      }
    }
  }
  // max / min propagate a NaN through the block tree and the two passes.
  for (const Shape& s : {Shape{5, 1000}, Shape{2, 40000}}) {
    for (DType dt : kFloats) {
      Tensor x = rnd(s, dt, 77);
      Tensor xd = to(x, DType::f64);
      std::vector<double> v = xd.to_vector<double>();
      v[s[1] + 517] = NAN;  // row 1
      x = to(Tensor::from_vector(v, s), dt);
      for (ReduceOp op : {ReduceOp::max, ReduceOp::min, ReduceOp::sum}) {
        Tensor y = Tensor::zeros({s[0], 1}, dt), want = Tensor::zeros({s[0], 1}, dt);
        emu::reduce(op, x.view(), y.view());
        cpu().reduce(op, x.view(), want.view());
        same(y, want, "NaN in row 1", op == ReduceOp::sum ? 1e-6 : 0, 1e-12);
        CHECK(std::isnan(y.to_vector<double>()[1]));
      }
    }
  }
  CHECK(emu::g_plan_runs[0] > 0);
  CHECK(emu::g_plan_runs[1] > 0);
  CHECK(emu::g_plan_runs[2] > 0);
}

TEST_CASE("emulated CUDA block reductions on fewer blocks than outputs (grid-stride loops)") {
  // The plans give each output (or chunk) its own block up to 2^20 blocks; on a 3-block grid
  // every block walks several outputs and reuses its shared memory for each.
  const Tensor x = make({7, 300}, DType::f64, Lay::transposed, 91);
  Tensor y = Tensor::zeros({7, 1}, DType::f64), want = Tensor::zeros({7, 1}, DType::f64);
  const cu::ReduceGeom g = cu::reduce_geometry(x.view(), y.view(), "reduce");
  const cu::ReducePlan p = cu::reduce_plan<double>(g.out_n, g.red_n);
  REQUIRE(p.kind == cu::ReducePlan::Kind::block);
  cu::LaunchDims d = p.main;
  d.grid.x = 3;
  cu::emulate_launch(d, [&](HostCtx& c) {
    cu::reduce_block_body<ReduceOp::max, double, double, double>(
        c, x.view().ptr<double>(), g.kept, g.red, g.out_n, g.red_n, 1, p.chunk, y.view().ptr<double>(), g.ys,
        nullptr, cu::reduce_identity<double>(ReduceOp::max), g.red_n, 0.0);
  });
  cpu().reduce(ReduceOp::max, x.view(), want.view());
  same(y, want, "max on 3 blocks");

  const Tensor xa = to(floor(rnd({7, 300}, DType::f64, 92, 0, 4)), DType::f32);
  Tensor ya = Tensor::zeros({7, 1}, DType::i64), wa = Tensor::zeros({7, 1}, DType::i64);
  const cu::ArgGeom ga = cu::arg_geometry(xa.view(), 1, ya.view(), "argmax");
  cu::ArgPlan pa = cu::arg_plan<float>(ga.n, ga.out_n);
  REQUIRE(!pa.serial);
  pa.dims.grid.x = 3;
  cu::emulate_launch(pa.dims, [&](HostCtx& c) {
    cu::arg_block_body<float>(c, xa.view().ptr<float>(), ga.kept, ga.xs, ga.n, ga.out_n,
                              ya.view().ptr<int64_t>(), ga.ys, true);
  });
  cpu().arg_reduce(true, xa.view(), 1, wa.view());
  same(ya, wa, "argmax on 3 blocks");
}

TEST_CASE("emulated CUDA arg_reduce: ties and NaN pick the CPU's index, serial and block paths") {
  int block_runs = 0;
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::u8}) {
    for (const Shape& s : {Shape{6, 20}, Shape{4, 700}}) {
      for (int axis : {0, 1}) {
        // Few distinct values: many ties.
        Tensor x = to(floor(rnd(s, DType::f64, 41 + axis, 0, 5)), dt);
        if (is_floating(dt) && axis == 1) {  // NaNs (two in row 2) win over every number
          std::vector<double> v = to(x, DType::f64).to_vector<double>();
          v[2 * s[1] + s[1] / 2] = NAN;
          v[2 * s[1] + s[1] - 3] = NAN;
          x = to(Tensor::from_vector(v, s), dt);
        }
        for (bool is_max : {true, false}) {
          Shape ys = s;
          ys[axis] = 1;
          Tensor y = Tensor::zeros(ys, DType::i64), want = Tensor::zeros(ys, DType::i64);
          block_runs += emu::arg_reduce(is_max, x.view(), axis, y.view());
          cpu().arg_reduce(is_max, x.view(), axis, want.view());
          same(y, want, std::string(is_max ? "argmax " : "argmin ") + dn(dt) +
                            " shape " + s.str() + " axis " + std::to_string(axis));
        }
      }
    }
  }
  CHECK(block_runs > 0);
}
