// Separable triangle-filter resampling (datasets/resize.h), coefficients as in PIL's
// precompute_coeffs: support = max(in/out, 1), centre = (i + ½)·in/out,
// w(x) = max(0, 1 − |(x + ½ − centre)/max(in/out, 1)|), normalised per output index.
#include "datasets/resize.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace unravel {

Resizer::Taps Resizer::make_taps(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const double fscale = std::max(scale, 1.0);
  const double support = fscale;
  Taps t;
  t.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.w.assign(static_cast<size_t>(out) * t.stride, 0.f);
  for (int i = 0; i < out; ++i) {
    const double centre = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(centre - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(centre + support + 0.5), in);
    double sum = 0;
    std::vector<double> w;
    for (int x = lo; x < hi; ++x) {
      const double v = std::max(0.0, 1.0 - std::abs((x - centre + 0.5) / fscale));
      w.push_back(v);
      sum += v;
    }
    t.first[i] = lo;
    t.count[i] = static_cast<int>(w.size());
    for (size_t k = 0; k < w.size(); ++k) t.w[i * t.stride + k] = static_cast<float>(w[k] / sum);
  }
  return t;
}

Resizer::Resizer(int in_h, int in_w, int out_h, int out_w)
    : in_h_(in_h), in_w_(in_w), out_h_(out_h), out_w_(out_w) {
  UNRAVEL_CHECK(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0,
                "Resizer: sizes must be positive, got {}x{} -> {}x{}", in_h, in_w, out_h, out_w);
  rows_ = make_taps(in_h, out_h);
  cols_ = make_taps(in_w, out_w);
}

void Resizer::apply(const uint8_t* src, int c, float* dst, float mul) const {
  // Vertical pass first into a small per-output-row line (in_w values per channel), then the
  // horizontal pass; the line buffer lives on the stack for images up to 4096 wide.
  constexpr int kMaxLine = 4096 * 4;
  float line[kMaxLine];
  UNRAVEL_CHECK(in_w_ * c <= kMaxLine, "Resizer: source row of {}x{} too wide", in_w_, c);
  for (int oy = 0; oy < out_h_; ++oy) {
    const int y0 = rows_.first[oy], ny = rows_.count[oy];
    const float* wy = &rows_.w[static_cast<size_t>(oy) * rows_.stride];
    for (int k = 0; k < in_w_ * c; ++k) line[k] = 0.f;
    for (int j = 0; j < ny; ++j) {
      const uint8_t* s = src + static_cast<size_t>(y0 + j) * in_w_ * c;
      const float wj = wy[j];
      for (int k = 0; k < in_w_ * c; ++k) line[k] += wj * s[k];
    }
    for (int ox = 0; ox < out_w_; ++ox) {
      const int x0 = cols_.first[ox], nx = cols_.count[ox];
      const float* wx = &cols_.w[static_cast<size_t>(ox) * cols_.stride];
      for (int ch = 0; ch < c; ++ch) {
        float acc = 0.f;
        for (int j = 0; j < nx; ++j) acc += wx[j] * line[(x0 + j) * c + ch];
        dst[(static_cast<size_t>(ch) * out_h_ + oy) * out_w_ + ox] = acc * mul;
      }
    }
  }
}

}  // namespace unravel
