// The coloured dSprites variants (datasets/dsprites_variants.h).
#include "datasets/dsprites_variants.h"

#include <algorithm>
#include <cmath>

#include "datasets/jpeg.h"
#include "datasets/png.h"
#include "datasets/resize.h"
#include "engine/check.h"
#include "engine/philox.h"

namespace unravel {

namespace {
constexpr int kPixels = 64 * 64;
constexpr int kThumbW = 350, kThumbH = 274;  // disentanglement_lib's scream.thumbnail((350, 274))
}  // namespace

const char* DSpritesVariant::variant_name(SpriteVariant v) {
  switch (v) {
    case SpriteVariant::color: return "dsprites-color";
    case SpriteVariant::noisy: return "dsprites-noisy";
    case SpriteVariant::scream: return "dsprites-scream";
  }
  return "dsprites-?";
}

DSpritesVariant::DSpritesVariant(DSprites base, const DSpritesVariantOptions& opts)
    : base_(std::move(base)), opts_(opts) {
  if (opts_.variant != SpriteVariant::scream) return;
  UNRAVEL_CHECK(!opts_.background.empty(), "dsprites-scream needs a background image (a PNG or "
                "JPEG, e.g. disentanglement_lib's scream.jpg) as its data path");
  const Image8 img = read_image(opts_.background, 3);
  // PIL's thumbnail: shrink (never enlarge) to fit 350×274, keeping the aspect ratio.
  const double f = std::min({1.0, double(kThumbW) / img.width, double(kThumbH) / img.height});
  bg_w_ = std::max(1, static_cast<int>(std::round(img.width * f)));
  bg_h_ = std::max(1, static_cast<int>(std::round(img.height * f)));
  UNRAVEL_CHECK(bg_w_ >= 64 && bg_h_ >= 64, "dsprites-scream: background '{}' is {}x{} (after "
                "fitting 350x274: {}x{}); it must be at least 64x64", opts_.background, img.width,
                img.height, bg_w_, bg_h_);
  bg_.resize(static_cast<size_t>(3) * bg_h_ * bg_w_);
  Resizer(img.height, img.width, bg_h_, bg_w_).apply(img.data.data(), 3, bg_.data(), 1.f / 255.f);
}

std::string DSpritesVariant::name() const {
  std::string n = variant_name(opts_.variant);
  if (!opts_.background.empty()) n += ":" + opts_.background;
  return n;
}

double DSpritesVariant::draw(int64_t i, int64_t k) const {
  const philox::Block b =
      philox::block(opts_.seed, (static_cast<uint64_t>(i) << 14) + static_cast<uint64_t>(k / 2));
  return k % 2 == 0 ? philox::to_unit(b.v[0], b.v[1]) : philox::to_unit(b.v[2], b.v[3]);
}

void DSpritesVariant::render(int64_t i, float* out) const {
  uint8_t mask[kPixels];
  base_.image_u8(i, mask);
  switch (opts_.variant) {
    case SpriteVariant::color:
      for (int c = 0; c < 3; ++c) {
        const auto col = static_cast<float>(0.5 + 0.5 * draw(i, c));
        for (int p = 0; p < kPixels; ++p) out[c * kPixels + p] = mask[p] ? col : 0.f;
      }
      break;
    case SpriteVariant::noisy:
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < kPixels; ++p)
          out[c * kPixels + p] = mask[p] ? 1.f : static_cast<float>(draw(i, c * kPixels + p));
      break;
    case SpriteVariant::scream: {
      const auto y0 = static_cast<int>(draw(i, 0) * (bg_h_ - 63));
      const auto x0 = static_cast<int>(draw(i, 1) * (bg_w_ - 63));
      for (int c = 0; c < 3; ++c) {
        const double shift = draw(i, 2 + c);
        const float* plane = bg_.data() + static_cast<size_t>(c) * bg_h_ * bg_w_;
        for (int r = 0; r < 64; ++r)
          for (int q = 0; q < 64; ++q) {
            const auto v = static_cast<float>((plane[(y0 + r) * bg_w_ + x0 + q] + shift) / 2);
            out[c * kPixels + r * 64 + q] = mask[r * 64 + q] ? 1.f - v : v;
          }
      }
      break;
    }
  }
}

void DSpritesVariant::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  float* dst = out.data<float>();
  const auto n = static_cast<int64_t>(indices.size());
#pragma omp parallel for schedule(static) if (n >= 8)
  for (int64_t b = 0; b < n; ++b) render(indices[b], dst + b * 3 * kPixels);
  out.bump_version();
}

}  // namespace unravel
