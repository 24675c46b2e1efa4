// 3D Shapes from DeepMind's 3dshapes.h5 through HDF5's C API (datasets/factor_datasets.h).
//
// Memory: the images are 480 000 × 12 288 bytes = 5.9 GB. Holding them in RAM is more than
// many training machines can spare, and reading random items from the HDF5 file per batch is
// not sound either: the writer chooses the layout (the images may be chunked and compressed, so
// one item could cost decompressing a whole chunk), and the serial HDF5 library is not
// thread-safe for the prefetching worker. So the pixels are read once, sequentially, in
// hyperslabs of 1000 images straight into the memory-mapped cache file being built, then
// converted to planar bytes in place, in the cache file of datasets/image_cache.h (rebuilt when the .h5 file's size or
// mtime changes); batches then come from the mapping, and the page cache keeps what fits.
// The labels (480 000 × 6 doubles, 23 MB) are read whole on every open and checked to be the
// grid. libhdf5 runs in a child process (datasets/isolated.h): it can crash on a corrupt file,
// and that must end in an error naming the file, not the end of the caller's process. HDF5's own error printing is silenced while we read; its innermost messages are added
// to ours, which name the file and what is wrong.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/ranges.h>

#include "datasets/datasets_config.h"
#include "datasets/factor_datasets.h"
#include "datasets/isolated.h"
#include "engine/check.h"

#if UNRAVEL_HAVE_HDF5
#include <hdf5.h>
#endif

namespace unravel {

namespace fs = std::filesystem;

#if UNRAVEL_HAVE_HDF5
namespace {

/// Turns HDF5's automatic error printing off for its lifetime.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

herr_t collect_error(unsigned n, const H5E_error2_t* e, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n < 2 && e->desc && *e->desc) {
    if (!s->empty()) *s += "; ";
    *s += e->desc;
  }
  return 0;
}

/// " (HDF5: <the two innermost messages>)", or "" when the stack is empty; clears the stack.
std::string hdf5_error() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &s);
  H5Eclear2(H5E_DEFAULT);
  return s.empty() ? "" : " (HDF5: " + s + ")";
}

/// An HDF5 identifier released by `close` on scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Handle() {
    if (id >= 0) close(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

/// Opens dataset `name` of `file` and checks its type class, element size, sign (integers) and
/// shape; errors name `path`.
hid_t open_checked(hid_t file, const std::string& path, const char* name, H5T_class_t cls,
                   const std::vector<hsize_t>& dims, const char* want) {
  UNRAVEL_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0,
                "3dshapes '{}': no dataset '{}' (expected DeepMind's 3dshapes.h5 with datasets "
                "'images' and 'labels'){}", path, name, hdf5_error());
  const hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
  UNRAVEL_CHECK(ds >= 0, "3dshapes '{}': '{}' is not a readable dataset{}", path, name,
                hdf5_error());
  Handle type{H5Dget_type(ds), H5Tclose};
  Handle space{H5Dget_space(ds), H5Sclose};
  const int nd = space.id >= 0 ? H5Sget_simple_extent_ndims(space.id) : -1;
  std::vector<hsize_t> got(static_cast<size_t>(std::max(nd, 0)));
  if (nd > 0) H5Sget_simple_extent_dims(space.id, got.data(), nullptr);
  bool ok = type.id >= 0 && H5Tget_class(type.id) == cls && got == dims;
  if (ok && cls == H5T_INTEGER)
    ok = H5Tget_size(type.id) == 1 && H5Tget_sign(type.id) == H5T_SGN_NONE;
  if (ok && cls == H5T_FLOAT) ok = H5Tget_size(type.id) == 8;
  if (!ok) {
    std::string shape;
    for (hsize_t d : got) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::string wanted;
    for (hsize_t d : dims) wanted += (wanted.empty() ? "" : ", ") + std::to_string(d);
    const H5T_class_t c = type.id >= 0 ? H5Tget_class(type.id) : H5T_NO_CLASS;
    const char* cname = c == H5T_INTEGER ? (H5Tget_sign(type.id) == H5T_SGN_NONE ? "uint" : "int")
                        : c == H5T_FLOAT ? "float" : "non-numeric";
    H5Dclose(ds);
    UNRAVEL_CHECK(false, "3dshapes '{}': dataset '{}' must be {} [{}], got {}{} [{}]{}", path, name,
                  want, wanted, cname, type.id >= 0 ? 8 * H5Tget_size(type.id) : 0, shape,
                  hdf5_error());
  }
  return ds;
}

/// Reads images [n, 64, 64, 3] in hyperslabs of 1000 into dst as the file stores them
/// (interleaved; planar_in_place converts them afterwards, outside the child process).
void read_images(hid_t ds, const std::string& path, int64_t n, uint8_t* dst, bool verbose) {
  constexpr int64_t kBlock = 1000, kItem = 64 * 64 * 3;
  Handle fspace{H5Dget_space(ds), H5Sclose};
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < n; first += kBlock) {
    const int64_t m = std::min(kBlock, n - first);
    const hsize_t start[4] = {static_cast<hsize_t>(first), 0, 0, 0};
    const hsize_t count[4] = {static_cast<hsize_t>(m), 64, 64, 3};
    Handle mspace{H5Screate_simple(4, count, nullptr), H5Sclose};
    const bool ok =
        fspace.id >= 0 && mspace.id >= 0 &&
        H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0 &&
        H5Dread(ds, H5T_NATIVE_UINT8, mspace.id, fspace.id, H5P_DEFAULT, dst + first * kItem) >= 0;
    UNRAVEL_CHECK(ok, "3dshapes '{}': cannot read images {}..{} of dataset 'images' (truncated "
                  "or corrupt file?){}", path, first, first + m - 1, hdf5_error());
    if (verbose && ((first / kBlock) % 20 == 19 || first + m == n))
      std::fprintf(stderr, "\r  3dshapes: read %lld/%lld images (%.0f s)",
                   static_cast<long long>(first + m), static_cast<long long>(n),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (verbose) std::fprintf(stderr, "\n");
}

/// What libhdf5 does for one open (run in a child process, datasets/isolated.h): checks the
/// file and its two datasets, then reads either the labels (`images` null: returned as n × k
/// doubles, raw bytes) or the images into `images` (interleaved; returns "").
std::string read_file(const std::string& path, int64_t n, int k, uint8_t* images, bool verbose) {
  QuietHdf5 quiet;
  UNRAVEL_CHECK(H5Fis_hdf5(path.c_str()) > 0, "3dshapes '{}': not an HDF5 file{}", path,
                hdf5_error());
  Handle file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  UNRAVEL_CHECK(file.id >= 0, "3dshapes '{}': cannot open the HDF5 file (truncated or "
                "corrupt?){}", path, hdf5_error());
  const auto un = static_cast<hsize_t>(n);
  Handle ims{open_checked(file.id, path, "images", H5T_INTEGER, {un, 64, 64, 3}, "uint8"),
             H5Dclose};
  Handle labels{open_checked(file.id, path, "labels", H5T_FLOAT, {un, static_cast<hsize_t>(k)},
                             "float64"),
                H5Dclose};
  if (images) {
    read_images(ims.id, path, n, images, verbose);
    return {};
  }
  std::string lab(static_cast<size_t>(n * k) * sizeof(double), '\0');
  const herr_t read = H5Dread(labels.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                              lab.data());
  UNRAVEL_CHECK(read >= 0, "3dshapes '{}': cannot read dataset 'labels' (truncated or corrupt "
                "file?){}", path, hdf5_error());
  return lab;
}

/// Interleaved items (n × hw × c bytes) to planar ones in place, an item at a time.
void planar_in_place(uint8_t* p, int64_t n, int c, int64_t hw) {
#pragma omp parallel
  {
    std::vector<uint8_t> item(static_cast<size_t>(hw * c));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      uint8_t* d = p + i * hw * c;
      std::copy_n(d, item.size(), item.data());
      interleaved_to_planar(item.data(), 1, c, hw, d);
    }
  }
}

std::string hdf5_version() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return fmt::format("libhdf5 {}.{}.{}", maj, min, rel);
}

}  // namespace
#endif

bool Shapes3D::available() { return UNRAVEL_HAVE_HDF5 != 0; }

Shapes3D::Shapes3D(const std::string& path, const GridDataOptions& opts) {
  name_ = "3dshapes:" + path;
  set_factors({"floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"},
              {kGrid.begin(), kGrid.end()}, opts.grid);
  UNRAVEL_CHECK(available(), "3dshapes: this build of unravel has no HDF5, so '{}' cannot be read; "
                "install libhdf5-dev and rebuild (meson setup --reconfigure <build> "
                "-Dhdf5=enabled)", path);
#if UNRAVEL_HAVE_HDF5
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_regular_file(path, ec), "3dshapes: '{}' is not a file (expected DeepMind's "
                "3dshapes.h5)", path);
  const int64_t n = grid_size();
  const int k = num_factors();
  // libhdf5 runs in a child process: a corrupt file can crash it (tests/fuzz/thirdparty/).
  // The labels are read and checked first (23 MB; on every open), the images only when the
  // cache has to be built.
  const std::string what = fmt::format("3dshapes '{}'", path);
  const std::string library = hdf5_version();
  const std::string bytes = run_isolated(
      what, library, [&] { return read_file(path, n, k, nullptr, false); }, opts.isolate);
  std::vector<double> lab(static_cast<size_t>(n * k));
  UNRAVEL_CHECK(bytes.size() == lab.size() * sizeof(double), "{}: read {} bytes of labels, "
                "expected {}", what, bytes.size(), lab.size() * sizeof(double));
  std::memcpy(lab.data(), bytes.data(), bytes.size());

  // The labels must be the grid: a factor's value depends only on its class (to within 1e-6,
  // relative, in case a writer computed them per item), and the classes of a factor differ.
  auto same = [](double a, double b) {
    return std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(b));
  };
  class_values_.assign(static_cast<size_t>(k), {});
  for (int j = 0; j < k; ++j) class_values_[j].assign(static_cast<size_t>(sizes_[j]), 0.0);
  std::vector<int64_t> cls(static_cast<size_t>(k));
  for (int64_t i = 0; i < n; ++i) {
    grid_classes(i, sizes_, cls);
    for (int j = 0; j < k; ++j) {
      double& v = class_values_[j][cls[j]];
      const double l = lab[i * k + j];
      // The first item with class c of factor j is the one whose other classes are all 0.
      bool first = true;
      for (int q = 0; q < k; ++q) first = first && (q == j || cls[q] == 0);
      if (first) v = l;
      UNRAVEL_CHECK(same(l, v), "3dshapes '{}': labels[{}, {}] = {} but the grid order gives "
                    "factor '{}' class {} the value {} (the file is not in the published order, or "
                    "is a different grid)", path, i, j, l, names_[j], cls[j], v);
    }
  }
  for (int j = 0; j < k; ++j)
    for (int64_t c = 1; c < sizes_[j]; ++c)
      UNRAVEL_CHECK(!same(class_values_[j][c], class_values_[j][c - 1]), "3dshapes '{}': factor "
                    "'{}' has the same label {} for classes {} and {} (not the grid {})", path,
                    names_[j], class_values_[j][c], c - 1, c, fmt::join(sizes_, "x"));

  const ImageDecodeSpec spec{3, 64, 64, 0};
  uint64_t fingerprint = 0;
  const std::string cache = file_cache_path(path, "3dshapes", spec, opts.cache_dir, fingerprint);
  px_ = ImagePixels::cached_fill(
      path, n, spec, fingerprint, cache,
      [&](uint8_t* dst, bool verbose) {
        run_isolated(what, library, [&] { return read_file(path, n, k, dst, verbose); },
                     opts.isolate);
        planar_in_place(dst, n, 3, 64 * 64);
      },
      opts.verbose);
#endif
}

}  // namespace unravel
