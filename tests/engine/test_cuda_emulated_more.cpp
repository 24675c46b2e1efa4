// The CUDA kernels' random, indexing and optimiser bodies through the host emulation, against
// the CPU backend (the emulator and the elementwise and reduction bodies: test_cuda_emulated.cpp).
#include <doctest/doctest.h>

#include "tests/engine/cuda_emulated.h"

using namespace unravel;
using namespace unravel::emulated;

// --- random ------------------------------------------------------------------------------------------

TEST_CASE("emulated CUDA random: uniform / normal / bernoulli and permutations equal the CPU's bits") {
  const int64_t base_value = 1000;
  for (DType dt : {DType::f32, DType::f64, DType::i32}) {
    for (RandomOp op : {RandomOp::uniform, RandomOp::normal, RandomOp::bernoulli}) {
      if (dt == DType::i32 && op != RandomOp::bernoulli) continue;
      for (Lay lay : {Lay::dense, Lay::transposed}) {
        for (const int64_t* base : {static_cast<const int64_t*>(nullptr), &base_value}) {
          const PhiloxState st{1234567, 77, base};
          const double a = op == RandomOp::bernoulli ? 0.3 : -1.5, b = 2.5;
          Tensor y = make_out({23, 29}, dt, lay), want = make_out({23, 29}, dt, lay);
          emu::random(op, st, a, b, y.view());
          cpu().random(op, st, a, b, want.view());
          same(y, want, std::string("random ") + std::to_string(static_cast<int>(op)) + " " +
                            dn(dt));
        }
      }
    }
  }
  // Permutations: one row (device-wide sort), several short rows (segmented sort).
  for (const Shape& s : {Shape{1, 1000}, Shape{5, 300}}) {
    const PhiloxState st{99, 5, &base_value};
    Tensor y = Tensor::zeros(s, DType::i64), want = Tensor::zeros(s, DType::i64);
    emu::random_permutation(st, y.view());
    cpu().random_permutation(st, want.view());
    same(y, want, "random_permutation " + s.str());
  }
}

// --- indexing -------------------------------------------------------------------------------------

namespace {

/// i64 index of `shape` with values in [0, extent), repeats included.
Tensor index_of(const Shape& shape, int64_t extent, uint64_t seed) {
  return to(floor(testing::rand64(shape, seed, 0, static_cast<double>(extent))), DType::i64);
}

}  // namespace

TEST_CASE("emulated CUDA gather / scatter_add / index_select / index_add equal the CPU") {
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8}) {
    const double hi = dt == DType::u8 ? 8 : 5, lo = dt == DType::u8 ? 0 : -5;
    for (int axis : {0, 1}) {
      // gather from a transposed x; index of shape (9, 13) into x of shape (11, 15).
      const Tensor x = make({11, 15}, dt, Lay::transposed, 51, lo, hi);
      const Tensor idx = index_of({9, 13}, axis == 0 ? 11 : 15, 52 + axis);
      Tensor y = Tensor::zeros({9, 13}, dt), want = Tensor::zeros({9, 13}, dt);
      emu::gather(x.view(), axis, idx.view(), y.view());
      cpu().gather(x.view(), axis, idx.view(), want.view());
      same(y, want, std::string("gather ") + dn(dt) + " axis " + std::to_string(axis));

      // scatter_add (repeated targets: runs of equal sort keys) into a sliced y.
      const Tensor src = make({9, 13}, dt, Lay::dense, 53, lo, hi);
      Tensor ys = make(Shape{11, 15}, dt, Lay::sliced, 54, lo, hi);
      Tensor ys_want = make(Shape{11, 15}, dt, Lay::sliced, 54, lo, hi);
      emu::scatter_add(src.view(), axis, idx.view(), ys.view());
      cpu().scatter_add(src.view(), axis, idx.view(), ys_want.view());
      same(ys, ys_want, std::string("scatter_add ") + dn(dt) + " axis " +
                            std::to_string(axis));

      // index_select / index_add along `axis` of a (6, 7, 5) tensor, 40 indices with repeats.
      const int64_t extent = axis == 0 ? 6 : 7;
      const Tensor sel = index_of({40}, extent, 55 + axis);
      Shape sshape{6, 7, 5};
      sshape[axis] = 40;
      const Tensor xs = make({6, 7, 5}, dt, Lay::transposed, 56, lo, hi);
      Tensor yi = make_out(sshape, dt, Lay::sliced), yi_want = make_out(sshape, dt, Lay::sliced);
      emu::index_select(xs.view(), axis, sel.view(), yi.view());
      cpu().index_select(xs.view(), axis, sel.view(), yi_want.view());
      same(yi, yi_want, std::string("index_select ") + dn(dt));

      const Tensor sa = make(sshape, dt, Lay::transposed, 57, lo, hi);
      Tensor ya = make(Shape{6, 7, 5}, dt, Lay::dense, 58, lo, hi);
      Tensor ya_want = make(Shape{6, 7, 5}, dt, Lay::dense, 58, lo, hi);
      emu::index_add(sa.view(), axis, sel.view(), ya.view());
      cpu().index_add(sa.view(), axis, sel.view(), ya_want.view());
      same(ya, ya_want, std::string("index_add ") + dn(dt));
    }
  }
}

TEST_CASE("emulated CUDA indexing: out-of-range indices read 0 and are skipped when adding") {
  // The CPU refuses bad indices; the device (which cannot read them on the host) defines them.
  const Tensor x = rnd({5, 4}, DType::f64, 61);
  const Tensor idx = Tensor::from_vector<int64_t>({0, -1, 4, 5, 2, 5, 1, 7}, {2, 4});
  Tensor y = Tensor::zeros({2, 4}, DType::f64);
  emu::gather(x.view(), 0, idx.view(), y.view());
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const std::vector<int64_t> iv = idx.to_vector<int64_t>();
  for (int i = 0; i < 8; ++i) {
    const int64_t v = iv[i];
    CHECK(yv[i] == (v >= 0 && v < 5 ? xv[v * 4 + i % 4] : 0.0));
  }
  // The targets are the first 5 rows of 6: a skipped index must not write the guard row after
  // them either (an index equal to the extent addresses exactly that row).
  Tensor acc_guarded = Tensor::zeros({6, 4}, DType::f64);
  Tensor acc = slice(acc_guarded, 0, 0, 5);
  const Tensor src = Tensor::ones({2, 4}, DType::f64);
  emu::scatter_add(src.view(), 0, idx.view(), acc.view());
  CHECK(sum(acc).item() == 4.0);  // four of the eight are out of range
  CHECK(sum(slice(acc_guarded, 0, 5, 6)).item() == 0.0);

  const Tensor sel = Tensor::from_vector<int64_t>({3, -2, 9, 3}, {4});
  Tensor ysel = Tensor::zeros({4, 4}, DType::f64);
  emu::index_select(x.view(), 0, sel.view(), ysel.view());
  CHECK(sum(slice(ysel, 0, 1, 3)).item() == 0.0);
  CHECK(testing::max_abs_diff(slice(ysel, 0, 3, 4), slice(x, 0, 3, 4)) == 0.0);
  Tensor yadd_guarded = Tensor::zeros({6, 4}, DType::f64);
  Tensor yadd = slice(yadd_guarded, 0, 0, 5);
  emu::index_add(Tensor::ones({4, 4}, DType::f64).view(), 0, sel.view(), yadd.view());
  CHECK(sum(yadd).item() == 8.0);
  CHECK(sum(slice(yadd, 0, 3, 4)).item() == 8.0);
  CHECK(sum(slice(yadd_guarded, 0, 5, 6)).item() == 0.0);
}

// --- optimiser ---------------------------------------------------------------------------------------

namespace {

/// Parameters, gradients and states of `sizes` slots in dtype dt.
struct Params {
  std::vector<Tensor> p, g, s0, s1, s2;
  std::vector<double> steps;
  Params(const std::vector<int64_t>& sizes, DType dt, uint64_t seed) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Shape s{sizes[i]};
      p.push_back(rnd(s, dt, seed + 10 * i));
      g.push_back(rnd(s, dt, seed + 10 * i + 1));
      s0.push_back(rnd(s, dt, seed + 10 * i + 2, -0.1, 0.1));
      s1.push_back(rnd(s, dt, seed + 10 * i + 3, 0, 0.1));
      s2.push_back(rnd(s, dt, seed + 10 * i + 4, 0, 0.1));
      steps.push_back(static_cast<double>(i));  // slots at different step counts
    }
  }
  std::vector<OptimSlot> slots(const OptimStep& h) {
    std::vector<OptimSlot> out;
    for (size_t i = 0; i < p.size(); ++i) {
      OptimSlot s;
      s.p = p[i].view();
      s.g = g[i].view();
      s.s0 = (h.rule == OptimRule::adam || h.momentum != 0) ? s0[i].view() : TensorView{};
      if (h.rule == OptimRule::adam) s.s1 = s1[i].view();
      if (h.rule == OptimRule::adam && h.amsgrad) s.s2 = s2[i].view();
      s.steps = &steps[i];
      out.push_back(s);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("emulated CUDA optimiser: Adam / AdamW / AMSGrad / SGD, host and device learning rate") {
  struct Rule {
    const char* name;
    OptimStep h;
  };
  std::vector<Rule> rules;
  auto adam = [](double wd, bool decoupled, bool ams, double beta1) {
    OptimStep h;
    h.rule = OptimRule::adam;
    h.lr = 1e-2;
    h.weight_decay = wd;
    h.decoupled = decoupled;
    h.amsgrad = ams;
    h.beta1 = beta1;
    h.step_size = h.lr / (1 - std::pow(h.beta1, 3));
    h.bc2_sqrt = std::sqrt(1 - std::pow(h.beta2, 3));
    return h;
  };
  auto sgd = [](double momentum, bool nesterov, double wd, bool first) {
    OptimStep h;
    h.rule = OptimRule::sgd;
    h.lr = 0.05;
    h.momentum = momentum;
    h.dampening = momentum ? 0.1 : 0;
    h.nesterov = nesterov;
    h.weight_decay = wd;
    h.first = first;
    return h;
  };
  rules.push_back({"adam", adam(0, false, false, 0.9)});
  rules.push_back({"adam, L2 decay", adam(0.1, false, false, 0.9)});
  rules.push_back({"adamw", adam(0.1, true, false, 0.9)});
  rules.push_back({"amsgrad, beta1 0.3", adam(0, false, true, 0.3)});
  rules.push_back({"sgd", sgd(0, false, 0, false)});
  rules.push_back({"sgd momentum, first step", sgd(0.9, false, 0.01, true)});
  rules.push_back({"sgd nesterov", sgd(0.9, true, 0, false)});

  const std::vector<int64_t> sizes = {300, 33, 1};
  for (const Rule& r : rules) {
    for (DType dt : kFloats) {
      for (bool device_lr : {false, true}) {
        Params emu_p(sizes, dt, 71), cpu_p(sizes, dt, 71);
        OptimStep h = r.h;
        const double lr = 3e-3;
        if (device_lr) h.lr_device = &lr;
        for (int step = 0; step < 2; ++step) {  // the device path advances the step counts
          emu::optimizer_step(h, emu_p.slots(h));
          cpu().optimizer_step(h, cpu_p.slots(h));
        }
        const std::string what = std::string(r.name) + " " + dn(dt) +
                                 (device_lr ? " device lr" : " host lr");
        const double tol = ulps(dt);
        for (size_t i = 0; i < sizes.size(); ++i) {
          same(emu_p.p[i], cpu_p.p[i], what + " p", tol, tol);
          same(emu_p.s0[i], cpu_p.s0[i], what + " s0", tol, tol);
          same(emu_p.s1[i], cpu_p.s1[i], what + " s1", tol, tol);
          same(emu_p.s2[i], cpu_p.s2[i], what + " s2", tol, tol);
          CHECK(emu_p.steps[i] == cpu_p.steps[i]);
        }
      }
    }
  }

  // More slots than one launch takes (kSlotsPerLaunch): two launches, two dtypes.
  std::vector<int64_t> many(cu::kSlotsPerLaunch + 3, 5);
  many[7] = 300;
  OptimStep h = rules[2].h;
  const double lr = 1e-3;
  h.lr_device = &lr;
  Params emu_f(many, DType::f32, 81), cpu_f(many, DType::f32, 81);
  Params emu_d(many, DType::f64, 82), cpu_d(many, DType::f64, 82);
  std::vector<OptimSlot> es = emu_f.slots(h), cs = cpu_f.slots(h);
  for (const OptimSlot& s : emu_d.slots(h)) es.push_back(s);
  for (const OptimSlot& s : cpu_d.slots(h)) cs.push_back(s);
  emu::optimizer_step(h, es);
  cpu().optimizer_step(h, cs);
  for (size_t i = 0; i < many.size(); ++i) {
    same(emu_f.p[i], cpu_f.p[i], "many slots f32", ulps(DType::f32), ulps(DType::f32));
    same(emu_d.p[i], cpu_d.p[i], "many slots f64", ulps(DType::f64), ulps(DType::f64));
    CHECK(emu_f.steps[i] == cpu_f.steps[i]);
    CHECK(emu_d.steps[i] == cpu_d.steps[i]);
  }
}
