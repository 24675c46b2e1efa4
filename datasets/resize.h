// Image resizing with a separable triangle ("bilinear") filter, the same coefficients as PIL's
// Image.resize(..., BILINEAR) (what torchvision's Resize applies to PIL images): output pixel i
// is centred at source coordinate (i + ½)·in/out; the filter is 1 − |t| with its support widened
// by in/out when shrinking (so downscaling averages instead of aliasing); weights are
// normalised to sum to 1 and clipped at the border. Upscaling is ordinary half-pixel bilinear.
#pragma once
#include <cstdint>
#include <vector>

namespace unravel {

/// Precomputed resampling from in_h × in_w to out_h × out_w (any channel count).
class Resizer {
 public:
  Resizer(int in_h, int in_w, int out_h, int out_w);
  /// src: in_h × in_w × c bytes (interleaved); dst: c × out_h × out_w floats (planar, CHW),
  /// each value multiplied by `mul` (1/255 gives [0, 1]). Allocates nothing.
  void apply(const uint8_t* src, int c, float* dst, float mul) const;
  int out_h() const { return out_h_; }
  int out_w() const { return out_w_; }

 private:
  struct Taps {
    std::vector<int> first, count;  // per output index
    std::vector<float> w;           // count[i] weights at offset i * stride
    int stride = 0;
  };
  static Taps make_taps(int in, int out);
  int in_h_, in_w_, out_h_, out_w_;
  Taps rows_, cols_;
};

}  // namespace unravel
