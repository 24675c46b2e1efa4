// The coloured dSprites variants of disentanglement_lib (Locatello et al. 2019,
// disentanglement_lib/data/ground_truth/dsprites.py): the dSprites images and factors
// (datasets/dsprites.h) drawn in colour, 3×64×64 in [0, 1]:
//
//   dsprites-color   the sprite in a random colour, each channel uniform in [0.5, 1), on black
//   dsprites-noisy   a white sprite on uniform noise in [0, 1) (each pixel and channel)
//   dsprites-scream  the background a random 64×64 crop of an image (disentanglement_lib uses
//                    Munch's "The Scream", shrunk to fit 350×274 as PIL's thumbnail does; any
//                    PNG/JPEG at least 64×64 works) with a random colour shift,
//                    (crop + u) / 2 with u uniform in [0, 1)³; where the sprite is, 1 − that.
//
// The randomness is a function of (seed, item): draw k of item i is half k mod 2 of the Philox
// block (key = seed, counter = i·2¹⁴ + ⌊k/2⌋) (engine/philox.h), so an item is the same every
// time it is read, in any batch, on any thread, and a different seed gives other colours.
// Draws: color k = 0..2 (R, G, B); noisy k = c·4096 + row·64 + column; scream k = 0, 1 (crop
// row, column offsets, ⌊u·(H − 63)⌋, ⌊u·(W − 63)⌋), k = 2..4 (shift of R, G, B).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/dsprites.h"

namespace unravel {

enum class SpriteVariant { color, noisy, scream };

struct DSpritesVariantOptions {
  SpriteVariant variant = SpriteVariant::color;
  uint64_t seed = 1;         ///< key of the per-item draws
  std::string background{};  ///< dsprites-scream: the PNG/JPEG whose crops are the backgrounds
};

class DSpritesVariant final : public Dataset {
 public:
  /// Colours the items of `base` (procedural or loaded, see DSprites); reads the background
  /// image for scream (errors name it).
  DSpritesVariant(DSprites base, const DSpritesVariantOptions& opts);

  int64_t size() const override { return base_.size(); }
  Shape item_shape() const override { return Shape{3, 64, 64}; }
  std::string name() const override;
  void get_batch(std::span<const int64_t> indices, Tensor& out) const override;

  int num_factors() const override { return base_.num_factors(); }
  std::vector<std::string> factor_names() const override { return base_.factor_names(); }
  std::vector<int64_t> factor_sizes() const override { return base_.factor_sizes(); }
  using Dataset::factor_classes;
  using Dataset::factor_values;
  void factor_classes(int64_t i, std::span<int64_t> out) const override {
    base_.factor_classes(i, out);
  }
  void factor_values(int64_t i, std::span<double> out) const override {
    base_.factor_values(i, out);
  }
  int64_t index_of_factors(std::span<const int64_t> classes) const override {
    return base_.index_of_factors(classes);
  }

  /// Item i as 3 × 64 × 64 floats (planar) into out.
  void render(int64_t i, float* out) const;
  const DSprites& base() const { return base_; }
  /// Draw k of item i (see the file comment), uniform in [0, 1).
  double draw(int64_t i, int64_t k) const;
  /// Name of a variant as in the registry ("dsprites-color", ...).
  static const char* variant_name(SpriteVariant v);

 private:
  DSprites base_;
  DSpritesVariantOptions opts_;
  int bg_h_ = 0, bg_w_ = 0;
  std::vector<float> bg_;  ///< scream background, planar 3 × bg_h_ × bg_w_ in [0, 1]
};

}  // namespace unravel
