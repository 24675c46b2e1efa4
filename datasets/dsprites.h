// dSprites (Matthey et al. 2017): 737 280 binary 64×64 images of a white sprite on black, one per
// combination of 5 factors, in the official index order. Built in (rendered procedurally, see
// datasets/dsprites.cpp for the exact geometry) or read from the published
// `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` (datasets/dsprites_file.cpp).
//
// Factors (the published file's latents minus its constant `color` column 0):
//   j  name         classes  values
//   0  shape        3        1, 2, 3 = square, ellipse, heart
//   1  scale        6        linspace(0.5, 1, 6)
//   2  orientation  40       linspace(0, 2π, 40) (radians; first and last are the same angle)
//   3  posX         32       linspace(0, 1, 32)  (0 = left)
//   4  posY         32       linspace(0, 1, 32)  (0 = top)
// Index = shape·245760 + scale·40960 + orientation·1024 + posX·32 + posY (last fastest).
// Images are held bit-packed: row r of image i is one uint64 whose bit c is pixel (r, c),
// 512 bytes per image, 377 MB for the whole grid.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "datasets/dataset.h"

namespace unravel {

class NpzReader;

/// The three dSprites shapes, numbered as the published file's class ids.
enum class SpriteShape : int { square = 0, ellipse = 1, heart = 2 };

/// Bit-packed 64×64 binary image: rows[r] bit c = pixel (row r, column c).
using SpriteBits = std::array<uint64_t, 64>;

/// Renders one sprite at continuous factor values (scale in [0.5, 1] nominally, angle in
/// radians, positions in [0, 1]) into `out` with the geometry documented in dsprites.cpp.
void render_sprite(SpriteShape shape, double scale, double angle, double pos_x, double pos_y,
                   SpriteBits& out);
/// Unpacks bits to 4096 bytes (0/1), row-major.
void unpack_sprite(const SpriteBits& bits, uint8_t* out);
/// Number of set pixels.
int sprite_area(const SpriteBits& bits);

struct DSpritesOptions {
  /// true: render the whole grid once at construction (OpenMP) and keep it bit-packed;
  /// false: render each requested image on the fly in get_batch (no 377 MB of memory).
  bool precompute = true;
};

class DSprites final : public Dataset {
 public:
  static constexpr int kImageSize = 64;
  static constexpr int kNumFactors = 5;
  static constexpr std::array<int64_t, 5> kFactorSizes{3, 6, 40, 32, 32};
  static constexpr int64_t kGridSize = 3 * 6 * 40 * 32 * 32;  // 737 280

  /// The procedural grid (all 737 280 images).
  explicit DSprites(DSpritesOptions opts = {});
  /// Reads the published npz (or any npz with members imgs [N,64,64] u8, latents_classes
  /// [N,6] i64, latents_values [N,6] f64); errors name the file and the member.
  static DSprites from_npz(const std::string& path);
  /// The same from an archive already open (a file or a buffer; see datasets/npz.h).
  static DSprites from_npz(const NpzReader& npz);
  /// Path of the published file, for messages and defaults.
  static constexpr const char* kFileName = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz";

  int64_t size() const override { return n_; }
  Shape item_shape() const override { return Shape{1, kImageSize, kImageSize}; }
  std::string name() const override { return name_; }
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;
  /// The bit-packed images when in memory (a row's uint64 is 8 bytes of 8 columns each, least
  /// significant first, on a little-endian host); nullptr when rendered on the fly.
  const uint8_t* packed_binary_items() const override;

  int num_factors() const override { return kNumFactors; }
  std::vector<std::string> factor_names() const override;
  std::vector<int64_t> factor_sizes() const override { return sizes_; }
  void factor_classes(int64_t i, std::span<int64_t> out) const override;
  void factor_values(int64_t i, std::span<double> out) const override;
  int64_t index_of_factors(std::span<const int64_t> classes) const override;
  using Dataset::factor_classes;
  using Dataset::factor_values;

  /// The bit-packed image i (rendered now when not precomputed).
  SpriteBits image_bits(int64_t i) const;
  /// Image i as 4096 bytes 0/1.
  void image_u8(int64_t i, uint8_t* out) const;
  /// True when images are held in memory (precomputed grid or loaded file).
  bool in_memory() const { return !bits_.empty(); }
  /// The official possible values of factor j (procedural grid).
  static const std::vector<double>& factor_grid_values(int j);

 private:
  struct FromFile {};
  explicit DSprites(FromFile) {}
  void render_grid();
  void render_index(int64_t i, SpriteBits& out) const;

  std::string name_ = "dsprites";
  int64_t n_ = kGridSize;
  bool procedural_ = true;
  bool grid_order_ = true;                // item i has grid classes of index i
  std::vector<int64_t> sizes_{kFactorSizes.begin(), kFactorSizes.end()};
  std::vector<uint64_t> bits_;            // n_ * 64 rows when in memory
  std::vector<int64_t> classes_;          // n_ * 5 (loaded files only)
  std::vector<double> values_;            // n_ * 5 (loaded files only)
  std::unordered_map<int64_t, int64_t> lookup_;  // grid key -> item (files not in grid order)

};

}  // namespace unravel
