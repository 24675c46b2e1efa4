// PNG/JPEG folder dataset (datasets/image_folder.h).
#include "datasets/image_folder.h"

#include "engine/check.h"

namespace unravel {

namespace {

std::vector<std::string> listed(const std::string& dir) {
  std::vector<std::string> files = list_image_files(dir);
  UNRAVEL_CHECK(!files.empty(), "ImageFolder: no .png, .jpg or .jpeg files in '{}'", dir);
  return files;
}

ImagePixels load(const std::string& dir, const std::vector<std::string>& files,
                 const ImageFolderOptions& o) {
  UNRAVEL_CHECK(o.channels == 1 || o.channels == 3,
                "ImageFolder '{}': channels must be 1 or 3, got {}", dir, o.channels);
  UNRAVEL_CHECK(o.height > 0 && o.width > 0, "ImageFolder '{}': size {}x{} must be positive", dir,
                o.height, o.width);
  const ImageDecodeSpec spec{o.channels, o.height, o.width, o.crop_side};
  if (!o.cache) return ImagePixels::decode(dir, files, spec);
  return ImagePixels::cached(dir, files, spec, image_cache_path(dir, "folder", spec, o.cache_dir));
}

}  // namespace

ImageFolder::ImageFolder(const std::string& dir, const ImageFolderOptions& opts)
    : dir_(dir), channels_(opts.channels), height_(opts.height), width_(opts.width),
      files_(listed(dir)), px_(load(dir, files_, opts)) {}

void ImageFolder::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  px_.to_f32(indices, out.data<float>());
  out.bump_version();
}

}  // namespace unravel
