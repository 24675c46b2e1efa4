// The dataset registry (datasets/registry.h): every registered name constructs through
// make_dataset from small files written here (MNIST-style IDX folders, PNG folders) or from
// nothing (procedural dSprites and its coloured variants, pinwheel; the grid benchmarks check
// their data path here and are loaded in test_factor_datasets.cpp) and honours the options
// (split, seed, item shape, clamp); a missing file or folder is named in the error; an unknown
// name lists every valid one.
#include <doctest/doctest.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "datasets/idx.h"
#include "datasets/mnist.h"
#include "datasets/jpeg.h"
#include "datasets/png.h"
#include "datasets/registry.h"
#include "engine/check.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("unravel_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// n MNIST-style 28×28 images of the split: pixel value (i % 10)·20 + row, labels i % 10.
void write_idx_split(const fs::path& dir, bool train, int n) {
  IdxArray img{0x08, {n, 28, 28}, {}}, lab{0x08, {n}, {}};
  for (int i = 0; i < n; ++i) {
    lab.data.push_back(static_cast<uint8_t>(i % 10));
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) img.data.push_back(static_cast<uint8_t>((i % 10) * 20 + r));
  }
  write_idx(mnist_file(dir.string(), train, true), img, true);
  write_idx(mnist_file(dir.string(), train, false), lab, true);
}

std::vector<float> first_items(const Dataset& d, int64_t n) {
  Tensor t = d.make_batch_tensor(n);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  d.get_batch(idx, t);
  return t.to_vector<float>();
}

}  // namespace

TEST_CASE("dataset registry: every registered name constructs through make_dataset") {
  const fs::path idx_dir = fresh_dir("reg_idx"), png_dir = fresh_dir("reg_png");
  write_idx_split(idx_dir, true, 12);
  write_idx_split(idx_dir, false, 5);
  std::vector<uint8_t> grey(20 * 10, 90);
  write_png_gray((png_dir / "a.png").string(), 20, 10, grey.data());
  write_png_gray((png_dir / "b.png").string(), 20, 10, grey.data());

  // One check per registered name: a dataset added to the registry needs a case here.
  std::map<std::string, std::function<void(const std::string&)>> checks;
  checks["dsprites"] = [](const std::string& name) {
    auto d = make_dataset(name);
    CHECK(d->size() == 737280);
    CHECK(d->item_shape() == Shape{1, 64, 64});
    CHECK(d->num_factors() == 5);
    CHECK_THROWS_WITH_AS(make_dataset(name, {.data = "/nonexistent/sprites.npz"}),
                         doctest::Contains("/nonexistent/sprites.npz"), Error);
  };
  auto mnist_family = [&](const std::string& name) {
    auto train = make_dataset(name, {.data = idx_dir.string()});
    CHECK(train->size() == 12);
    CHECK(train->item_shape() == Shape{1, 28, 28});
    CHECK(train->has_labels());
    CHECK(train->name().find(name) != std::string::npos);
    auto test = make_dataset(name, {.data = idx_dir.string(), .test = true,
                                    .item_shape = Shape{1, 32, 32}, .clamp = 0.1});
    CHECK(test->size() == 5);
    CHECK(test->item_shape() == Shape{1, 32, 32});
    auto px = first_items(*test, 5);
    CHECK(*std::min_element(px.begin(), px.end()) >= 0.1f - 1e-6f);
    CHECK(*std::max_element(px.begin(), px.end()) <= 0.9f + 1e-6f);
    // A folder without the files: the error names the missing file.
    const fs::path empty = fresh_dir("reg_empty");
    const std::string file = mnist_file(empty.string(), true, true);
    CHECK_THROWS_WITH_AS(make_dataset(name, {.data = empty.string()}),
                         doctest::Contains(file.c_str()), Error);
    fs::remove_all(empty);
  };
  checks["fashion-mnist"] = mnist_family;
  checks["mnist"] = [&](const std::string& name) {
    mnist_family(name);
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("needs a data path"), Error);
  };
  checks["pinwheel"] = [](const std::string& name) {
    auto a = make_dataset(name, {.seed = 3}), b = make_dataset(name, {.seed = 3});
    auto t = make_dataset(name, {.test = true, .seed = 3});
    CHECK(a->size() == 400);
    CHECK(a->item_shape() == Shape{2});
    CHECK(first_items(*a, 400) == first_items(*b, 400));  // reproducible from the seed
    CHECK(first_items(*a, 400) != first_items(*t, 400));  // the test split is another draw
  };
  checks["folder"] = [&](const std::string& name) {
    auto d = make_dataset(name, {.data = png_dir.string(), .item_shape = Shape{3, 8, 12}});
    CHECK(d->size() == 2);
    CHECK(d->item_shape() == Shape{3, 8, 12});
    CHECK(make_dataset(name, {.data = png_dir.string()})->item_shape() == Shape{1, 64, 64});
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("needs a data path"), Error);
    const std::string missing = (png_dir / "no_such_folder").string();
    CHECK_THROWS_WITH_AS(make_dataset(name, {.data = missing}), doctest::Contains(missing.c_str()),
                         Error);
  };

  checks["celeba"] = [&](const std::string& name) {
    const fs::path root = fresh_dir("reg_celeba");
    fs::create_directories(root / "img_align_celeba");
    std::vector<uint8_t> rgb(178 * 218 * 3, 120);
    write_jpeg((root / "img_align_celeba" / "000001.jpg").string(), 178, 218, 3, rgb.data());
    auto d = make_dataset(name, {.data = root.string(), .item_shape = Shape{1, 32, 32}});
    CHECK(d->size() == 1);
    CHECK(d->item_shape() == Shape{3, 32, 32});  // colour photos: always RGB
    CHECK(d->num_factors() == 0);                // no list_attr_celeba.txt
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("img_align_celeba"), Error);
    fs::remove_all(root);
  };
  checks["chairs"] = [&](const std::string& name) {
    const fs::path root = fresh_dir("reg_chairs"), r = root / "rendered_chairs" / "m1" / "renders";
    fs::create_directories(r);
    std::vector<uint8_t> rgb(30 * 30 * 3, 200);
    write_png_rgb((r / "image_000.png").string(), 30, 30, rgb.data());
    auto d = make_dataset(name, {.data = root.string()});
    CHECK(d->size() == 1);
    CHECK(d->item_shape() == Shape{3, 64, 64});
    CHECK(d->num_classes() == 1);
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("rendered_chairs"), Error);
    fs::remove_all(root);
  };

  // The grid benchmarks need their published files (their loaders are tested on small files in
  // test_factor_datasets.cpp): here, the data path is required and a missing file is named.
  auto needs_file = [&](const std::string& name) {
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("needs a data path"), Error);
    const std::string missing = (png_dir / "no_such_file").string();
    CHECK_THROWS_WITH_AS(make_dataset(name, {.data = missing}), doctest::Contains(missing.c_str()),
                         Error);
  };
  checks["3dshapes"] = needs_file;
  checks["mpi3d"] = needs_file;
  checks["smallnorb"] = [&](const std::string& name) {
    needs_file(name);
    // A folder without the files: the first missing one is named.
    CHECK_THROWS_WITH_AS(make_dataset(name, {.data = png_dir.string(), .test = true}),
                         doctest::Contains("smallnorb-5x46789x9x18x6x2x96x96-testing-dat.mat"),
                         Error);
  };
  auto sprites = [&](const std::string& name, const std::string& data) {
    auto a = make_dataset(name, {.data = data, .seed = 4});
    CHECK(a->size() == 737280);
    CHECK(a->item_shape() == Shape{3, 64, 64});
    CHECK(a->num_factors() == 5);
    auto b = make_dataset(name, {.data = data, .seed = 4});
    auto c = make_dataset(name, {.data = data, .seed = 5});
    CHECK(first_items(*a, 3) == first_items(*b, 3));  // the colours are keyed by the seed
    CHECK(first_items(*a, 3) != first_items(*c, 3));
  };
  checks["dsprites-color"] = [&](const std::string& name) { sprites(name, ""); };
  checks["dsprites-noisy"] = [&](const std::string& name) { sprites(name, ""); };
  checks["dsprites-scream"] = [&](const std::string& name) {
    std::vector<uint8_t> rgb(100 * 80 * 3);
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>(k * 13 % 251);
    const std::string bg = (png_dir / "scream.png").string();
    write_png_rgb(bg, 100, 80, rgb.data());
    sprites(name, bg);
    CHECK_THROWS_WITH_AS(make_dataset(name), doctest::Contains("background image"), Error);
    fs::remove(bg);
  };

  CHECK(dataset_entries().size() == checks.size());
  for (const auto& e : dataset_entries()) {
    INFO("dataset: ", e.name);
    CHECK(e.meaning.size() > 12);
    REQUIRE(checks.count(e.name) == 1);
    checks[e.name](e.name);
  }
  fs::remove_all(idx_dir);
  fs::remove_all(png_dir);
}

TEST_CASE("dataset registry: an unknown name is refused with every valid name") {
  const std::string list = fmt::format("{}", fmt::join(names_of(dataset_entries()), ", "));
  CHECK(list == "dsprites, fashion-mnist, mnist, pinwheel, folder, celeba, chairs, 3dshapes, mpi3d, "
                "smallnorb, dsprites-color, dsprites-noisy, dsprites-scream");
  const std::string msg = "unknown dataset 'cifar10' (valid: " + list + ")";
  CHECK_THROWS_WITH_AS(make_dataset("cifar10"), doctest::Contains(msg.c_str()), Error);
}
