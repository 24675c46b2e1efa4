// Memory layouts (engine/layout.h): the CPU's blocked formats and the sim device that carries
// them must convert bit-exactly, conv2d must read and write them with the strided results,
// gradients must flow through the conversions, every generic op must refuse a blocked tensor,
// values leaving the device (to_vector, item, to(device), files, checkpoints) must be the
// logical ones, and a backend without layouts must say so.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/sim/sim_backend.h"
#include "models/checkpoint.h"
#include "models/nn/nn.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::rand64;

namespace {

const Device kSim = sim_device(0);

/// Bit-exact equality of two tensors' logical values (same dtype, both converted to f64, which
/// is exact for every dtype used here).
bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         a.to_vector<double>() == b.to_vector<double>();
}

Tensor rand_t(const Shape& s, uint64_t seed, DType dt = DType::f32, Device d = kCPU) {
  return to(to(rand64(s, seed, -2.0, 2.0), dt), d);
}

/// The raw physical elements of a CPU tensor's storage (any layout), as T.
template <class T> std::vector<T> storage_of(const Tensor& t) {
  const T* p = static_cast<const T*>(t.storage()->data());
  return std::vector<T>(p, p + t.storage()->nbytes() / sizeof(T));
}

/// Throws "<kernel> has no nolayout implementation" for every kernel family: a backend
/// without layouts.
class NoLayoutBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override { return "nolayout"; }
  int device_count(std::string*) const override { return 0; }
  Allocator& allocator() override { return host_allocator(); }
  void synchronize() override {}
  void copy(const TensorView&, const TensorView&) override {}
  void copy_to_host(const void*, void*, size_t) override {}
  void copy_from_host(const void*, void*, size_t) override {}
  void fill(const TensorView&, double) override {}
};

}  // namespace

TEST_CASE("layout: formats are found by name, sized with padding and named in desc()") {
  const Layout l8 = find_layout(kCPU, "nChw8c"), l16 = find_layout(kCPU, "nChw16c");
  CHECK(!l8.is_strided());
  CHECK(l8.backend == DeviceKind::cpu);
  CHECK(l8 != l16);
  CHECK(kStrided == Layout{});
  CHECK_THROWS_WITH_AS(find_layout(kCPU, "nhwc"),
                       doctest::Contains("the cpu backend has no memory layout 'nhwc'"), Error);
  // C = 3 pads to one block of 8 (or 16) channels.
  CHECK(backend(kCPU).layout_nbytes(l8.format, Shape{2, 3, 4, 5}, DType::f32) == 2 * 8 * 4 * 5 * 4);
  CHECK(backend(kCPU).layout_nbytes(l16.format, Shape{2, 17, 4, 5}, DType::f64) ==
        2 * 32 * 4 * 5 * 8);
  CHECK_THROWS_WITH_AS(backend(kCPU).layout_nbytes(l8.format, Shape{2, 3}, DType::f32),
                       doctest::Contains("holds rank-4"), Error);
  Tensor x = rand_t(Shape{2, 3, 4, 5}, 1);
  Tensor xb = to_layout(x, l8);
  CHECK(xb.layout() == l8);
  CHECK(xb.desc() == "f32[2, 3, 4, 5]{cpu:nChw8c}");
  CHECK(xb.storage()->nbytes() >= 2 * 8 * 4 * 5 * 4);
  CHECK(to_layout(xb, l8).is_same(xb));   // already in that layout: a no-op
  CHECK(to_strided(x).is_same(x));
  const Layout s8 = find_layout(kSim, "nChw8c");
  CHECK(s8.backend == DeviceKind::sim);
  CHECK(to_layout(to(x, kSim), s8).desc() == "f32[2, 3, 4, 5]{sim:nChw8c}@sim:0");
  // A format id belongs to its backend.
  CHECK_THROWS_WITH_AS(to_layout(x, s8), doctest::Contains("belongs to the sim backend"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty(Shape{1, 8, 2, 2}, DType::f32, kCPU, s8),
                       doctest::Contains("assigned by the sim backend"), Error);
}

TEST_CASE("layout: strided -> blocked -> strided is bit-exact on cpu and sim") {
  for (Device dev : {kCPU, kSim})
    for (const char* name : {"nChw8c", "nChw16c"})
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::u8})
        for (const Shape& s : {Shape{2, 3, 5, 4}, Shape{1, 8, 3, 3}, Shape{3, 20, 2, 7}}) {
          CAPTURE(dev.str());
          CAPTURE(name);
          CAPTURE(dtype_name(dt));
          CAPTURE(s.str());
          const Layout l = find_layout(dev, name);
          Tensor x = rand_t(s, 7, dt, dev);
          Tensor xb = to_layout(x, l);
          Tensor back = to_strided(xb);
          CHECK(back.is_strided());
          CHECK(back.is_contiguous());
          CHECK(same_values(back, x));
          // From a non-contiguous source (a transposed view) and to the other format.
          Tensor xt = transpose(rand_t(Shape{s[0], s[1], s[3], s[2]}, 8, dt, dev), 2, 3);
          CHECK(same_values(to_strided(to_layout(xt, l)), xt));
          const Layout other = find_layout(dev, std::string(name) == "nChw8c" ? "nChw16c" : "nChw8c");
          CHECK(same_values(to_strided(to_layout(xb, other)), x));
        }
}

TEST_CASE("layout: nChw8c bytes are oneDNN's, padding zero; the f64 loop agrees with the reorder") {
  const Layout l8 = find_layout(kCPU, "nChw8c");
  const Shape s{2, 11, 3, 4};  // 11 channels: two blocks, 5 padded channels
  Tensor x64 = rand64(s, 3);
  Tensor x32 = to(x64, DType::f32);
  const std::vector<float> b32 = storage_of<float>(to_layout(x32, l8));  // oneDNN reorder
  const std::vector<double> b64 = storage_of<double>(to_layout(x64, l8));  // index loop
  const size_t padded = 2 * 16 * 3 * 4;
  REQUIRE(b32.size() >= padded);
  REQUIRE(b64.size() >= padded);
  const std::vector<float> v32 = x32.to_vector<float>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t hw = 0; hw < 12; ++hw) {
        const size_t i = static_cast<size_t>(((n * 2 + c / 8) * 12 + hw) * 8 + c % 8);
        const float want = c < 11 ? v32[static_cast<size_t>((n * 11 + c) * 12 + hw)] : 0.0f;
        CHECK(b32[i] == want);
        CHECK(static_cast<float>(b64[i]) == want);
      }
}

TEST_CASE("layout: conv2d reads a blocked input and writes a blocked output bit-identically") {
  // Exactly equal, not to a tolerance: the layout rule reads only the geometry, so the blocked
  // and the strided call run the same oneDNN primitive, and the reorders only move values.
  struct Case {
    Shape x;
    int64_t o, k, s, p;
  };
  const Case cases[] = {
      {Shape{4, 16, 32, 32}, 32, 3, 1, 1},  // large: the blocked (JIT) plan
      {Shape{2, 3, 8, 8}, 8, 3, 1, 1},      // small, 3 channels: the plain plan
      {Shape{2, 5, 8, 8}, 4, 3, 2, 0},      // the last row/col is never reached: a crop
  };
  for (Device dev : {kCPU, kSim})
    for (DType dt : {DType::f32, DType::f64})
      for (const Case& c : cases)
        for (bool relu : {false, true}) {
          CAPTURE(dev.str());
          CAPTURE(dtype_name(dt));
          CAPTURE(c.x.str());
          CAPTURE(relu);
          const Layout l8 = find_layout(dev, "nChw8c"), l16 = find_layout(dev, "nChw16c");
          Tensor x = rand_t(c.x, 11, dt, dev), w = rand_t(Shape{c.o, c.x[1], c.k, c.k}, 12, dt, dev);
          Tensor b = rand_t(Shape{c.o}, 13, dt, dev);
          Conv2dOptions opt{.stride = {c.s, c.s}, .padding = {c.p, c.p}};
          auto conv = [&](const Tensor& in, const Conv2dOptions& o) {
            return relu ? conv2d_relu(in, w, b, o, 0.1) : conv2d(in, w, b, o);
          };
          const Tensor ref = conv(x, opt);
          // Every input / output layout pair; the one matching the primitive's own layout
          // (nChw8c on AVX2, nChw16c on AVX-512 for the large case) runs with no reorder.
          for (Layout in : {kStrided, l8, l16})
            for (Layout out : {kStrided, l8, l16}) {
              Conv2dOptions o = opt;
              o.out_layout = out;
              const Tensor y = conv(to_layout(x, in), o);
              CHECK(y.layout() == out);
              CHECK(same_values(to_strided(y), ref));
            }
        }
  {  // A backend without the fused activation: the fallback's output is converted at the end.
    Tensor x = rand_t(Shape{2, 3, 6, 6}, 14, DType::f32, kSim);
    Tensor w = rand_t(Shape{4, 3, 3, 3}, 15, DType::f32, kSim);
    const Layout l8 = find_layout(kSim, "nChw8c");
    const bool before = sim_decline(Kernel::conv2d_forward_relu, true);
    const Tensor ref = conv2d_relu(x, w, Tensor(), {}, 0.1);  // the same fallback, strided
    const Tensor y = conv2d_relu(to_layout(x, l8), w, Tensor(), {.out_layout = l8}, 0.1);
    sim_decline(Kernel::conv2d_forward_relu, before);
    CHECK(y.layout() == l8);
    CHECK(same_values(to_strided(y), ref));
  }
}

TEST_CASE("layout: gradients flow through to_layout / to_strided and blocked convolutions") {
  const Layout l8 = find_layout(kCPU, "nChw8c"), l16 = find_layout(kCPU, "nChw16c");
  // f64 gradient checks (the CPU converts f64 with its index loop, conv runs the reference).
  gradcheck([&](const TensorList& in) { return square(to_strided(to_layout(in[0], l8))); },
            {rand64(Shape{2, 3, 2, 3}, 21)}, "to_strided(to_layout(x))");
  gradcheck(
      [&](const TensorList& in) {
        Tensor y = to_layout(to_layout(in[0], l8), l16);  // format -> format
        return to_strided(y) * to_strided(y);               // fan-in at a blocked tensor
      },
      {rand64(Shape{1, 9, 2, 2}, 22)}, "fan-in of a blocked tensor");
  gradcheck(
      [&](const TensorList& in) {
        Conv2dOptions o{.padding = {1, 1}, .out_layout = l8};
        return to_strided(conv2d_relu(to_layout(in[0], l8), in[1], in[2], o, 0.2));
      },
      {rand64(Shape{2, 3, 4, 4}, 23), rand64(Shape{4, 3, 3, 3}, 24), rand64(Shape{4}, 25)},
      "conv2d_relu with blocked input and output");

  // f32: the gradients of the blocked path equal the strided path's exactly.
  Tensor x = rand_t(Shape{4, 16, 16, 16}, 26), w = rand_t(Shape{16, 16, 3, 3}, 27);
  auto grads = [&](bool blocked) {
    Tensor xl = x.detach().set_requires_grad(true), wl = w.detach().set_requires_grad(true);
    Conv2dOptions o{.padding = {1, 1}, .out_layout = blocked ? l8 : kStrided};
    Tensor y = conv2d(blocked ? to_layout(xl, l8) : xl, wl, Tensor(), o);
    sum(square(to_strided(y))).backward();
    return std::make_pair(xl.grad(), wl.grad());
  };
  const auto [gx, gw] = grads(false);
  const auto [bx, bw] = grads(true);
  CHECK(same_values(bx, gx));
  CHECK(same_values(bw, gw));

  // A blocked leaf gets a strided (contiguous) .grad.
  Tensor leaf = to_layout(x, l8).detach().set_requires_grad(true);
  CHECK(leaf.layout() == l8);
  sum(to_strided(leaf)).backward();
  REQUIRE(leaf.grad().defined());
  CHECK(leaf.grad().is_contiguous());
  CHECK(same_values(leaf.grad(), Tensor::ones(x.shape())));
}

TEST_CASE("layout: the four conv ops take and give every layout forward and backward, "
          "bit-identical to strided") {
  // Input layout x output layout, for conv2d and conv_transpose2d with and without bias and
  // (leaky) ReLU, at a channel count that fills the blocks (16) and one that pads them (12: the
  // transpose's bias then runs through a strided copy, the activation mask over the padding).
  // The gradient reaches the op in the output's layout (to_strided's backward) and dx must come
  // back in x's layout; every value equals the all-strided run exactly.
  for (Device dev : {kCPU, kSim})
    for (int64_t c : {16, 12})
      for (bool transposed : {false, true})
        for (int act : {0, 1, 2}) {  // none, relu, leaky
          for (bool bias : {true, false}) {
            CAPTURE(dev.str());
            CAPTURE(c);
            CAPTURE(transposed);
            CAPTURE(act);
            CAPTURE(bias);
            const Layout l8 = find_layout(dev, "nChw8c"), l16 = find_layout(dev, "nChw16c");
            const Tensor x0 = rand_t(Shape{2, c, 6, 6}, 31, DType::f32, dev);
            const Tensor w0 = rand_t(Shape{c, c, 4, 4}, 32, DType::f32, dev);
            const Tensor b0 = rand_t(Shape{c}, 33, DType::f32, dev);
            const Tensor r = rand_t(transposed ? Shape{2, c, 12, 12} : Shape{2, c, 3, 3}, 34,
                                    DType::f32, dev);
            auto run = [&](Layout in, Layout out) {
              Tensor x = x0.detach().set_requires_grad(true);
              Tensor w = w0.detach().set_requires_grad(true);
              Tensor b = bias ? b0.detach().set_requires_grad(true) : Tensor();
              Conv2dOptions o{.stride = {2, 2}, .padding = {1, 1}, .out_layout = out};
              const Tensor xin = to_layout(x, in);
              Tensor y;
              if (transposed)
                y = act ? conv_transpose2d_relu(xin, w, b, o, act == 2 ? 0.1 : 0.0)
                        : conv_transpose2d(xin, w, b, o);
              else
                y = act ? conv2d_relu(xin, w, b, o, act == 2 ? 0.1 : 0.0) : conv2d(xin, w, b, o);
              CHECK(y.layout() == out);
              // dx in x's layout: caught at the to_layout node, whose own input is strided.
              const Tensor ys = y.detach().with_layout(kStrided);
              TensorList gs = grad({sum(to_strided(y) * r)}, bias ? TensorList{x, w, b}
                                                                   : TensorList{x, w});
              gs.insert(gs.begin(), ys);
              return gs;
            };
            const TensorList ref = run(kStrided, kStrided);
            for (Layout in : {kStrided, l8, l16})
              for (Layout out : {kStrided, l8, l16}) {
                const TensorList got = run(in, out);
                REQUIRE(got.size() == ref.size());
                for (size_t i = 0; i < ref.size(); ++i) {
                  CAPTURE(i);
                  CHECK(same_values(got[i], ref[i]));
                }
              }
          }
        }
  // f64 (the reference loops) through blocked operands of the transpose: gradient check.
  const Layout l8 = find_layout(kCPU, "nChw8c");
  gradcheck(
      [&](const TensorList& in) {
        Conv2dOptions o{.stride = {2, 2}, .padding = {1, 1}, .out_layout = l8};
        return to_strided(conv_transpose2d_relu(to_layout(in[0], l8), in[1], in[2], o, 0.2));
      },
      {rand64(Shape{2, 3, 3, 3}, 37), rand64(Shape{3, 4, 4, 4}, 38), rand64(Shape{4}, 39)},
      "conv_transpose2d_relu with blocked input and output");
}

TEST_CASE("layout: generic ops refuse a blocked tensor, naming it and the fix") {
  for (Device dev : {kCPU, kSim}) {
    CAPTURE(dev.str());
    Tensor x = rand_t(Shape{2, 3, 4, 4}, 31, DType::f32, dev);
    Tensor xb = to_layout(x, find_layout(dev, "nChw8c"));
    const auto refused = doctest::Contains("is in a backend layout");
    CHECK_FALSE(xb.is_contiguous());
    CHECK_FALSE(xb.is_strided());
    CHECK_THROWS_WITH_AS(exp(xb), refused, Error);
    CHECK_THROWS_WITH_AS(xb + x, refused, Error);
    CHECK_THROWS_WITH_AS(x * xb, refused, Error);
    CHECK_THROWS_WITH_AS(sum(xb), refused, Error);
    CHECK_THROWS_WITH_AS(reshape(xb, Shape{2, -1}), refused, Error);
    CHECK_THROWS_WITH_AS(permute(xb, {0, 2, 3, 1}), refused, Error);
    CHECK_THROWS_WITH_AS(slice(xb, 1, 0, 2), refused, Error);
    CHECK_THROWS_WITH_AS(contiguous(xb), refused, Error);
    CHECK_THROWS_WITH_AS(to(xb, DType::f64), refused, Error);
    CHECK_THROWS_WITH_AS(matmul(reshape(xb, Shape{6, 16}), Tensor::ones(Shape{16, 2})), refused,
                         Error);
    // The convolutions take activations in any layout, never weights.
    const Tensor wb = to_layout(rand_t(Shape{3, 2, 3, 3}, 32, DType::f32, dev),
                                find_layout(dev, "nChw8c"));
    CHECK_THROWS_WITH_AS(conv_transpose2d(x, wb), refused, Error);
    CHECK_THROWS_WITH_AS(conv2d(x, to_layout(rand_t(Shape{2, 3, 3, 3}, 32, DType::f32, dev),
                                             find_layout(dev, "nChw8c"))),
                         refused, Error);
    CHECK_THROWS_WITH_AS(batch_norm(xb, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
                         refused, Error);
    CHECK_THROWS_WITH_AS(xb.view(), doctest::Contains("Convert it first with to_strided(x)"), Error);
    const std::string named = fmt::format("{{{}:nChw8c}}", dev.is_cpu() ? "cpu" : "sim");
    CHECK_THROWS_WITH_AS(xb.strides(), doctest::Contains(named.c_str()), Error);
    if (dev.is_cpu()) CHECK_THROWS_WITH_AS(xb.data<float>(), refused, Error);
  }
  // The conv backward kernels refuse a blocked weight-side view handed to them directly.
  Tensor x = rand_t(Shape{2, 8, 4, 4}, 33), w = rand_t(Shape{8, 8, 3, 3}, 34);
  Tensor xb = to_layout(x, find_layout(kCPU, "nChw8c"));
  Tensor dwb = Tensor::empty(w.shape(), DType::f32, kCPU, find_layout(kCPU, "nChw8c"));
  CHECK_THROWS_WITH_AS(backend(kCPU).conv2d_backward_weights(xb.layout_view(), x.view(),
                                                             dwb.layout_view(), TensorView{},
                                                             Conv2dParams{.pad_h = 1, .pad_w = 1}),
                       doctest::Contains("reads strided tensors only"), Error);
}

TEST_CASE("layout: item, to_vector, to(device), files and checkpoints hold the logical values") {
  const Layout l8 = find_layout(kCPU, "nChw8c");
  Tensor x = rand_t(Shape{2, 3, 4, 5}, 41);
  Tensor xb = to_layout(x, l8);
  CHECK(xb.to_vector<float>() == x.to_vector<float>());
  CHECK(to_layout(Tensor::full(Shape{1, 1, 1, 1}, 2.5), l8).item() == 2.5);
  // Across devices: the logical values, strided on arrival (format ids are per backend).
  Tensor xs = to(xb, kSim);
  CHECK(xs.is_strided());
  CHECK(same_values(xs, x));
  Tensor sb = to_layout(to(x, kSim), find_layout(kSim, "nChw16c"));
  CHECK(sb.to_vector<float>() == x.to_vector<float>());
  Tensor back = to(sb, kCPU);
  CHECK(back.is_strided());
  CHECK(same_values(back, x));
  {  // the gradient crosses back through the conversion and the move
    Tensor leaf = to(x, kSim).detach().set_requires_grad(true);
    sum(to(to_layout(leaf, find_layout(kSim, "nChw8c")), kCPU)).backward();
    CHECK(same_values(leaf.grad(), Tensor::ones(x.shape(), DType::f32, kSim)));
  }

  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("unravel_test_layout_{}", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string st = (dir / "t.safetensors").string(), np = (dir / "t.npy").string();
  save_safetensors(st, {{"cpu", xb}, {"sim", sb}});
  const SafetensorsData d = load_safetensors(st);
  CHECK(same_values(d.tensors.at("cpu"), x));
  CHECK(same_values(d.tensors.at("sim"), x));
  save_npy(np, xb);
  CHECK(same_values(load_npy(np), x));

  // A model whose weight is held blocked saves its logical values.
  Generator g(5);
  auto make = [&] { return std::make_shared<nn::Conv2d>(3, 8, 3, g); };
  auto m = make(), fresh = make();
  Tensor wt, fresh_w;
  for (const auto& [name, t] : m->named_parameters())
    if (name == "weight") wt = t;
  for (const auto& [name, t] : fresh->named_parameters())
    if (name == "weight") fresh_w = t;
  REQUIRE(wt.defined());
  REQUIRE(fresh_w.defined());
  const Tensor w_values = clone(wt).detach();
  const Tensor wb = to_layout(wt.detach(), l8);
  wt.impl()->storage = wb.storage();  // rebind the parameter to blocked storage in place
  wt.impl()->strides = Strides{};
  wt.impl()->layout = l8;
  CHECK(wt.desc() == "f32[8, 3, 3, 3]{cpu:nChw8c}");
  save_checkpoint((dir / "m.ckpt").string(), *m);
  load_checkpoint((dir / "m.ckpt").string(), *fresh);
  CHECK(same_values(fresh_w, w_values));
  std::filesystem::remove_all(dir);
}

TEST_CASE("layout: a backend without layouts says so") {
  CHECK(std::string(kernel_name(Kernel::layout_convert)) == "layout_convert");
  CHECK(backend(kCPU).supports(Kernel::layout_convert));
  NoLayoutBackend none;
  CHECK_FALSE(none.supports(Kernel::layout_convert));
  CHECK(none.find_layout("nChw8c") == 0);
  CHECK(none.layout_name(3) == "format 3");
  CHECK_THROWS_WITH_AS(none.convert_layout(TensorView{}, TensorView{}),
                       doctest::Contains("layout_convert has no nolayout implementation"), Error);
  CHECK_THROWS_WITH_AS(none.layout_nbytes(1, Shape{1, 1, 1, 1}, DType::f32),
                       doctest::Contains("layout_convert has no nolayout implementation"), Error);

  // The sim device declining the family behaves the same through the public ops.
  Tensor x = rand_t(Shape{1, 3, 2, 2}, 51, DType::f32, kSim);
  Tensor xb = to_layout(x, find_layout(kSim, "nChw8c"));  // made while it was supported
  const bool before = sim_decline(Kernel::layout_convert, true);
  CHECK_FALSE(backend(kSim).supports(Kernel::layout_convert));
  CHECK_THROWS_WITH_AS(find_layout(kSim, "nChw8c"),
                       doctest::Contains("it has no layouts: layout_convert is not implemented"),
                       Error);
  CHECK_THROWS_WITH_AS(to_strided(xb), doctest::Contains("layout_convert has no sim implementation"),
                       Error);
  sim_decline(Kernel::layout_convert, before);
  CHECK(same_values(to_strided(xb), x));
}
