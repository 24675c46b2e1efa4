// PNG folder dataset (datasets/image_folder.h).
#include "datasets/image_folder.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>

#include "datasets/png.h"
#include "datasets/resize.h"
#include "engine/check.h"

namespace unravel {

namespace fs = std::filesystem;

ImageFolder::ImageFolder(const std::string& dir, const ImageFolderOptions& opts)
    : dir_(dir), channels_(opts.channels), height_(opts.height), width_(opts.width) {
  UNRAVEL_CHECK(channels_ == 1 || channels_ == 3, "ImageFolder '{}': channels must be 1 or 3, got {}",
                dir, channels_);
  UNRAVEL_CHECK(height_ > 0 && width_ > 0, "ImageFolder '{}': size {}x{} must be positive", dir,
                height_, width_);
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_directory(dir, ec), "ImageFolder: '{}' is not a directory", dir);
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png") files_.push_back(e.path().filename().string());
  }
  std::sort(files_.begin(), files_.end());
  UNRAVEL_CHECK(!files_.empty(), "ImageFolder: no .png files in '{}'", dir);

  const int64_t per = item_numel();
  data_.resize(files_.size() * static_cast<size_t>(per));
  const auto n = static_cast<int64_t>(files_.size());
  std::vector<std::string> errors(files_.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const Image8 img = read_png((fs::path(dir) / files_[i]).string(), channels_);
      Resizer rs(img.height, img.width, height_, width_);
      std::vector<float> tmp(static_cast<size_t>(per));
      rs.apply(img.data.data(), channels_, tmp.data(), 1.f);
      uint8_t* o = data_.data() + i * per;
      for (int64_t k = 0; k < per; ++k)
        o[k] = static_cast<uint8_t>(std::clamp(std::lround(tmp[k]), 0L, 255L));
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (size_t i = 0; i < errors.size(); ++i)
    UNRAVEL_CHECK(errors[i].empty(), "ImageFolder '{}': file '{}': {}", dir, files_[i], errors[i]);
}

void ImageFolder::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  float* dst = out.data<float>();
  const int64_t per = item_numel();
  for (size_t b = 0; b < indices.size(); ++b) {
    const uint8_t* s = pixels(indices[b]);
    float* o = dst + static_cast<int64_t>(b) * per;
    for (int64_t k = 0; k < per; ++k) o[k] = s[k] * (1.f / 255.f);
  }
  out.bump_version();
}

}  // namespace unravel
