// The shared part of the grid image datasets (datasets/factor_datasets.h): batches from the
// items' bytes, factor classes from the mixed-radix index, values from per-class or per-item
// tables.
#include "datasets/factor_datasets.h"

#include <filesystem>

#include "engine/check.h"

namespace unravel {

void GridImages::set_factors(std::vector<std::string> names, const std::vector<int64_t>& published,
                             const std::vector<int64_t>& grid) {
  UNRAVEL_CHECK(grid.empty() || grid.size() == names.size(),
                "{}: the grid has {} factors, expected {}", name_, grid.size(), names.size());
  for (int64_t s : grid) UNRAVEL_CHECK(s > 0, "{}: grid sizes must be positive", name_);
  names_ = std::move(names);
  sizes_ = grid.empty() ? published : grid;
}

int64_t GridImages::grid_size() const {
  int64_t n = 1;
  for (int64_t s : sizes_) n *= s;
  return n;
}

void GridImages::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  px_.to_f32(indices, out.data<float>());
  out.bump_version();
}

void GridImages::factor_classes(int64_t i, std::span<int64_t> out) const {
  UNRAVEL_CHECK(i >= 0 && i < size(), "{}: factor_classes: item {} out of range [0, {})", name_, i,
                size());
  UNRAVEL_CHECK(out.size() == sizes_.size(), "{}: factor_classes: output has {} slots, need {}",
                name_, out.size(), sizes_.size());
  grid_classes(i, sizes_, out);
}

void GridImages::factor_values(int64_t i, std::span<double> out) const {
  const size_t k = sizes_.size();
  UNRAVEL_CHECK(i >= 0 && i < size(), "{}: factor_values: item {} out of range [0, {})", name_, i,
                size());
  UNRAVEL_CHECK(out.size() == k, "{}: factor_values: output has {} slots, need {}", name_,
                out.size(), k);
  if (!item_values_.empty()) {
    std::copy_n(item_values_.begin() + static_cast<int64_t>(i * k), k, out.begin());
    return;
  }
  int64_t cls[16];
  UNRAVEL_CHECK(k <= 16, "{}: {} factors", name_, k);
  grid_classes(i, sizes_, std::span<int64_t>(cls, k));
  for (size_t j = 0; j < k; ++j) out[j] = class_values_[j][static_cast<size_t>(cls[j])];
}

int64_t GridImages::index_of_factors(std::span<const int64_t> classes) const {
  return grid_index(classes, sizes_, name_.c_str());
}

void interleaved_to_planar(const uint8_t* src, int64_t n, int c, int64_t hw, uint8_t* dst) {
#pragma omp parallel for schedule(static) if (n >= 64)
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* s = src + i * hw * c;
    uint8_t* d = dst + i * hw * c;
    for (int64_t p = 0; p < hw; ++p)
      for (int k = 0; k < c; ++k) d[k * hw + p] = s[p * c + k];
  }
}

std::string file_cache_path(const std::string& path, const std::string& kind,
                            const ImageDecodeSpec& spec, const std::string& cache_dir,
                            uint64_t& fingerprint) {
  const std::filesystem::path p(path);
  const std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
  fingerprint = image_listing_fingerprint(dir, {p.filename().string()}, spec);
  return image_cache_path(dir, kind + "-" + p.stem().string(), spec, cache_dir);
}

}  // namespace unravel
