// The image benchmarks of disentanglement with ground-truth factors on a full grid, read from the
// files their publishers distribute. Every one has one image per combination of its factors'
// classes and is held in grid order: item i has the factor classes of mixed-radix index i (first
// factor slowest, last fastest, as dSprites), so `index_of_factors` is the formula and every
// metric's factor sampler (FactorSampler, DatasetFactorSource) works on them.
//
//  * 3D Shapes (Burgess & Kim 2018), `3dshapes.h5` (needs a build with HDF5): dataset `images`
//    uint8 [480000, 64, 64, 3] and dataset `labels` float64 [480000, 6], the rows in grid order.
//      j  name         classes  value (from `labels`)
//      0  floor_hue    10       0, 0.1, ..., 0.9
//      1  wall_hue     10       0, 0.1, ..., 0.9
//      2  object_hue   10       0, 0.1, ..., 0.9
//      3  scale        8        0.75 ... 1.25
//      4  shape        4        0 .. 3
//      5  orientation  15       −30 ... 30 (degrees)
//    The labels are checked to be the grid: the value of a factor depends only on its class and
//    differs between classes.
//  * MPI3D (Gondal et al. 2019), `mpi3d_toy.npz` / `mpi3d_realistic.npz` / `mpi3d_real.npz`:
//    member `images` uint8 [1036800, 64, 64, 3] in grid order; the files have no values, so a
//    factor's value is its class.
//      object_color 6, object_shape 6, object_size 2, camera_height 3, background_color 3,
//      horizontal_axis 40, vertical_axis 40
//  * SmallNORB (LeCun et al. 2004), the original `smallnorb-5x46789x9x18x6x2x96x96-training-
//    {dat,cat,info}.mat` (or `-testing-` with `test`; `.mat.gz` read as well) in one folder:
//    [24300, 2, 96, 96] uint8 stereo pairs, category [24300] int32, info [24300, 4] int32
//    (instance, elevation, azimuth, lighting). The left image, resized to 64×64 (triangle filter,
//    datasets/resize.h); items are reordered from the file's order into grid order.
//      j  name       classes  value
//      0  category   5        0 .. 4 (animal, human, airplane, truck, car)
//      1  instance   5        the file's instance id (each split holds 5 instances per category,
//                             class = rank of the id among its category's instances)
//      2  elevation  9        degrees: 30 + 5·class
//      3  azimuth    18       degrees: 10·file value (0, 2, .., 34 in the file; class = value / 2)
//      4  lighting   6        0 .. 5
//
// Items are {3, 64, 64} f32 in [0, 1] (SmallNORB: {1, 64, 64}). 3D Shapes (5.9 GB of pixels)
// and MPI3D (12.7 GB) are converted once into a planar uint8 cache file that is memory-mapped
// (datasets/image_cache.h: `<folder of the file>/.unravel-cache/` or $UNRAVEL_CACHE_DIR), read
// from the source sequentially; SmallNORB (100 MB at 64×64) is held in memory. Errors name the
// file and what is wrong with it (a missing dataset/member, a wrong shape or dtype, a truncated
// or corrupt file).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_cache.h"

namespace unravel {

struct GridDataOptions {
  /// The factor grid the file holds (empty = the published one). The file must have exactly
  /// its product of items; a smaller grid is for the small files tests write (3D Shapes, MPI3D).
  std::vector<int64_t> grid{};
  std::string cache_dir{};   ///< "" = image_cache_path's default (3D Shapes, MPI3D)
  bool verbose = true;       ///< progress while building the cache
  /// Run third-party parsers that can crash on a corrupt file (libhdf5) in a child process
  /// (datasets/isolated.h). false only for fuzzing, where the fuzzer must see the crash.
  bool isolate = true;
};

/// Images on a full factor grid, item i at grid index i (the shared part of the datasets above).
class GridImages : public Dataset {
 public:
  int64_t size() const override { return px_.size(); }
  Shape item_shape() const override {
    return Shape{px_.spec().channels, px_.spec().height, px_.spec().width};
  }
  std::string name() const override { return name_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  bool prefetch_batches() const override { return true; }

  int num_factors() const override { return static_cast<int>(sizes_.size()); }
  std::vector<std::string> factor_names() const override { return names_; }
  std::vector<int64_t> factor_sizes() const override { return sizes_; }
  using Dataset::factor_classes;
  using Dataset::factor_values;
  void factor_classes(int64_t i, std::span<int64_t> out) const override;
  void factor_values(int64_t i, std::span<double> out) const override;
  int64_t index_of_factors(std::span<const int64_t> classes) const override;

  /// The items' bytes (planar C × H × W per item).
  const ImagePixels& items() const { return px_; }

 protected:
  GridImages() : px_(ImagePixels::decode_none()) {}
  /// Sets names and sizes: `grid` when not empty (same length as `names`), else `published`.
  void set_factors(std::vector<std::string> names, const std::vector<int64_t>& published,
                   const std::vector<int64_t>& grid);
  int64_t grid_size() const;

  std::string name_;
  std::vector<std::string> names_;
  std::vector<int64_t> sizes_;
  /// Value of class c of factor j at class_values_[j][c]; or, when item_values_ is not empty,
  /// item i's values at item_values_[i·K ..] (SmallNORB's instance ids depend on the category).
  std::vector<std::vector<double>> class_values_;
  std::vector<double> item_values_;
  ImagePixels px_;
};

class Shapes3D final : public GridImages {
 public:
  static constexpr std::array<int64_t, 6> kGrid{10, 10, 10, 8, 4, 15};
  static constexpr const char* kFileName = "3dshapes.h5";
  /// Reads `path` (throws, saying so, in a build without HDF5).
  explicit Shapes3D(const std::string& path, const GridDataOptions& opts = {});
  /// True when this build can read HDF5 files.
  static bool available();
};

class Mpi3D final : public GridImages {
 public:
  static constexpr std::array<int64_t, 7> kGrid{6, 6, 2, 3, 3, 40, 40};
  explicit Mpi3D(const std::string& path, const GridDataOptions& opts = {});
};

class SmallNorb final : public GridImages {
 public:
  static constexpr std::array<int64_t, 5> kGrid{5, 5, 9, 18, 6};
  static constexpr int kItems = 24300;
  /// The three file names of a split, in the order dat, cat, info.
  static std::array<std::string, 3> file_names(bool test);
  /// Reads the training split (or the testing split) from `dir`, items resized to size × size.
  SmallNorb(const std::string& dir, bool test = false, int size = 64);
};

/// Interleaved items (n × hw × c bytes, e.g. [n, 64, 64, 3]) to planar ones (n × c × hw).
void interleaved_to_planar(const uint8_t* src, int64_t n, int c, int64_t hw, uint8_t* dst);

/// The cache file of a dataset read from the single file `path` (datasets/image_cache.h): in
/// `cache_dir`, else $UNRAVEL_CACHE_DIR, else `<folder of path>/.unravel-cache`, tagged
/// `<kind>-<file stem>`; `fingerprint` receives the stat fingerprint of the file and `spec`.
std::string file_cache_path(const std::string& path, const std::string& kind,
                            const ImageDecodeSpec& spec, const std::string& cache_dir,
                            uint64_t& fingerprint);

}  // namespace unravel
