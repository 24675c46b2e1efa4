// Loaders and the batcher: IDX round trips and refusals (wrong magic, truncated, corrupt gzip),
// MNIST-style folders (labels, resize to 32, clamping), the real Fashion-MNIST files when
// installed, the pinwheel generator, PNG folders written here with libpng, and the batcher
// (each index once per epoch, drop-last, reproducible, resumable, no per-batch allocation).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <set>
#include <string>

#include "datasets/batcher.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "datasets/mnist.h"
#include "datasets/pinwheel.h"
#include "datasets/png.h"
#include "engine/check.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("unravel_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

/// A tiny MNIST-like folder: n images whose pixels are (label·20 + row) and labels i % 10.
void write_fake_mnist(const fs::path& dir, bool train, int n) {
  IdxArray img{0x08, {n, 28, 28}, {}}, lab{0x08, {n}, {}};
  for (int i = 0; i < n; ++i) {
    lab.data.push_back(static_cast<uint8_t>(i % 10));
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) img.data.push_back(static_cast<uint8_t>((i % 10) * 20 + r));
  }
  write_idx(mnist_file(dir.string(), train, true), img, true);
  write_idx(mnist_file(dir.string(), train, false), lab, true);
}

/// Item i is the single value i; label i % 3.
class CountingDataset final : public Dataset {
 public:
  explicit CountingDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Shape item_shape() const override { return Shape{1}; }
  std::string name() const override { return "counting"; }
  void get_batch(std::span<const int64_t> idx, Tensor& out) const override {
    check_batch_args(idx, out);
    for (size_t b = 0; b < idx.size(); ++b) out.data<float>()[b] = static_cast<float>(idx[b]);
    out.bump_version();
  }
  bool has_labels() const override { return true; }
  int64_t num_classes() const override { return 3; }
  int64_t label(int64_t i) const override { return i % 3; }

 private:
  int64_t n_;
};

std::vector<int64_t> batch_values(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<int64_t>(t.data<float>()[i]));
  return v;
}

}  // namespace

TEST_CASE("idx: round trips plain and gzip, big-endian types") {
  const fs::path dir = temp_dir("idx");
  IdxArray u8{0x08, {3, 4, 5}, {}};
  for (int i = 0; i < 60; ++i) u8.data.push_back(static_cast<uint8_t>(i * 4));
  IdxArray i32{0x0C, {4}, {}};
  for (int32_t v : {1, -2, 70000, -1234567}) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    i32.data.insert(i32.data.end(), b, b + 4);
  }
  IdxArray f64{0x0E, {2, 1}, {}};
  for (double v : {3.25, -1e300}) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    f64.data.insert(f64.data.end(), b, b + 8);
  }
  for (bool gz : {false, true})
    for (const IdxArray* a : {&u8, &i32, &f64}) {
      const std::string p = (dir / (std::string("a") + (gz ? ".gz" : ""))).string();
      write_idx(p, *a, gz);
      IdxArray b = read_idx(p);
      CHECK(b.type == a->type);
      CHECK(b.dims == a->dims);
      CHECK(b.data == a->data);
      CHECK((slurp(p).substr(0, 2) == "\x1f\x8b") == gz);
    }
  // The big-endian encoding on disk: 70000 = 0x00011170.
  write_idx((dir / "i32").string(), i32, false);
  const std::string raw = slurp((dir / "i32").string());
  CHECK(raw.substr(0, 4) == std::string("\0\0\x0c\x01", 4));
  CHECK(raw.substr(8 + 8, 4) == std::string("\x00\x01\x11\x70", 4));
  fs::remove_all(dir);
}

TEST_CASE("idx: wrong magic, unknown type, truncated and corrupt files are refused") {
  const fs::path dir = temp_dir("idxbad");
  IdxArray a{0x08, {10, 28, 28}, std::vector<uint8_t>(7840, 7)};
  const std::string plain = (dir / "plain").string(), gz = (dir / "x.gz").string();
  write_idx(plain, a, false);
  write_idx(gz, a, true);
  const std::string p = slurp(plain), z = slurp(gz);
  auto bad = [&](const std::string& name, const std::string& content, const char* msg) {
    const std::string path = (dir / name).string();
    spit(path, content);
    CHECK_THROWS_WITH_AS(read_idx(path), doctest::Contains(msg), Error);
    CHECK_THROWS_WITH_AS(read_idx(path), doctest::Contains(name.c_str()), Error);
  };
  std::string m = p, t = p;
  m[0] = 1;
  t[2] = 7;
  bad("magic", m, "bad magic number");
  bad("type", t, "unknown IDX type");
  bad("short_data", p.substr(0, p.size() - 100), "truncated");
  bad("short_head", p.substr(0, 9), "truncated inside its header");
  bad("tiny", "\0\0", "truncated");
  bad("trailing", p + "xx", "trailing bytes");
  bad("short.gz", z.substr(0, z.size() / 2), "truncated");
  std::string corrupt = z;
  for (size_t k = 20; k < 40; ++k) corrupt[k] = static_cast<char>(corrupt[k] ^ 0x33);
  bad("corrupt.gz", corrupt, "corrupt gzip");
  CHECK_THROWS_WITH_AS(read_idx((dir / "nope").string()), doctest::Contains("cannot open"), Error);
  fs::remove_all(dir);
}

TEST_CASE("mnist: loads a folder, labels, resize to 32, clamp, refuses swapped files") {
  const fs::path dir = temp_dir("mnist");
  write_fake_mnist(dir, true, 25);
  write_fake_mnist(dir, false, 7);
  Mnist train(MnistOptions{.dir = dir.string(), .train = true});
  Mnist test(MnistOptions{.dir = dir.string(), .train = false, .out_size = 32, .clamp = 1e-6});
  CHECK(train.size() == 25);
  CHECK(test.size() == 7);
  CHECK(train.item_shape() == Shape{1, 28, 28});
  CHECK(test.item_shape() == Shape{1, 32, 32});
  CHECK(train.label(13) == 3);
  CHECK(train.label_table().data<int64_t>()[24] == 4);
  Tensor b = train.make_batch_tensor(2);
  train.get_batch(std::vector<int64_t>{3, 0}, b);
  CHECK(b.data<float>()[5 * 28 + 9] == doctest::Approx((3 * 20 + 5) / 255.0));
  CHECK(b.data<float>()[784] == 0.f);
  // Rows are constant, so the resized image is constant along rows and increases down columns
  // from about row 0's value to row 27's.
  Tensor r = test.make_batch_tensor(1);
  test.get_batch(std::vector<int64_t>{2}, r);
  const float* q = r.data<float>();
  for (int y = 0; y < 32; ++y)
    for (int x = 1; x < 32; ++x) REQUIRE(q[y * 32 + x] == doctest::Approx(q[y * 32]).epsilon(1e-5));
  for (int y = 1; y < 32; ++y) CHECK(q[y * 32] >= q[(y - 1) * 32]);
  CHECK(q[0] == doctest::Approx(40 / 255.0).epsilon(1e-4));
  CHECK(q[31 * 32] == doctest::Approx(67 / 255.0).epsilon(1e-4));
  // Clamping: the all-zero... image 0 has label 0, row 0 = 0 → clamped to 1e-6.
  test.get_batch(std::vector<int64_t>{0}, r);
  CHECK(r.data<float>()[0] == doctest::Approx(1e-6).epsilon(1e-3));
  // Swapped files: images where labels are expected.
  fs::copy_file(mnist_file(dir.string(), true, true), mnist_file(dir.string(), false, false),
                fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH_AS(Mnist(MnistOptions{.dir = dir.string(), .train = false}),
                       doctest::Contains("t10k-labels-idx1-ubyte.gz"), Error);
  CHECK_THROWS_WITH_AS(Mnist(MnistOptions{.dir = (dir / "none").string()}),
                       doctest::Contains("train-images-idx3-ubyte.gz"), Error);
  fs::remove_all(dir);
}

TEST_CASE("fashion-mnist: the installed files load (60000/10000, labels 0..9)") {
  if (!fs::exists(mnist_file(kFashionMnistDir, true, true))) {
    MESSAGE("skipped: " << kFashionMnistDir << " not found (apt-get install dataset-fashion-mnist)");
    return;
  }
  Mnist train(MnistOptions{.train = true, .out_size = 32});
  Mnist test(MnistOptions{.train = false});
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  std::vector<int> count(10, 0);
  for (int64_t i = 0; i < train.size(); ++i) ++count[train.label(i)];
  for (int c : count) CHECK(c == 6000);
  Tensor b = train.make_batch_tensor(16);
  std::vector<int64_t> idx(16);
  for (int i = 0; i < 16; ++i) idx[i] = i * 3701;
  train.get_batch(idx, b);
  const float* p = b.data<float>();
  CHECK(*std::min_element(p, p + b.numel()) >= 0.f);
  CHECK(*std::max_element(p, p + b.numel()) <= 1.f);
  CHECK(*std::max_element(p, p + b.numel()) > 0.9f);
  CHECK(fashion_mnist_classes()[train.label(0)] == "Ankle boot");  // the first training item
}

TEST_CASE("pinwheel: shape, arms and reproducibility") {
  Generator g(7);
  Pinwheel pw(PinwheelOptions{}, g);
  CHECK(pw.size() == 400);
  CHECK(pw.item_shape() == Shape{2});
  CHECK(g.offset() == 800);  // two normals per point
  CHECK(pw.label(0) == 0);
  CHECK(pw.label(399) == 3);
  CHECK(pw.label(100) == 1);
  Generator g2(7);
  Pinwheel again(PinwheelOptions{}, g2);
  Generator g3(8);
  Pinwheel other(PinwheelOptions{}, g3);
  CHECK(pw.point(123) == again.point(123));
  CHECK(pw.point(123) != other.point(123));
  // Radius ≈ f₁ ~ N(1, 0.3²): mean ≈ 1. Each arm's circular mean angle is the previous one
  // minus 2π/4 (points are rotated by −angle).
  double rsum = 0, mean_angle[4];
  for (int c = 0; c < 4; ++c) {
    double sx = 0, sy = 0;
    for (int i = c * 100; i < c * 100 + 100; ++i) {
      auto [x, y] = pw.point(i);
      rsum += std::hypot(x, y);
      sx += x / std::hypot(x, y);
      sy += y / std::hypot(x, y);
    }
    mean_angle[c] = std::atan2(sy, sx);
  }
  CHECK(rsum / 400 == doctest::Approx(1.0).epsilon(0.1));
  CHECK(std::abs(mean_angle[0] + 0.25 * std::exp(1.0)) < 0.1);
  // Without noise each arm is one point: f = (1, 0) turned by a = 2πc/C + rate·e^1, i.e.
  // (cos a, −sin a) (Adams's pinwheel.m, row vector times [[cos, −sin], [sin, cos]]).
  Generator g0(1);
  Pinwheel exact(PinwheelOptions{0.0, 0.0, 4, 1, 0.25}, g0);
  for (int c = 0; c < 4; ++c) {
    const double a = std::numbers::pi / 2 * c + 0.25 * std::exp(1.0);
    CAPTURE(c);
    CHECK(exact.point(c).first == doctest::Approx(std::cos(a)).epsilon(1e-6));
    CHECK(exact.point(c).second == doctest::Approx(-std::sin(a)).epsilon(1e-6));
  }
  for (int c = 1; c < 4; ++c) {
    double d = std::remainder(mean_angle[c] - mean_angle[c - 1] + std::numbers::pi / 2, 2 * std::numbers::pi);
    CHECK(std::abs(d) < 0.25);
  }
  Tensor b = pw.make_batch_tensor(2);
  pw.get_batch(std::vector<int64_t>{5, 300}, b);
  CHECK(b.data<float>()[2] == doctest::Approx(pw.point(300).first));
}

TEST_CASE("png: write/read round trip and a folder dataset") {
  const fs::path dir = temp_dir("png");
  std::vector<uint8_t> grad(10 * 8);
  for (int i = 0; i < 80; ++i) grad[i] = static_cast<uint8_t>(i * 3);
  write_png_gray((dir / "b.png").string(), 10, 8, grad.data());
  Image8 back = read_png((dir / "b.png").string(), 1);
  CHECK(back.width == 10);
  CHECK(back.height == 8);
  CHECK(back.data == grad);
  std::vector<uint8_t> red(20 * 20 * 3, 0);
  for (int i = 0; i < 400; ++i) red[i * 3] = 255;
  write_png_rgb((dir / "a.PNG").string(), 20, 20, red.data());
  std::vector<uint8_t> flat(30 * 12, 200);
  write_png_gray((dir / "c.png").string(), 30, 12, flat.data());
  spit((dir / "notes.txt").string(), "ignored");

  ImageFolder grey(dir.string(), ImageFolderOptions{.channels = 1, .height = 16, .width = 16});
  REQUIRE(grey.size() == 3);
  CHECK(grey.file_name(0) == "a.PNG");
  CHECK(grey.file_name(1) == "b.png");
  CHECK(grey.file_name(2) == "c.png");
  Tensor t = grey.make_batch_tensor(3);
  grey.get_batch(std::vector<int64_t>{2, 0, 1}, t);
  const float* p = t.data<float>();
  for (int k = 0; k < 256; ++k) REQUIRE(p[k] == doctest::Approx(200 / 255.0));
  CHECK(p[256] > 0.1f);    // red as grey: dark but not black
  CHECK(p[256] < 0.7f);
  CHECK(p[2 * 256 + 15 * 16 + 15] > p[2 * 256]);  // the gradient survives the resize

  ImageFolder rgb(dir.string(), ImageFolderOptions{.channels = 3, .height = 5, .width = 7});
  Tensor u = rgb.make_batch_tensor(1);
  rgb.get_batch(std::vector<int64_t>{0}, u);
  CHECK(u.shape() == Shape{1, 3, 5, 7});
  CHECK(u.data<float>()[0] == 1.f);
  CHECK(u.data<float>()[35] == 0.f);  // green plane
  CHECK(u.data<float>()[70] == 0.f);  // blue plane

  spit((dir / "d.png").string(), "not really a png");
  CHECK_THROWS_WITH_AS(ImageFolder(dir.string()), doctest::Contains("d.png"), Error);
  CHECK_THROWS_WITH_AS(ImageFolder((dir / "nothing").string()), doctest::Contains("not a directory"),
                       Error);
  fs::remove_all(dir);
}

TEST_CASE("png: encode_png in memory round trips through read_png (grey and RGB)") {
  const fs::path dir = temp_dir("png_mem");
  std::vector<uint8_t> grey(13 * 7), rgb(9 * 5 * 3);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i * 37 % 256);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 11 % 256);
  std::vector<uint8_t> g = encode_png(13, 7, 1, grey.data());
  std::vector<uint8_t> c = encode_png(9, 5, 3, rgb.data());
  const std::string sig = "\x89PNG\r\n\x1a\n";
  REQUIRE(g.size() > sig.size());
  CHECK(std::string(g.begin(), g.begin() + 8) == sig);
  spit((dir / "g.png").string(), std::string(g.begin(), g.end()));
  spit((dir / "c.png").string(), std::string(c.begin(), c.end()));
  Image8 gb = read_png((dir / "g.png").string(), 1);
  CHECK(gb.width == 13);
  CHECK(gb.height == 7);
  CHECK(gb.data == grey);
  Image8 cb = read_png((dir / "c.png").string(), 3);
  CHECK(cb.width == 9);
  CHECK(cb.height == 5);
  CHECK(cb.data == rgb);
  // The same bytes as the file writer's.
  write_png_gray((dir / "f.png").string(), 13, 7, grey.data());
  CHECK(slurp((dir / "f.png").string()) == std::string(g.begin(), g.end()));
  CHECK_THROWS_WITH_AS(encode_png(4, 4, 2, grey.data()), doctest::Contains("1 or 3"), Error);
  fs::remove_all(dir);
}

TEST_CASE("batcher: each index once per epoch, drop-last, reproducible, resumable") {
  CountingDataset data(10);
  {
    Batcher b(data, BatcherOptions{.batch_size = 3, .shuffle = true, .drop_last = false}, Generator(5));
    CHECK(b.batches_per_epoch() == 4);
    std::vector<int64_t> seen;
    const void* storage = nullptr;
    for (int k = 0; k < 4; ++k) {
      const Tensor& t = b.next();
      CHECK(t.shape()[0] == (k < 3 ? 3 : 1));
      if (!storage) storage = t.storage().get();
      CHECK(t.storage().get() == storage);  // the same buffer every batch
      auto v = batch_values(t);
      CHECK(v == std::vector<int64_t>(b.indices().begin(), b.indices().end()));
      const Tensor& l = b.labels();
      for (size_t i = 0; i < v.size(); ++i) CHECK(l.data<int64_t>()[i] == v[i] % 3);
      seen.insert(seen.end(), v.begin(), v.end());
    }
    CHECK(b.epoch_done());
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 10; ++i) CHECK(sorted[i] == i);
    CHECK(seen != sorted);  // shuffled
    auto first = batch_values(b.next());
    CHECK(b.epoch() == 1);
    CHECK(first != std::vector<int64_t>(seen.begin(), seen.begin() + 3));  // a new permutation
  }
  {
    Batcher b(data, BatcherOptions{.batch_size = 3}, Generator(5));
    CHECK(b.batches_per_epoch() == 3);
    std::set<int64_t> s;
    for (int k = 0; k < 3; ++k)
      for (int64_t v : batch_values(b.next())) s.insert(v);
    CHECK(s.size() == 9);
    CHECK(b.epoch_done());
  }
  // Reproducible from the seed, and resumable from a saved state mid-epoch.
  CountingDataset big(100);
  BatcherOptions o{.batch_size = 8};
  Batcher a(big, o, Generator(11)), c(big, o, Generator(11)), d(big, o, Generator(12));
  std::vector<int64_t> va, vc, vd;
  for (int k = 0; k < 20; ++k) {
    for (int64_t v : batch_values(a.next())) va.push_back(v);
    for (int64_t v : batch_values(c.next())) vc.push_back(v);
    for (int64_t v : batch_values(d.next())) vd.push_back(v);
  }
  CHECK(va == vc);
  CHECK(va != vd);
  const BatcherState st = a.state();
  CHECK(st.epoch == 1);
  CHECK(st.position == 64);
  std::vector<int64_t> cont, resumed;
  for (int k = 0; k < 30; ++k)
    for (int64_t v : batch_values(a.next())) cont.push_back(v);
  Batcher r(big, o, Generator(999));
  r.restore(st);
  for (int k = 0; k < 30; ++k)
    for (int64_t v : batch_values(r.next())) resumed.push_back(v);
  CHECK(cont == resumed);
  CHECK_THROWS_WITH_AS(Batcher(data, BatcherOptions{.batch_size = 11}, Generator(1)),
                       doctest::Contains("drop_last"), Error);
}

TEST_CASE("batcher on a device: the dataset stays resident there and batches equal the host's") {
  Generator g(3);
  Pinwheel pw(PinwheelOptions{}, g);
  BatcherOptions host_opts;
  host_opts.batch_size = 37;  // not a divisor: epochs roll over mid-way
  host_opts.drop_last = false;
  BatcherOptions dev_opts = host_opts;
  dev_opts.device = sim_device(0);
  Batcher a(pw, host_opts, Generator(9)), b(pw, dev_opts, Generator(9));
  const int64_t per_epoch = a.batches_per_epoch();
  for (int64_t i = 0; i < 2 * per_epoch + 3; ++i) {
    const Tensor& xa = a.next();
    const Tensor& xb = b.next();
    CAPTURE(i);
    REQUIRE(xb.device() == sim_device(0));
    CHECK(xa.shape() == xb.shape());
    CHECK(xa.to_vector<float>() == xb.to_vector<float>());
    CHECK(a.labels().to_vector<int64_t>() == b.labels().to_vector<int64_t>());
  }
  // Resume lands on the same batch.
  Batcher c(pw, dev_opts, Generator(9));
  c.restore(b.state());
  CHECK(c.next().to_vector<float>() == a.next().to_vector<float>());
  // Over the residency limit: assembled on the host (the step uploads it).
  dev_opts.resident_limit_bytes = 16;
  Batcher d(pw, dev_opts, Generator(9));
  CHECK(d.next().device() == kCPU);
}
