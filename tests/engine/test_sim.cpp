// The stand-in device `sim`: it must equal the CPU bit for bit, refuse host access and mixing,
// queue its kernels, count host reads, and let op code take composite fallbacks where a backend
// declines a fused family.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "engine/sim/sim_backend.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

namespace {

const Device kSim = sim_device(0);

/// Runs f in a forked child; returns the signal that ended it (0 for a normal exit).
int signal_of_child(const std::function<void()>& f) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // The default action, not doctest's crash handler (which would report for the child).
    std::signal(SIGSEGV, SIG_DFL);
    std::signal(SIGBUS, SIG_DFL);
    f();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

std::vector<double> host(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

TEST_CASE("sim: every basic op family equals the CPU bit for bit") {
  Generator g1(3), g2(3);
  Tensor a = normal(Shape{5, 7}, g1), b = uniform(Shape{7}, g1, 0.5, 2.0);
  Tensor as = normal(Shape{5, 7}, g2, 0, 1, DType::f32, kSim);
  Tensor bs = uniform(Shape{7}, g2, 0.5, 2.0, DType::f32, kSim);
  CHECK(as.device() == kSim);
  CHECK(host(as) == host(a));
  auto f = [](const Tensor& x, const Tensor& y) {
    Tensor z = softplus(x) * y - exp(x / y) + 3.0;
    Tensor m = matmul(z, transpose(z, 0, 1));
    return concat({reshape(logsumexp(m, {1}), Shape{-1}), max(z, {0}), reshape(sum(z), Shape{1}),
                   mean(z, {1})}, 0);
  };
  CHECK(host(f(as, bs)) == host(f(a, b)));
  // Gradients through the tape on the device.
  Tensor ap = clone(a).detach().set_requires_grad(true), asp = clone(as).detach().set_requires_grad(true);
  sum(f(ap, b)).backward();
  sum(f(asp, bs)).backward();
  CHECK(asp.grad().device() == kSim);
  CHECK(host(asp.grad()) == host(ap.grad()));
  // Indexing, casts, comparisons and where.
  Tensor idx = permutation(5, g1), idxs = permutation(5, g2, kSim);
  CHECK(host(idxs) == host(idx));
  CHECK(host(index_select(as, 0, idxs)) == host(index_select(a, 0, idx)));
  CHECK(host(where(gt(as, 0.0), as, to(bs, DType::f32) * 2.0)) ==
        host(where(gt(a, 0.0), a, b * 2.0)));
  CHECK(host(argmax(as, 1)) == host(argmax(a, 1)));
}

TEST_CASE("sim: host code that touches device memory crashes; data<T>() refuses") {
  Tensor t = Tensor::ones(Shape{1024}, DType::f32, kSim);
  CHECK_THROWS_WITH_AS(t.data<float>(), doctest::Contains("not on the CPU"), Error);
  const float* p = static_cast<const float*>(t.raw_data());
  CHECK(sim_owns(p));
  int sig = signal_of_child([p] {
    volatile float x = p[3];
    (void)x;
  });
  CHECK(sig == SIGSEGV);
  // A write crashes too, even right after the queue ran (the arena is locked again).
  (void)t.to_vector<float>();
  sig = signal_of_child([t] { static_cast<float*>(t.raw_data())[0] = 2.0f; });
  CHECK(sig == SIGSEGV);
  CHECK(t.to_vector<float>()[0] == 1.0f);
}

TEST_CASE("sim: mixing devices is refused with a message naming both") {
  Tensor c = Tensor::ones(Shape{3});
  Tensor s = Tensor::ones(Shape{3}, DType::f32, kSim);
  CHECK_THROWS_WITH_AS(add(c, s), doctest::Contains("sim:0"), Error);
  CHECK_THROWS_WITH_AS(matmul(reshape(c, {1, 3}), reshape(s, {3, 1})), doctest::Contains("sim"),
                       Error);
  // A kernel handed host memory directly (bypassing op checks) is refused by the backend.
  Tensor y = Tensor::empty(Shape{3}, DType::f32, kSim);
  CHECK_THROWS_WITH_AS(backend(kSim).unary(UnaryOp::exp, c.view(), y.view(), 0.0),
                       doctest::Contains("not in sim device memory"), Error);
  // Two sim devices are two devices.
  Tensor s1 = Tensor::ones(Shape{3}, DType::f32, sim_device(1));
  CHECK_THROWS_AS(add(s, s1), Error);
  CHECK(host(to(s, sim_device(1)) + s1) == std::vector<double>{2, 2, 2});
}

TEST_CASE("sim: kernels queue until the host reads; reads, uploads and syncs are counted") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{4}, kSim);  // an upload, no sync
  sim_reset_stats();
  Tensor y = exp(x) * 2.0 + x;
  Tensor z = sum(y);
  SimStats s = sim_stats();
  CHECK(s.kernels >= 3);
  // Per family: one reduction, an exp, an add; nothing else (bench_train_step --kernels).
  auto calls = [&](Kernel k) { return s.calls[static_cast<size_t>(k)]; };
  CHECK(calls(Kernel::reduce) == 1);
  CHECK(calls(Kernel::unary) >= 1);
  CHECK(calls(Kernel::binary) >= 1);
  CHECK(calls(Kernel::unary) + calls(Kernel::binary) + calls(Kernel::reduce) == s.kernels);
  CHECK(calls(Kernel::gemm) == 0);
  CHECK(s.flushes == 0);  // nothing has run yet
  CHECK(s.host_reads == 0);
  CHECK(s.syncs == 0);
  double v = z.item();
  CHECK(v == doctest::Approx(2 * (std::exp(1.f) + std::exp(2.f) + std::exp(3.f) + std::exp(4.f)) + 10)
                 .epsilon(1e-6));
  s = sim_stats();
  CHECK(s.host_reads == 1);
  CHECK(s.syncs == 1);
  CHECK(s.flushes == 1);
  // Uploads are snapshots: the host buffer may change right after the call.
  std::vector<float> buf{5, 6};
  Tensor u = Tensor::from_vector(buf, Shape{2}, kSim);
  buf[0] = -1;
  CHECK(host(u) == std::vector<double>{5, 6});
  s = sim_stats();
  CHECK(s.uploads == 1);
  CHECK(s.host_reads == 2);
  // to(cpu) is a host read; to(sim) an upload; read_scalars reads many values at once.
  sim_reset_stats();
  Tensor back = to(y, kCPU);
  CHECK(sim_stats().host_reads == 1);
  CHECK(back.device() == kCPU);
  sim_reset_stats();
  std::vector<double> r = read_scalars({sum(x), mean(x), max(x), argmax(x, 0)});
  CHECK(r == std::vector<double>{10, 2.5, 4, 3});
  CHECK(sim_stats().host_reads == 1);
  backend(kSim).synchronize();
  CHECK(sim_stats().syncs == 2);
}

TEST_CASE("sim: declined fused kernels take the composite fallbacks, with equal results") {
  Generator g(11);
  Tensor a = normal(Shape{6, 3}, g, 0, 1, DType::f64, kSim), b = normal(Shape{5, 3}, g, 0, 1, DType::f64, kSim);
  const std::vector<double> c{0.2, 1.0, 4.0};
  for (bool full : {false, true}) {
    Tensor ap = clone(a).detach().set_requires_grad(true), bp = clone(b).detach().set_requires_grad(true);
    Tensor fused = full ? pairwise_imq_sum_full(ap, bp, c) : pairwise_imq_sum(ap, bp, c);
    fused.backward();
    std::vector<double> fa = host(ap.grad()), fv = host(fused);
    ap.zero_grad();
    CHECK_FALSE(sim_decline(Kernel::pairwise_imq, true));
    CHECK_FALSE(backend(kSim).supports(Kernel::pairwise_imq));
    Tensor comp = full ? pairwise_imq_sum_full(ap, bp, c) : pairwise_imq_sum(ap, bp, c);
    comp.backward();
    sim_decline(Kernel::pairwise_imq, false);
    CHECK(host(comp)[0] == doctest::Approx(fv[0]).epsilon(1e-12));
    std::vector<double> ca = host(ap.grad());
    for (size_t i = 0; i < ca.size(); ++i) CHECK(ca[i] == doctest::Approx(fa[i]).epsilon(1e-10));
  }
  // Convolution with a fused activation: declined, it runs conv then one activation pass.
  Tensor x = normal(Shape{2, 3, 9, 9}, g, 0, 1, DType::f32, kSim);
  Tensor w = normal(Shape{4, 3, 3, 3}, g, 0, 0.3, DType::f32, kSim);
  Tensor bias = normal(Shape{4}, g, 0, 0.1, DType::f32, kSim);
  Conv2dOptions o;
  o.padding = {1, 1};
  Tensor fused = conv2d_relu(x, w, bias, o, 0.1);
  sim_decline(Kernel::conv2d_forward_relu, true);
  Tensor split = conv2d_relu(x, w, bias, o, 0.1);
  sim_decline(Kernel::conv2d_forward_relu, false);
  CHECK(testing::max_abs_diff(fused, split) < 1e-6);
  // A declined family without a fallback says which family and which device.
  sim_decline(Kernel::gemm, true);
  CHECK_THROWS_WITH_AS(matmul(a, transpose(b, 0, 1)), "gemm has no sim implementation", Error);
  sim_decline(Kernel::gemm, false);
}

namespace {
// A backend with only the required members: every kernel family must say it is missing.
struct BareBackend final : Backend {
  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override { return "bare"; }
  int device_count(std::string*) const override { return 1; }
  Allocator& allocator() override { return host_allocator(); }
  void synchronize() override {}
  void copy(const TensorView&, const TensorView&) override {}
  void copy_to_host(const void*, void*, size_t) override {}
  void copy_from_host(const void*, void*, size_t) override {}
  void fill(const TensorView&, double) override {}
};
}  // namespace

TEST_CASE("backend defaults: every family throws '<family> has no <device> implementation'") {
  BareBackend b;
  TensorView v;
  for (int k = 0; k < kNumKernels; ++k) CHECK_FALSE(b.supports(static_cast<Kernel>(k)));
  CHECK_THROWS_WITH_AS(b.unary(UnaryOp::exp, v, v, 0), "unary has no bare implementation", Error);
  CHECK_THROWS_WITH_AS(b.gemm(false, false, 1, v, v, 0, v), "gemm has no bare implementation", Error);
  CHECK_THROWS_WITH_AS(b.optimizer_step({}, {}), "optimizer_step has no bare implementation", Error);
  Conv2dParams p;
  p.relu = true;
  CHECK_THROWS_WITH_AS(b.conv2d_forward(v, v, v, v, p), "conv2d_forward_relu has no bare implementation",
                       Error);
  CHECK(std::string(kernel_name(Kernel::random_permutation)) == "random_permutation");
  CHECK(backend(kCPU).supports(Kernel::pairwise_imq));
}

TEST_CASE("device-side construction: arange, eye, one_hot, permutations") {
  for (Device d : {kCPU, kSim}) {
    CHECK(host(arange(4, DType::f32, d, 1.0, 0.5)) == std::vector<double>{1, 1.5, 2, 2.5});
    CHECK(host(eye(3, DType::f64, d)) == std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1});
    Tensor idx = Tensor::from_vector<int64_t>({2, 0, 1}, Shape{3}, d);
    CHECK(host(one_hot(idx, 3)) == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0});
    Generator g1(5), g2(5);
    Tensor many = permutations(3, 6, g1, d);
    for (int r = 0; r < 3; ++r) {
      std::vector<double> row = host(slice(many, 0, r, r + 1));
      CHECK(row == host(permutation(6, g2, d)));  // equal to successive single draws
      std::vector<double> sorted = row;
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == std::vector<double>{0, 1, 2, 3, 4, 5});
    }
    CHECK(g1.offset() == g2.offset());
  }
  // Constants are built once per (key, device, dtype).
  int builds = 0;
  auto make = [&] { ++builds; return Tensor::from_vector<double>({1, 2}, Shape{2}); };
  Tensor c1 = cached_constant("test/one-two", kSim, DType::f32, make);
  Tensor c2 = cached_constant("test/one-two", kSim, DType::f32, make);
  cached_constant("test/one-two", kCPU, DType::f32, make);
  CHECK(builds == 2);
  CHECK(c1.is_same(c2));
  CHECK(c1.device() == kSim);
}

TEST_CASE("cross_entropy builds its one-hot on the device; out-of-range classes") {
  Generator g(2);
  Tensor logits = normal(Shape{4, 3}, g, 0, 1, DType::f64);
  Tensor t = Tensor::from_vector<int64_t>({0, 2, 1, 2}, Shape{4});
  Tensor ls = to(logits, kSim), ts = to(t, kSim);
  sim_reset_stats();
  Tensor l = cross_entropy(ls, ts);
  CHECK(sim_stats().host_reads == 0);
  CHECK(host(l) == host(cross_entropy(logits, t)));
  Tensor bad = Tensor::from_vector<int64_t>({0, 3, 1, 2}, Shape{4});
  CHECK_THROWS_WITH_AS(cross_entropy(logits, bad), doctest::Contains("target[1] = 3 is out of range"),
                       Error);
  CHECK(std::isnan(cross_entropy(ls, to(bad, kSim)).item()));  // on a device: NaN, no host read
}

TEST_CASE("tape epochs are unique across threads: another thread's tensor is not a live node") {
  Tensor a = Tensor::ones(Shape{2}).set_requires_grad(true);
  Tensor other;
  std::thread th([&] { other = a * 2.0; });  // recorded on the other thread's tape
  th.join();
  Tensor mine = a * 3.0;  // this thread's tape: node index 0, like `other`'s
  CHECK(tape().is_live(mine));
  CHECK_FALSE(tape().is_live(other));
  CHECK_THROWS_WITH_AS(other + 1.0, doctest::Contains("already freed"), Error);
  tape().clear();
}
