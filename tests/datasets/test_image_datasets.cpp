// JPEG/PNG image datasets on small files written here with libjpeg-turbo and libpng: the JPEG
// reader (round trip, grey from colour, truncated/wrong files named in the error), the decoded
// cache (same pixels as decoding to memory, reused when fresh, rebuilt when a file changes or
// the cache file is damaged, built once when many open it at once), CelebA laid out as
// published (crop box, 40 attributes as factors, refusals), 3D chairs (model labels) and the
// prefetching worker (the same batches as without it, resumable state, clean stop).
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/image_cache.h"
#include "datasets/image_folder.h"
#include "datasets/jpeg.h"
#include "datasets/photo_datasets.h"
#include "datasets/png.h"
#include "datasets/prefetch.h"
#include "datasets/registry.h"
#include "engine/check.h"
#include "tests/datasets/scratch_files.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) { return test::scratch_dir("unravel_img", tag); }
using test::slurp;
using test::spit;

/// w × h RGB: red ramps with x, green with y, blue = `b`.
std::vector<uint8_t> ramp(int w, int h, uint8_t b) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / (w - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (h - 1));
      p[2] = b;
    }
  return px;
}

}  // namespace

TEST_CASE("jpeg: round trip, grey from colour, truncated and wrong files are named") {
  const fs::path dir = temp_dir("jpeg");
  const auto px = ramp(40, 30, 100);
  write_jpeg((dir / "a.jpg").string(), 40, 30, 3, px.data(), 95);
  const Image8 rgb = read_jpeg((dir / "a.jpg").string(), 3);
  REQUIRE(rgb.width == 40);
  REQUIRE(rgb.height == 30);
  REQUIRE(rgb.channels == 3);
  int worst = 0;
  for (size_t i = 0; i < px.size(); ++i) worst = std::max(worst, std::abs(int(px[i]) - int(rgb.data[i])));
  CHECK(worst < 24);  // lossy, but close at quality 95
  const Image8 grey = read_image((dir / "a.jpg").string(), 1);
  REQUIRE(grey.channels == 1);
  REQUIRE(grey.data.size() == 40u * 30u);
  // BT.601 luma of the first pixel (0, 0, 100) is about 11; of the last (255, 255, 100) about 238.
  CHECK(std::abs(int(grey.data[0]) - 11) < 12);
  CHECK(std::abs(int(grey.data.back()) - 238) < 12);

  const std::string bytes = slurp(dir / "a.jpg");
  spit(dir / "cut.jpg", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH_AS(read_image((dir / "cut.jpg").string(), 3), doctest::Contains("cut.jpg"), Error);
  spit(dir / "head.jpg", bytes.substr(0, 40));  // stops inside the headers
  CHECK_THROWS_WITH_AS(read_jpeg((dir / "head.jpg").string(), 3), doctest::Contains("head.jpg"), Error);
  spit(dir / "text.jpg", "GIF89a, not a jpeg");
  CHECK_THROWS_WITH_AS(read_image((dir / "text.jpg").string(), 3),
                       doctest::Contains("neither PNG nor JPEG"), Error);
  CHECK_THROWS_WITH_AS(read_jpeg((dir / "text.jpg").string(), 3), doctest::Contains("not a JPEG"),
                       Error);
  // A PNG named .jpg is read as the PNG it is.
  write_png_rgb((dir / "png_named.jpg").string(), 40, 30, px.data());
  CHECK(read_image((dir / "png_named.jpg").string(), 3).data == px);
  fs::remove_all(dir);
}

TEST_CASE("image folder: JPEG and PNG, RGB, cached pixels equal decoded ones, rebuilt when stale") {
  const fs::path dir = temp_dir("cache"), cache = dir / "cache";
  for (int i = 0; i < 5; ++i) {
    const auto px = ramp(48, 40, static_cast<uint8_t>(40 * i));
    if (i % 2) write_png_rgb((dir / ("img" + std::to_string(i) + ".png")).string(), 48, 40, px.data());
    else write_jpeg((dir / ("img" + std::to_string(i) + ".JPG")).string(), 48, 40, 3, px.data(), 90);
  }
  ImageFolderOptions o{.channels = 3, .height = 16, .width = 16, .crop_side = 32};
  ImageFolder mem(dir.string(), o);
  o.cache = true;
  o.cache_dir = cache.string();
  ImageFolder a(dir.string(), o);
  REQUIRE(a.size() == 5);
  CHECK(a.item_shape() == Shape{3, 16, 16});
  CHECK(a.items().is_mapped());
  CHECK(a.items().was_built());
  CHECK(!mem.items().is_mapped());
  Tensor ta = a.make_batch_tensor(5), tm = mem.make_batch_tensor(5);
  const std::vector<int64_t> idx = {4, 0, 3, 1, 2};
  a.get_batch(idx, ta);
  mem.get_batch(idx, tm);
  CHECK(ta.dtype() == DType::f32);
  CHECK(ta.shape() == Shape{5, 3, 16, 16});
  for (int64_t k = 0; k < 5 * 3 * 256; ++k) REQUIRE(ta.data<float>()[k] == tm.data<float>()[k]);
  // Blue plane of item 4 (index order) is 160/255 (a JPEG: within a few levels).
  CHECK(std::abs(ta.data<float>()[2 * 256 + 100] - 160 / 255.f) < 0.03f);

  ImageFolder b(dir.string(), o);  // fresh: mapped, not rebuilt
  CHECK(!b.items().was_built());
  CHECK(std::memcmp(b.pixels(0), a.pixels(0), 3 * 256) == 0);

  // Rewrite one file with other content: the fingerprint changes, the cache is rebuilt.
  const auto dark = std::vector<uint8_t>(48 * 40 * 3, 7);
  write_png_rgb((dir / "img1.png").string(), 48, 40, dark.data());
  ImageFolder c(dir.string(), o);
  CHECK(c.items().was_built());
  CHECK(c.pixels(1)[0] == 7);
  CHECK(a.pixels(1)[0] != 7);  // the old mapping stays valid for whoever holds it
  // A damaged cache file (cut short) is rebuilt, not read.
  const std::string path = image_cache_path(dir.string(), "folder", ImageDecodeSpec{3, 16, 16, 32},
                                            cache.string());
  REQUIRE(fs::exists(path));
  fs::resize_file(path, fs::file_size(path) - 100);
  ImageFolder d(dir.string(), o);
  CHECK(d.items().was_built());
  CHECK(fs::file_size(path) == 64 + 5 * 3 * 256);
  // Another format version in the header: rebuilt. A crashed builder's temp file: removed.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const char v = 99;
    f.write(&v, 1);
  }
  spit(path + ".tmp.99999999", "left by a killed builder");
  ImageFolder v(dir.string(), o);
  CHECK(v.items().was_built());
  CHECK(!fs::exists(path + ".tmp.99999999"));
  // An added file changes the listing.
  write_png_rgb((dir / "img9.png").string(), 48, 40, dark.data());
  ImageFolder e(dir.string(), o);
  CHECK(e.items().was_built());
  CHECK(e.size() == 6);
  // A truncated JPEG: the error names it; no cache is left half-written.
  const std::string bytes = slurp(dir / "img0.JPG");
  spit(dir / "img0.JPG", bytes.substr(0, bytes.size() - 200));
  CHECK_THROWS_WITH_AS(ImageFolder(dir.string(), o), doctest::Contains("img0.JPG"), Error);
  for (const auto& f : fs::directory_iterator(cache))
    CHECK(f.path().string().find(".tmp.") == std::string::npos);
  // Too small for the crop.
  fs::remove(dir / "img0.JPG");
  o.crop_side = 64;
  CHECK_THROWS_WITH_AS(ImageFolder(dir.string(), o), doctest::Contains("centre crop"), Error);
  fs::remove_all(dir);
}

TEST_CASE("image cache: many openers at once build it once and all map the same bytes") {
  const fs::path dir = temp_dir("race");
  for (int i = 0; i < 12; ++i) {
    const auto px = ramp(64, 64, static_cast<uint8_t>(i * 20));
    write_jpeg((dir / fmt::format("{:03d}.jpg", i)).string(), 64, 64, 3, px.data(), 85);
  }
  const auto files = list_image_files(dir.string());
  const ImageDecodeSpec spec{3, 32, 32, 0};
  const std::string path = image_cache_path(dir.string(), "race", spec, (dir / "c").string());
  std::atomic<int> built{0};
  std::vector<std::vector<uint8_t>> first(6);
  std::vector<std::thread> ts;
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&, t] {
      ImagePixels p = ImagePixels::cached(dir.string(), files, spec, path, false);
      built += p.was_built();
      first[t].assign(p.item(11), p.item(11) + p.item_bytes());
    });
  for (auto& t : ts) t.join();
  CHECK(built == 1);
  for (int t = 1; t < 6; ++t) CHECK(first[t] == first[0]);
  fs::remove_all(dir);
}

namespace {

/// A CelebA-like folder: n 178×218 JPEGs, white inside the 148×148 centre crop box
/// (x 15..162, y 35..182) and black outside, item i with blue = 20·i; attribute k of image i is
/// present when (i + k) is even.
fs::path write_celeba(const std::string& tag, int n, bool with_attr) {
  const fs::path root = temp_dir(tag), img = root / "img_align_celeba";
  fs::create_directories(img);
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> px(178 * 218 * 3, 0);
    for (int y = 35; y < 183; ++y)
      for (int x = 15; x < 163; ++x) {
        uint8_t* p = &px[(static_cast<size_t>(y) * 178 + x) * 3];
        p[0] = p[1] = 255;
        p[2] = static_cast<uint8_t>(20 * i);
      }
    write_jpeg((img / fmt::format("{:06d}.jpg", i + 1)).string(), 178, 218, 3, px.data(), 95);
  }
  if (with_attr) {
    std::string s = std::to_string(n) + "\n";
    for (int k = 0; k < 40; ++k) s += fmt::format("Attr_{} ", k);
    s += "\n";
    for (int i = 0; i < n; ++i) {
      s += fmt::format("{:06d}.jpg", i + 1);
      for (int k = 0; k < 40; ++k) s += (i + k) % 2 == 0 ? "  1" : " -1";
      s += "\n";
    }
    spit(root / "list_attr_celeba.txt", s);
  }
  return root;
}

}  // namespace

TEST_CASE("celeba: the published layout, crop box, 40 binary factors, clear refusals") {
  const fs::path root = write_celeba("celeba", 3, true);
  CelebA c(root.string(), PhotoOptions{.cache_dir = (root / "c").string(), .verbose = false});
  REQUIRE(c.size() == 3);
  CHECK(c.item_shape() == Shape{3, 64, 64});
  REQUIRE(c.num_factors() == 40);
  CHECK(c.factor_names()[39] == "Attr_39");
  CHECK(c.factor_sizes() == std::vector<int64_t>(40, 2));
  CHECK(c.factor_classes(0)[0] == 1);
  CHECK(c.factor_classes(0)[1] == 0);
  CHECK(c.factor_classes(1)[0] == 0);
  CHECK(c.factor_values(2)[2] == 1.0);
  Tensor t = c.make_batch_tensor(3);
  c.get_batch(std::vector<int64_t>{0, 1, 2}, t);
  // The crop keeps exactly the white box: red and green stay near 1 up to the item's border.
  const float* p = t.data<float>();
  for (int b = 0; b < 3; ++b)
    for (int k = 0; k < 2 * 64 * 64; ++k) REQUIRE(p[b * 3 * 4096 + k] > 0.85f);
  CHECK(std::abs(p[2 * 3 * 4096 + 2 * 4096 + 2080] - 40 / 255.f) < 0.03f);
  CHECK_THROWS_WITH_AS(c.index_of_factors(std::vector<int64_t>(40, 0)),
                       doctest::Contains("not a full grid"), Error);
  // A metric that renders images for fixed factors gets the same reason (not a factor-count
  // limit of the sampler).
  std::vector<int64_t> items(4);
  Generator g(1);
  CHECK_THROWS_WITH_AS(FactorSampler(c).sample_fixed(3, 1, items, g),
                       doctest::Contains("not a full grid"), Error);
  // Cache-backed items are gathered by train's background worker.
  CHECK(c.prefetch_batches());
  // The same through the registry (the cache beside the images is built there once).
  auto r = make_dataset("celeba", DatasetOptions{.data = root.string()});
  CHECK(r->size() == 3);
  CHECK(r->num_factors() == 40);
  CHECK(fs::is_directory(root / "img_align_celeba" / ".unravel-cache"));

  // Attribute files that are wrong: a short row (line named), a count that disagrees, a value.
  std::string attr = slurp(root / "list_attr_celeba.txt");
  const std::string good = attr;
  attr.replace(attr.rfind(" -1"), 3, "");
  spit(root / "list_attr_celeba.txt", attr);
  CHECK_THROWS_WITH_AS(CelebA(root.string(), PhotoOptions{.verbose = false}),
                       doctest::Contains("line 5"), Error);
  std::string four = good;
  four[0] = '4';
  spit(root / "list_attr_celeba.txt", four);
  CHECK_THROWS_WITH_AS(CelebA(root.string(), PhotoOptions{.verbose = false}),
                       doctest::Contains("declares 4 images"), Error);
  std::string two = good;
  two.replace(two.find("  1"), 3, "  2");
  spit(root / "list_attr_celeba.txt", two);
  CHECK_THROWS_WITH_AS(CelebA(root.string(), PhotoOptions{.verbose = false}),
                       doctest::Contains("expected 1 or -1"), Error);
  // Without the attribute file: images only, no factors.
  fs::remove(root / "list_attr_celeba.txt");
  CelebA bare((root / "img_align_celeba").string(), PhotoOptions{.verbose = false});
  CHECK(bare.num_factors() == 0);
  CHECK(bare.size() == 3);
  CHECK_THROWS_WITH_AS(make_dataset("celeba", DatasetOptions{.data = (root / "nope").string()}),
                       doctest::Contains("not a directory"), Error);
  fs::remove_all(root);
}

TEST_CASE("chairs: rendered_chairs/<model>/renders/*.png, labels are the models") {
  const fs::path root = temp_dir("chairs");
  const char* models[] = {"b_model", "a_model"};
  for (int m = 0; m < 2; ++m) {
    const fs::path r = root / "rendered_chairs" / models[m] / "renders";
    fs::create_directories(r);
    for (int v = 0; v < 1 + m; ++v) {
      std::vector<uint8_t> px(60 * 60 * 3, static_cast<uint8_t>(100 * m + 10 * v));
      write_png_rgb((r / fmt::format("image_{:03d}.png", v)).string(), 60, 60, px.data());
    }
  }
  auto d = make_dataset("chairs", DatasetOptions{.data = root.string(), .item_shape = Shape{1, 32, 32}});
  REQUIRE(d->size() == 3);
  CHECK(d->item_shape() == Shape{3, 32, 32});  // colour renders: RGB whatever C the shape asks
  CHECK(d->has_labels());
  CHECK(d->num_classes() == 2);
  CHECK(d->label(0) == 0);  // a_model sorts first: its two renders
  CHECK(d->label(1) == 0);
  CHECK(d->label(2) == 1);
  Tensor t = d->make_batch_tensor(1);
  d->get_batch(std::vector<int64_t>{1}, t);
  CHECK(t.data<float>()[500] == doctest::Approx(110 / 255.0).epsilon(0.01));
  CHECK(t.data<float>()[2 * 1024 + 500] == doctest::Approx(110 / 255.0).epsilon(0.01));
  fs::create_directories(root / "rendered_chairs" / "c_model" / "renders");
  CHECK_THROWS_WITH_AS(make_dataset("chairs", DatasetOptions{.data = root.string()}),
                       doctest::Contains("c_model"), Error);
  fs::remove_all(root);
}

TEST_CASE("prefetch: the same batches, indices and state as the batcher alone; stops cleanly") {
  const fs::path dir = temp_dir("prefetch");
  for (int i = 0; i < 7; ++i) {
    std::vector<uint8_t> px(8 * 8, static_cast<uint8_t>(30 * i));
    write_png_gray((dir / fmt::format("{}.png", i)).string(), 8, 8, px.data());
  }
  ImageFolder d(dir.string(), ImageFolderOptions{.channels = 1, .height = 8, .width = 8});
  const BatcherOptions bo{.batch_size = 3, .drop_last = false};  // 3 + 3 + 1 per epoch
  Batcher plain(d, bo, Generator(11)), inner(d, bo, Generator(11));
  {
    PrefetchBatcher pre(inner);
    CHECK(pre.state().epoch == 0);
    for (int step = 0; step < 8; ++step) {
      const Tensor& a = plain.next();
      const Tensor& b = pre.next();
      REQUIRE(a.shape() == b.shape());
      for (int64_t k = 0; k < a.numel(); ++k) REQUIRE(a.data<float>()[k] == b.data<float>()[k]);
      const auto ia = plain.indices(), ib = pre.indices();
      REQUIRE(std::vector<int64_t>(ia.begin(), ia.end()) == std::vector<int64_t>(ib.begin(), ib.end()));
      const BatcherState sa = plain.state(), sb = pre.state();
      CHECK(sa.epoch == sb.epoch);
      CHECK(sa.position == sb.position);
      CHECK(sa.offset == sb.offset);
    }
  }  // destroyed with both slots filled: the worker stops and joins
  // Resuming a fresh batcher from the prefetcher's state continues the same sequence.
  Batcher again(d, bo, Generator(11));
  {
    PrefetchBatcher pre(again);
    pre.next();
    pre.next();
    const BatcherState s = pre.state();
    Batcher resumed(d, bo, Generator(11));
    resumed.restore(s);
    Batcher ref(d, bo, Generator(11));
    ref.next();
    ref.next();
    const auto r = resumed.next().data<float>()[0], e = ref.next().data<float>()[0];
    CHECK(r == e);
    CHECK(resumed.indices()[0] == ref.indices()[0]);
  }
  fs::remove_all(dir);
}
