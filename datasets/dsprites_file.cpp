// Loading dSprites from an .npz (datasets/dsprites.h): the published
// dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz or any file with the same three members:
//   imgs             [N, 64, 64] uint8 (0/1; any non-zero byte counts as 1)
//   latents_classes  [N, 6] int64   (color, shape, scale, orientation, posX, posY)
//   latents_values   [N, 6] float64
// The constant colour column is dropped, so factors are columns 1..5. Factor sizes are
// max(class) + 1 per column (the published `metadata` member is a Python pickle and is not
// read). When the classes are the full grid in the official order, index_of_factors is the
// mixed-radix formula; otherwise a hash map from class tuples to items is built.
// The imgs member is decompressed into memory and parsed before it is bit-packed, so loading
// the published file needs about 2 × 3 GB of memory transiently.
#include <algorithm>

#include "datasets/dsprites.h"
#include "datasets/npz.h"
#include "engine/check.h"

namespace unravel {

DSprites DSprites::from_npz(const std::string& path) { return from_npz(NpzReader(path)); }

DSprites DSprites::from_npz(const NpzReader& npz) {
  const std::string& path = npz.path();
  DSprites d{FromFile{}};
  d.name_ = "dsprites:" + path;
  d.procedural_ = false;

  Tensor classes = npz.read("latents_classes");
  Tensor values = npz.read("latents_values");
  UNRAVEL_CHECK(classes.dim() == 2 && classes.size(1) == 6 && classes.dtype() == DType::i64,
                "dsprites '{}': member 'latents_classes.npy' must be int64 [N, 6], got {}", path,
                classes.desc());
  UNRAVEL_CHECK(values.dim() == 2 && values.size(1) == 6 && values.dtype() == DType::f64,
                "dsprites '{}': member 'latents_values.npy' must be float64 [N, 6], got {}", path,
                values.desc());
  const int64_t n = classes.size(0);
  UNRAVEL_CHECK(n > 0 && values.size(0) == n,
                "dsprites '{}': latents_classes has {} rows but latents_values has {}", path, n,
                values.size(0));
  d.n_ = n;
  d.classes_.resize(static_cast<size_t>(n) * 5);
  d.values_.resize(static_cast<size_t>(n) * 5);
  const int64_t* pc = classes.data<int64_t>();
  const double* pv = values.data<double>();
  std::vector<int64_t> sizes(5, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < 5; ++j) {
      const int64_t c = pc[i * 6 + 1 + j];
      UNRAVEL_CHECK(c >= 0, "dsprites '{}': latents_classes[{}, {}] = {} is negative", path, i,
                    j + 1, c);
      d.classes_[i * 5 + j] = c;
      d.values_[i * 5 + j] = pv[i * 6 + 1 + j];
      sizes[j] = std::max(sizes[j], c + 1);
    }
  d.sizes_ = sizes;

  int64_t grid = 1;
  for (int64_t s : sizes) grid *= s;
  bool ordered = grid == n;
  for (int64_t i = 0; ordered && i < n; ++i)
    ordered = grid_index(std::span<const int64_t>(d.classes_.data() + i * 5, 5), sizes,
                         "dsprites") == i;
  d.grid_order_ = ordered;
  if (!ordered) {
    d.lookup_.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      d.lookup_.emplace(grid_index(std::span<const int64_t>(d.classes_.data() + i * 5, 5), sizes,
                                   "dsprites"),
                        i);
  }

  Tensor imgs = npz.read("imgs");
  UNRAVEL_CHECK(imgs.dim() == 3 && imgs.size(0) == n && imgs.size(1) == 64 && imgs.size(2) == 64 &&
                    imgs.dtype() == DType::u8,
                "dsprites '{}': member 'imgs.npy' must be uint8 [{}, 64, 64], got {}", path, n,
                imgs.desc());
  const uint8_t* px = imgs.data<uint8_t>();
  d.bits_.assign(static_cast<size_t>(n) * 64, 0);
#pragma omp parallel for schedule(static) if (n > 1024)
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 64; ++r) {
      const uint8_t* row = px + (i * 64 + r) * 64;
      uint64_t w = 0;
      for (int c = 0; c < 64; ++c) w |= static_cast<uint64_t>(row[c] != 0) << c;
      d.bits_[i * 64 + r] = w;
    }
  return d;
}

}  // namespace unravel
