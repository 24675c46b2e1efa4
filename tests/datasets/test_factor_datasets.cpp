// The grid benchmarks with ground-truth factors (datasets/factor_datasets.h) on small files
// written here with the same libraries: 3D Shapes as an HDF5 file in DeepMind's layout (a
// smaller grid, GridDataOptions::grid), MPI3D as an .npz (our writer, stored and deflated), and a
// SmallNORB file trio (the full 24 300-item grid with 4×4 images, rows shuffled, one file
// gzipped). Each: shapes, factor indexing (index_of_factors round trip, factor_classes and
// values of items), pixels of known items, the decoded cache reused, errors that name the file
// (missing dataset or member, wrong shape or dtype, truncated or corrupt file, labels not in grid
// order), and a metric's factor sampler (FactorSampler, the β-VAE score through
// DatasetFactorSource) running on a tiny instance.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/datasets_config.h"
#include "datasets/factor_datasets.h"
#include "datasets/npz.h"
#include "datasets/resize.h"
#include "engine/check.h"
#include "tests/datasets/scratch_files.h"
#include "objectives/metrics/factor_source.h"
#include "objectives/metrics/vote_scores.h"

#if UNRAVEL_HAVE_HDF5
#include <hdf5.h>
#endif

using namespace unravel;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) { return test::scratch_dir("unravel_grid", tag); }
using test::slurp;
using test::spit;

/// Pixel (row r, column c, channel ch) of grid item i in the test files (interleaved HWC).
uint8_t test_pixel(int64_t i, int r, int c, int ch) {
  return static_cast<uint8_t>((i * 7 + r * 3 + c + ch * 50) % 256);
}

std::vector<uint8_t> test_images(int64_t n) {
  std::vector<uint8_t> px(static_cast<size_t>(n) * 64 * 64 * 3);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 64; ++r)
      for (int c = 0; c < 64; ++c)
        for (int ch = 0; ch < 3; ++ch)
          px[((i * 64 + r) * 64 + c) * 3 + ch] = test_pixel(i, r, c, ch);
  return px;
}

int64_t product(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{1}, std::multiplies<>());
}

/// Checks item i of a {3, 64, 64} dataset against test_pixel.
void check_item_pixels(const Dataset& d, int64_t i) {
  Tensor t = d.make_batch_tensor(1);
  const int64_t idx[1] = {i};
  d.get_batch(idx, t);
  const float* p = t.data<float>();
  int bad = 0;
  for (int ch = 0; ch < 3; ++ch)
    for (int r = 0; r < 64; ++r)
      for (int c = 0; c < 64; ++c)
        bad += p[(ch * 64 + r) * 64 + c] != test_pixel(i, r, c, ch) * (1.f / 255.f);
  CHECK(bad == 0);
}

/// Factor indexing of a grid dataset: classes of every item are its mixed-radix digits, and
/// index_of_factors inverts factor_classes.
void check_grid_indexing(const Dataset& d) {
  const auto sizes = d.factor_sizes();
  REQUIRE(product(sizes) == d.size());
  std::vector<int64_t> want(sizes.size());
  int bad = 0;
  for (int64_t i = 0; i < d.size(); ++i) {
    const auto cls = d.factor_classes(i);
    grid_classes(i, sizes, want);
    bad += cls != want || d.index_of_factors(cls) != i;
  }
  CHECK(bad == 0);
  std::vector<int64_t> out_of_range(sizes.size(), 0);
  out_of_range.back() = sizes.back();
  CHECK_THROWS_WITH_AS(d.index_of_factors(out_of_range), doctest::Contains("out of range"), Error);
}

/// A metric's factor sampler on the dataset: FactorSampler with a fixed factor, and the β-VAE
/// score through DatasetFactorSource with an encoder that reads two pixels.
void check_factor_samplers(const Dataset& d) {
  FactorSampler fs(d);
  const int k = fs.num_factors() - 1;
  std::vector<int64_t> idx(50), cls(50 * static_cast<size_t>(fs.num_factors()));
  Generator g(5);
  fs.sample_fixed(k, 1, idx, g, cls);
  for (size_t i = 0; i < idx.size(); ++i) REQUIRE(d.factor_classes(idx[i])[k] == 1);

  DatasetFactorSource source(d);
  Encoder enc = [](const Tensor& images) {
    const int64_t n = images.size(0), per = images.numel() / n;
    const float* p = images.data<float>();
    std::vector<float> z(static_cast<size_t>(n) * 2);
    for (int64_t i = 0; i < n; ++i) {
      z[i * 2] = p[i * per];
      z[i * 2 + 1] = p[i * per + per / 2];
    }
    return EncodedBatch{Tensor::from_vector(z, Shape{n, 2}), Tensor()};
  };
  EncoderSampler es(source, enc, 32);
  BetaVaeScoreOptions bo;
  bo.num_train = 40;
  bo.num_eval = 20;
  bo.batch = 4;
  Generator gs(3);
  const AccuracyScore s = beta_vae_score(es, gs, bo);
  CHECK(s.train_accuracy >= 0.0);
  CHECK(s.train_accuracy <= 1.0);
}

}  // namespace

// --- 3D Shapes ----------------------------------------------------------------------------------

#if UNRAVEL_HAVE_HDF5
namespace {

const std::vector<int64_t> kShapesGrid{2, 2, 2, 2, 2, 3};  // 96 items

/// Label of class c of factor j in the test file (distinct per class).
double shapes_label(int j, int64_t c) { return j * 10.0 + 0.25 * static_cast<double>(c) - 1.0; }

/// Writes an HDF5 file with datasets `images` and `labels` (either left out when its name is
/// empty); images u8 [n, 64, 64, 3] unless `image_type` says otherwise.
void write_shapes_h5(const fs::path& path, int64_t n, const char* images = "images",
                     const char* labels = "labels", hid_t image_type = H5T_STD_U8LE,
                     bool swap_labels = false) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  if (*images) {
    const hsize_t dims[4] = {static_cast<hsize_t>(n), 64, 64, 3};
    const hid_t sp = H5Screate_simple(4, dims, nullptr);
    // Chunked and compressed, as a writer may choose: the loader reads hyperslabs regardless.
    const hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[4] = {10, 64, 64, 3};
    H5Pset_chunk(plist, 4, chunk);
    H5Pset_deflate(plist, 1);
    const hid_t ds = H5Dcreate2(f, images, image_type, sp, H5P_DEFAULT, plist, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    const auto px = test_images(n);
    REQUIRE(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data()) >= 0);
    H5Dclose(ds);
    H5Pclose(plist);
    H5Sclose(sp);
  }
  if (*labels) {
    const hsize_t dims[2] = {static_cast<hsize_t>(n), 6};
    const hid_t sp = H5Screate_simple(2, dims, nullptr);
    const hid_t ds =
        H5Dcreate2(f, labels, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<double> lab(static_cast<size_t>(n) * 6);
    std::vector<int64_t> cls(6);
    for (int64_t i = 0; i < n; ++i) {
      grid_classes(i % product(kShapesGrid), kShapesGrid, cls);
      for (int j = 0; j < 6; ++j) lab[i * 6 + j] = shapes_label(j, cls[j]);
    }
    if (swap_labels) std::swap_ranges(lab.begin(), lab.begin() + 6, lab.begin() + 6);
    REQUIRE(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab.data()) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
  }
  H5Fclose(f);
}

}  // namespace

TEST_CASE("3dshapes: DeepMind's layout read through HDF5, cached, indexed by its factors") {
  const fs::path dir = temp_dir("shapes");
  const int64_t n = product(kShapesGrid);
  const fs::path path = dir / "3dshapes.h5";
  write_shapes_h5(path, n);
  GridDataOptions o{.grid = kShapesGrid, .cache_dir = (dir / "cache").string(), .verbose = false};
  const Shapes3D d(path.string(), o);
  CHECK(d.items().was_built());
  CHECK(d.items().is_mapped());
  CHECK(d.size() == n);
  CHECK(d.item_shape() == Shape{3, 64, 64});
  CHECK(d.factor_names() == std::vector<std::string>{"floor_hue", "wall_hue", "object_hue", "scale",
                                                     "shape", "orientation"});
  CHECK(d.factor_sizes() == kShapesGrid);
  check_grid_indexing(d);
  const int64_t cls[6] = {1, 0, 1, 1, 0, 2};
  const int64_t i = d.index_of_factors(cls);
  CHECK(i == ((((1 * 2 + 0) * 2 + 1) * 2 + 1) * 2 + 0) * 3 + 2);
  const auto v = d.factor_values(i);
  for (int j = 0; j < 6; ++j) CHECK(v[j] == shapes_label(j, cls[j]));
  check_item_pixels(d, i);
  check_item_pixels(d, n - 1);
  check_factor_samplers(d);

  // Opened again: the cache is reused, same pixels.
  const Shapes3D again(path.string(), o);
  CHECK_FALSE(again.items().was_built());
  check_item_pixels(again, 17);
  fs::remove_all(dir);
}

TEST_CASE("3dshapes: wrong, truncated and corrupt files are refused naming the file") {
  const fs::path dir = temp_dir("shapes_bad");
  const int64_t n = product(kShapesGrid);
  GridDataOptions o{.grid = kShapesGrid, .cache_dir = (dir / "cache").string(), .verbose = false};
  auto refuses = [&](const fs::path& p, const char* what, const GridDataOptions& opts) {
    INFO("file ", p.string(), " expecting '", what, "'");
    CHECK_THROWS_WITH_AS(Shapes3D(p.string(), opts), doctest::Contains(p.string().c_str()), Error);
    CHECK_THROWS_WITH_AS(Shapes3D(p.string(), opts), doctest::Contains(what), Error);
  };
  const fs::path good = dir / "good.h5";
  write_shapes_h5(good, n);
  // The published grid on a small file: the shape is named.
  refuses(good, "dataset 'images' must be uint8 [480000, 64, 64, 3], got uint8 [96, 64, 64, 3]",
          GridDataOptions{.cache_dir = o.cache_dir, .verbose = false});
  write_shapes_h5(dir / "nolabels.h5", n, "images", "");
  refuses(dir / "nolabels.h5", "no dataset 'labels'", o);
  write_shapes_h5(dir / "noimages.h5", n, "", "labels");
  refuses(dir / "noimages.h5", "no dataset 'images'", o);
  write_shapes_h5(dir / "i32.h5", n, "images", "labels", H5T_STD_I32LE);
  refuses(dir / "i32.h5", "must be uint8 [96, 64, 64, 3], got int32", o);
  write_shapes_h5(dir / "order.h5", n, "images", "labels", H5T_STD_U8LE, true);
  refuses(dir / "order.h5", "not in the published order", o);
  spit(dir / "text.h5", "this is not an HDF5 file at all, just some text that is long enough");
  refuses(dir / "text.h5", "not an HDF5 file", o);
  const std::string bytes = slurp(good);
  spit(dir / "cut.h5", bytes.substr(0, bytes.size() / 2));
  refuses(dir / "cut.h5", "truncated or corrupt", o);
  refuses(dir / "missing.h5", "is not a file", o);
  fs::remove_all(dir);
}

TEST_CASE("3dshapes: files that crash libhdf5 are errors naming them, not the process's end") {
  // The fuzzer's inputs that crash libhdf5 1.10.8 (null dereferences in H5F__accum_read and
  // H5VM_memcpyvv) or make it allocate gigabytes (H5C_protect, H5MM_realloc), kept in
  // tests/fuzz/thirdparty/shapes3d/. libhdf5 runs in a child process, so each is a refusal.
  // The source tree: $UNRAVEL_SOURCE_ROOT (set by meson test), else from this file's path as
  // the compiler saw it (relative to the build folder).
  const char* env = std::getenv("UNRAVEL_SOURCE_ROOT");
  const fs::path root = env ? fs::path(env) : fs::path(__FILE__).parent_path() / "../..";
  const fs::path inputs = root / "tests/fuzz/thirdparty/shapes3d";
  REQUIRE_MESSAGE(fs::is_directory(inputs), inputs.string(), " (set UNRAVEL_SOURCE_ROOT)");
  const fs::path dir = temp_dir("shapes_crash");
  GridDataOptions o{.grid = {1, 1, 1, 1, 1, 2}, .cache_dir = (dir / "cache").string(),
                    .verbose = false};
  int n = 0, crashed = 0;
  for (const auto& e : fs::directory_iterator(inputs)) {
    const fs::path path = dir / e.path().filename();
    fs::copy_file(e.path(), path);
    std::string msg;
    try {
      const Shapes3D d(path.string(), o);
    } catch (const Error& err) {
      msg = err.what();
    }
    INFO("input ", e.path().filename().string(), ": ", msg);
    CHECK(msg.find("3dshapes '" + path.string() + "'") != std::string::npos);
    // Killed by a signal in a plain build, or (ASan) reported and exited; some are refused by
    // libhdf5 itself where glibc's malloc succeeds or fails differently from ASan's.
    crashed += msg.find("crashed reading it (signal") != std::string::npos ||
               msg.find("ended with status") != std::string::npos;
    ++n;
  }
  CHECK(n >= 16);
  MESSAGE(crashed, " of ", n, " inputs crashed libhdf5 in its child process");
  CHECK(crashed >= 1);  // the SEGV in H5F__accum_read happens in every build
  // The process goes on: a good file opens after them.
  const fs::path good = dir / "good.h5";
  write_shapes_h5(good, product(kShapesGrid));
  GridDataOptions g{.grid = kShapesGrid, .cache_dir = (dir / "cache").string(), .verbose = false};
  CHECK(Shapes3D(good.string(), g).size() == product(kShapesGrid));
  fs::remove_all(dir);
}
#else
TEST_CASE("3dshapes: a build without HDF5 says so") {
  CHECK_FALSE(Shapes3D::available());
  CHECK_THROWS_WITH_AS(Shapes3D("/data/3dshapes.h5"), doctest::Contains("no HDF5"), Error);
}
#endif

// --- MPI3D --------------------------------------------------------------------------------------

namespace {

const std::vector<int64_t> kMpiGrid{2, 2, 1, 1, 1, 2, 3};  // 24 items

Tensor mpi_images(int64_t n) {
  Tensor t = Tensor::empty(Shape{n, 64, 64, 3}, DType::u8);
  const auto px = test_images(n);
  std::copy(px.begin(), px.end(), t.data<uint8_t>());
  return t;
}

}  // namespace

TEST_CASE("mpi3d: the npz member streamed (stored or deflated) into the cache, indexed") {
  const fs::path dir = temp_dir("mpi3d");
  const int64_t n = product(kMpiGrid);
  for (const bool compress : {false, true}) {
    INFO("compressed: ", compress);
    const fs::path path = dir / (compress ? "mpi3d_toy_z.npz" : "mpi3d_toy.npz");
    save_npz(path.string(), {{"images", mpi_images(n)}}, compress);
    GridDataOptions o{.grid = kMpiGrid, .cache_dir = (dir / "cache").string(), .verbose = false};
    const Mpi3D d(path.string(), o);
    CHECK(d.items().was_built());
    CHECK(d.size() == n);
    CHECK(d.item_shape() == Shape{3, 64, 64});
    CHECK(d.factor_names() == std::vector<std::string>{"object_color", "object_shape",
                                                       "object_size", "camera_height",
                                                       "background_color", "horizontal_axis",
                                                       "vertical_axis"});
    CHECK(d.factor_sizes() == kMpiGrid);
    check_grid_indexing(d);
    const int64_t cls[7] = {1, 0, 0, 0, 0, 1, 2};
    const int64_t i = d.index_of_factors(cls);
    CHECK(i == 12 + 3 + 2);
    CHECK(d.factor_values(i) == std::vector<double>{1, 0, 0, 0, 0, 1, 2});  // values = classes
    check_item_pixels(d, i);
    check_item_pixels(d, 0);
    check_factor_samplers(d);
    const Mpi3D again(path.string(), o);
    CHECK_FALSE(again.items().was_built());
    check_item_pixels(again, n - 1);
  }
  CHECK(Mpi3D::kGrid[0] * Mpi3D::kGrid[1] * Mpi3D::kGrid[2] * Mpi3D::kGrid[3] * Mpi3D::kGrid[4] *
            Mpi3D::kGrid[5] * Mpi3D::kGrid[6] == 1036800);
  fs::remove_all(dir);
}

TEST_CASE("mpi3d: wrong, truncated and corrupt files are refused naming the file") {
  const fs::path dir = temp_dir("mpi3d_bad");
  const int64_t n = product(kMpiGrid);
  GridDataOptions o{.grid = kMpiGrid, .cache_dir = (dir / "cache").string(), .verbose = false};
  auto refuses = [&](const fs::path& p, const char* what, const GridDataOptions& opts) {
    INFO("file ", p.string(), " expecting '", what, "'");
    CHECK_THROWS_WITH_AS(Mpi3D(p.string(), opts), doctest::Contains(p.string().c_str()), Error);
    CHECK_THROWS_WITH_AS(Mpi3D(p.string(), opts), doctest::Contains(what), Error);
  };
  const fs::path good = dir / "good.npz";
  save_npz(good.string(), {{"images", mpi_images(n)}}, false);
  refuses(good, "too few for 1036800 images",
          GridDataOptions{.cache_dir = o.cache_dir, .verbose = false});
  save_npz((dir / "imgs.npz").string(), {{"imgs", mpi_images(n)}}, false);
  refuses(dir / "imgs.npz", "no member 'images.npy' (members: imgs)", o);
  Tensor f = Tensor::zeros(Shape{n, 64, 64, 3}, DType::f32);
  save_npz((dir / "f32.npz").string(), {{"images", f}}, false);
  refuses(dir / "f32.npz", "must be uint8 [24, 64, 64, 3] in C order, got '<f4'", o);
  Tensor chw = Tensor::empty(Shape{n, 3, 64, 64}, DType::u8);
  std::fill_n(chw.data<uint8_t>(), chw.numel(), uint8_t{1});
  save_npz((dir / "chw.npz").string(), {{"images", chw}}, false);
  refuses(dir / "chw.npz", "got '|u1' [24, 3, 64, 64]", o);
  const std::string bytes = slurp(good);
  spit(dir / "cut.npz", bytes.substr(0, bytes.size() / 2));
  refuses(dir / "cut.npz", "cannot open", o);
  // A flipped byte in the stored pixels: found by the member's CRC, no cache is left behind.
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;
  spit(dir / "crc.npz", flipped);
  refuses(dir / "crc.npz", "corrupt", o);
  for (const auto& e : fs::directory_iterator(o.cache_dir)) {
    const std::string name = e.path().filename().string();
    CHECK_FALSE((name.rfind("mpi3d-crc", 0) == 0 && e.path().extension() == ".u8"));  // lock only
  }
  fs::remove_all(dir);
}

// --- SmallNORB ----------------------------------------------------------------------------------

namespace {

constexpr int kNorbSide = 4;  // the published files have 96×96 pairs; 4×4 keeps the trio small

/// Writes one matrix file: magic, ndim, max(3, ndim) dims (padded with 1), then the bytes.
void write_mat(const fs::path& path, int32_t magic, std::vector<int32_t> dims, const void* data,
               size_t bytes, bool gz = false) {
  std::string out(reinterpret_cast<const char*>(&magic), 4);
  const auto nd = static_cast<int32_t>(dims.size());
  out.append(reinterpret_cast<const char*>(&nd), 4);
  while (dims.size() < 3) dims.push_back(1);
  out.append(reinterpret_cast<const char*>(dims.data()), dims.size() * 4);
  out.append(static_cast<const char*>(data), bytes);
  if (!gz) {
    spit(path, out);
    return;
  }
  gzFile f = gzopen((path.string() + ".gz").c_str(), "wb");
  REQUIRE(f != nullptr);
  const auto len = static_cast<unsigned>(out.size());
  REQUIRE(gzwrite(f, out.data(), len) == static_cast<int>(len));
  gzclose(f);
}

/// File row r holds grid point (r·7919) mod 24300 (7919 is prime to 24300: a permutation).
int64_t norb_grid_of_row(int64_t r) { return r * 7919 % SmallNorb::kItems; }

/// Left-camera pixel k of grid point g (the right camera is 255 minus it).
uint8_t norb_pixel(int64_t g, int k) { return static_cast<uint8_t>((g * 3 + k * 17) % 256); }

/// Instance ids of each split (as published: training 4, 6, 7, 8, 9; testing 0, 1, 2, 3, 5).
int32_t norb_instance(bool test, int64_t c) {
  static const int32_t train[5] = {4, 6, 7, 8, 9}, testing[5] = {0, 1, 2, 3, 5};
  return test ? testing[c] : train[c];
}

struct NorbFiles {
  std::vector<uint8_t> dat;
  std::vector<int32_t> cat, info;
};

NorbFiles norb_files(bool test) {
  constexpr int64_t n = SmallNorb::kItems, px = kNorbSide * kNorbSide;
  NorbFiles f;
  f.dat.resize(static_cast<size_t>(n * 2 * px));
  f.cat.resize(static_cast<size_t>(n));
  f.info.resize(static_cast<size_t>(n * 4));
  const std::vector<int64_t> sizes(SmallNorb::kGrid.begin(), SmallNorb::kGrid.end());
  std::vector<int64_t> cls(5);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t g = norb_grid_of_row(r);
    grid_classes(g, sizes, cls);
    f.cat[r] = static_cast<int32_t>(cls[0]);
    const int32_t info[4] = {norb_instance(test, cls[1]), static_cast<int32_t>(cls[2]),
                             static_cast<int32_t>(2 * cls[3]), static_cast<int32_t>(cls[4])};
    std::copy_n(info, 4, &f.info[r * 4]);
    for (int k = 0; k < px; ++k) {
      f.dat[(r * 2) * px + k] = norb_pixel(g, k);
      f.dat[(r * 2 + 1) * px + k] = static_cast<uint8_t>(255 - norb_pixel(g, k));
    }
  }
  return f;
}

/// Writes the trio of a split into dir; the category file gzipped when `gz_cat`.
void write_norb(const fs::path& dir, bool test, const NorbFiles& f, bool gz_cat = false) {
  const auto names = SmallNorb::file_names(test);
  const int32_t n = SmallNorb::kItems;
  write_mat(dir / names[0], 0x1E3D4C55, {n, 2, kNorbSide, kNorbSide}, f.dat.data(), f.dat.size());
  write_mat(dir / names[1], 0x1E3D4C54, {n}, f.cat.data(), f.cat.size() * 4, gz_cat);
  write_mat(dir / names[2], 0x1E3D4C54, {n, 4}, f.info.data(), f.info.size() * 4);
}

}  // namespace

TEST_CASE("smallnorb: the original file trio, left camera, reordered into the factor grid") {
  const fs::path dir = temp_dir("norb");
  write_norb(dir, false, norb_files(false), true);
  write_norb(dir, true, norb_files(true));
  {
    // Kept at 4×4: item bytes are exactly the left camera's.
    const SmallNorb d(dir.string(), false, kNorbSide);
    CHECK(d.size() == SmallNorb::kItems);
    CHECK(d.item_shape() == Shape{1, kNorbSide, kNorbSide});
    CHECK(d.factor_names() ==
          std::vector<std::string>{"category", "instance", "elevation", "azimuth", "lighting"});
    CHECK(d.factor_sizes() == std::vector<int64_t>{5, 5, 9, 18, 6});
    check_grid_indexing(d);
    int bad = 0;
    for (int64_t g = 0; g < d.size(); ++g)
      for (int k = 0; k < kNorbSide * kNorbSide; ++k)
        bad += d.items().item(g)[k] != norb_pixel(g, k);
    CHECK(bad == 0);
    const int64_t cls[5] = {3, 2, 8, 17, 5};
    const int64_t i = d.index_of_factors(cls);
    CHECK(d.factor_classes(i) == std::vector<int64_t>{3, 2, 8, 17, 5});
    // category, the file's instance id, elevation 30 + 5·8 degrees, azimuth 10·34, lighting.
    CHECK(d.factor_values(i) == std::vector<double>{3, 7, 70, 340, 5});
    check_factor_samplers(d);
  }
  {
    // The default 64×64: the left image resized by datasets/resize.h.
    const SmallNorb d(dir.string(), false);
    CHECK(d.item_shape() == Shape{1, 64, 64});
    const int64_t g = 12345;
    uint8_t left[kNorbSide * kNorbSide];
    for (int k = 0; k < kNorbSide * kNorbSide; ++k) left[k] = norb_pixel(g, k);
    std::vector<float> want(64 * 64);
    Resizer(kNorbSide, kNorbSide, 64, 64).apply(left, 1, want.data(), 1.f);
    Tensor t = d.make_batch_tensor(1);
    const int64_t idx[1] = {g};
    d.get_batch(idx, t);
    int bad = 0;
    for (int k = 0; k < 64 * 64; ++k)
      bad += t.data<float>()[k] != static_cast<float>(std::lround(want[k])) * (1.f / 255.f);
    CHECK(bad == 0);
  }
  {
    const SmallNorb t(dir.string(), true, kNorbSide);
    const int64_t cls[5] = {0, 4, 0, 0, 0};
    CHECK(t.factor_values(t.index_of_factors(cls))[1] == 5);  // testing instances 0, 1, 2, 3, 5
    CHECK(t.name().find("test") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("smallnorb: wrong, truncated and inconsistent files are refused naming the file") {
  const fs::path dir = temp_dir("norb_bad");
  const NorbFiles good = norb_files(false);
  const auto names = SmallNorb::file_names(false);
  auto refuses = [&](const fs::path& file, const char* what) {
    INFO("file ", file.string(), " expecting '", what, "'");
    CHECK_THROWS_WITH_AS(SmallNorb(dir.string(), false, kNorbSide),
                         doctest::Contains(file.string().c_str()), Error);
    CHECK_THROWS_WITH_AS(SmallNorb(dir.string(), false, kNorbSide), doctest::Contains(what), Error);
  };
  const int32_t n = SmallNorb::kItems;
  CHECK_THROWS_WITH_AS(SmallNorb(dir.string()), doctest::Contains(names[0].c_str()), Error);
  write_norb(dir, false, good);
  const std::string dat = slurp(dir / names[0]);
  spit(dir / names[0], dat.substr(0, dat.size() / 2));
  refuses(dir / names[0], "truncated");
  spit(dir / names[0], dat + "x");
  refuses(dir / names[0], "bytes after");
  write_mat(dir / names[0], 0x1E3D4C55, {n, 1, kNorbSide, kNorbSide}, good.dat.data(),
            good.dat.size() / 2);
  refuses(dir / names[0], "must be [24300, 2, S, S]");
  write_norb(dir, false, good);
  write_mat(dir / names[1], 0x1E3D4C55, {n}, good.cat.data(), good.cat.size() * 4);
  refuses(dir / names[1], "magic 0x1E3D4C55 is not that of an int32 matrix");
  write_mat(dir / names[1], 0x1E3D4C54, {n - 1}, good.cat.data(), (n - 1) * 4);
  refuses(dir / names[1], "must be [24300], got [24299]");
  write_norb(dir, false, good);
  NorbFiles dup = good;
  std::copy_n(&dup.info[0], 4, &dup.info[4]);
  dup.cat[1] = dup.cat[0];
  write_norb(dir, false, dup);
  refuses(dir / names[2], "repeats the factors");
  NorbFiles odd = good;
  odd.info[2] = 3;  // an odd azimuth
  write_norb(dir, false, odd);
  refuses(dir / names[2], "azimuth 0, 2, .., 34");
  fs::remove(dir / names[2]);
  write_norb(dir, false, good);
  fs::remove(dir / names[2]);
  refuses(dir / names[2], "no file");
  fs::remove_all(dir);
}
