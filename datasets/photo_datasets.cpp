// CelebA and 3D chairs from their published folder layouts (datasets/photo_datasets.h).
#include "datasets/photo_datasets.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "engine/check.h"

namespace unravel {

namespace fs = std::filesystem;

namespace {

ImageDecodeSpec photo_spec(const PhotoOptions& o, int crop_side, const std::string& who) {
  UNRAVEL_CHECK(o.channels == 1 || o.channels == 3, "{}: channels must be 1 or 3, got {}", who,
                o.channels);
  UNRAVEL_CHECK(o.size > 0, "{}: size must be positive, got {}", who, o.size);
  return ImageDecodeSpec{o.channels, o.size, o.size, crop_side};
}

/// Parses list_attr_celeba.txt: a count line, a line of 40 names, then "<file> ±1 × 40" rows.
/// Fills names and, for every file of `files`, its 40 classes (1 = present) into `attr`.
void read_attributes(const std::string& path, const std::vector<std::string>& files,
                     std::vector<std::string>& names, std::vector<uint8_t>& attr) {
  std::ifstream in(path);
  UNRAVEL_CHECK(in.good(), "celeba: cannot open '{}'", path);
  std::string line;
  int64_t declared = -1;
  {
    UNRAVEL_CHECK(static_cast<bool>(std::getline(in, line)), "celeba '{}': empty file", path);
    std::istringstream ls(line);
    UNRAVEL_CHECK(static_cast<bool>(ls >> declared) && declared > 0,
                  "celeba '{}': line 1 should be the image count, got '{}'", path, line);
  }
  UNRAVEL_CHECK(static_cast<bool>(std::getline(in, line)), "celeba '{}': no attribute-name line",
                path);
  {
    std::istringstream ls(line);
    for (std::string w; ls >> w;) names.push_back(w);
    UNRAVEL_CHECK(names.size() == CelebA::kNumAttributes,
                  "celeba '{}': line 2 should name {} attributes, got {}", path,
                  CelebA::kNumAttributes, names.size());
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < files.size(); ++i) index.emplace(files[i], i);
  attr.assign(files.size() * CelebA::kNumAttributes, 2);  // 2 = not seen yet
  int64_t rows = 0;
  size_t seen = 0;
  for (int64_t lineno = 3; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++rows;
    std::istringstream ls(line);
    std::string file;
    ls >> file;
    int v[CelebA::kNumAttributes];
    int got = 0;
    for (int x; got < CelebA::kNumAttributes && ls >> x; ++got) v[got] = x;
    std::string extra;
    UNRAVEL_CHECK(got == CelebA::kNumAttributes && !(ls >> extra),
                  "celeba '{}' line {}: expected a file name and {} values, got {} values{}", path,
                  lineno, CelebA::kNumAttributes, got, extra.empty() ? "" : " and more");
    const auto it = index.find(file);
    if (it == index.end()) continue;  // a row for an image this folder does not hold
    uint8_t* a = &attr[it->second * CelebA::kNumAttributes];
    UNRAVEL_CHECK(a[0] == 2, "celeba '{}' line {}: second row for '{}'", path, lineno, file);
    for (int k = 0; k < CelebA::kNumAttributes; ++k) {
      UNRAVEL_CHECK(v[k] == 1 || v[k] == -1, "celeba '{}' line {}: attribute '{}' of '{}' is {}, "
                    "expected 1 or -1", path, lineno, names[k], file, v[k]);
      a[k] = v[k] == 1 ? 1 : 0;
    }
    ++seen;
  }
  UNRAVEL_CHECK(rows == declared, "celeba '{}': line 1 declares {} images but the file has {} rows "
                "(truncated?)", path, declared, rows);
  if (seen != files.size())
    for (size_t i = 0; i < files.size(); ++i)
      UNRAVEL_CHECK(attr[i * CelebA::kNumAttributes] != 2, "celeba '{}': no attribute row for "
                    "image '{}'", path, files[i]);
}

}  // namespace

// --- CelebA ---------------------------------------------------------------------------------

CelebA::CelebA(const std::string& root, const PhotoOptions& opts) : px_(ImagePixels::decode_none()) {
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_directory(root, ec), "celeba: '{}' is not a directory (expected the folder "
                "holding img_align_celeba/ and list_attr_celeba.txt)", root);
  const fs::path sub = fs::path(root) / "img_align_celeba";
  image_dir_ = fs::is_directory(sub, ec) ? sub.string() : root;
  files_ = list_image_files(image_dir_);
  UNRAVEL_CHECK(!files_.empty(), "celeba: no .jpg images in '{}' (expected img_align_celeba/*.jpg)",
                image_dir_);
  for (const fs::path& cand : {fs::path(image_dir_).parent_path() / "list_attr_celeba.txt",
                               fs::path(image_dir_) / "list_attr_celeba.txt"})
    if (attr_path_.empty() && fs::is_regular_file(cand, ec)) attr_path_ = cand.string();
  if (!attr_path_.empty()) read_attributes(attr_path_, files_, attr_names_, attr_);
  const ImageDecodeSpec spec = photo_spec(opts, kCropSide, "celeba");
  px_ = ImagePixels::cached(image_dir_, files_, spec,
                            image_cache_path(image_dir_, "celeba", spec, opts.cache_dir), opts.verbose);
}

void CelebA::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  px_.to_f32(indices, out.data<float>());
  out.bump_version();
}

std::vector<int64_t> CelebA::factor_sizes() const {
  return std::vector<int64_t>(static_cast<size_t>(num_factors()), 2);
}

void CelebA::factor_classes(int64_t i, std::span<int64_t> out) const {
  UNRAVEL_CHECK(has_attributes(), "{}: no list_attr_celeba.txt was found, so no factors", name());
  UNRAVEL_CHECK(i >= 0 && i < size() && out.size() == kNumAttributes,
                "{}: factor_classes({}) with {} slots (items 0..{}, {} factors)", name(), i,
                out.size(), size() - 1, kNumAttributes);
  for (int k = 0; k < kNumAttributes; ++k) out[k] = attr_[i * kNumAttributes + k];
}

void CelebA::factor_values(int64_t i, std::span<double> out) const {
  int64_t c[kNumAttributes];
  UNRAVEL_CHECK(out.size() == kNumAttributes, "{}: factor_values needs {} slots, got {}", name(),
                kNumAttributes, out.size());
  factor_classes(i, c);
  for (int k = 0; k < kNumAttributes; ++k) out[k] = static_cast<double>(c[k]);
}

int64_t CelebA::index_of_factors(std::span<const int64_t>) const {
  UNRAVEL_CHECK(false, "{}: the 40 CelebA attributes are observed labels of photos, not a full "
                "grid of factors, so no image can be looked up for a chosen attribute tuple; use a "
                "metric that needs only codes and factor values (encode the dataset into a code "
                "table: MIG, SAP, DCI), not one that renders images for fixed factors", name());
  return -1;
}

// --- 3D chairs ------------------------------------------------------------------------------

Chairs3D::Chairs3D(const std::string& root, const PhotoOptions& opts) : px_(ImagePixels::decode_none()) {
  std::error_code ec;
  UNRAVEL_CHECK(fs::is_directory(root, ec), "chairs: '{}' is not a directory (expected the folder "
                "holding rendered_chairs/)", root);
  const fs::path sub = fs::path(root) / "rendered_chairs";
  dir_ = fs::is_directory(sub, ec) ? sub.string() : root;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.is_directory() && fs::is_directory(e.path() / "renders", ec))
      models_.push_back(e.path().filename().string());
  std::sort(models_.begin(), models_.end());
  UNRAVEL_CHECK(!models_.empty(), "chairs: no <model>/renders/ folders in '{}' (expected "
                "rendered_chairs/<model>/renders/*.png)", dir_);
  for (size_t m = 0; m < models_.size(); ++m) {
    const std::string renders = (fs::path(models_[m]) / "renders").string();
    const auto names = list_image_files((fs::path(dir_) / renders).string());
    UNRAVEL_CHECK(!names.empty(), "chairs: no images in '{}'", (fs::path(dir_) / renders).string());
    for (const auto& n : names) {
      files_.push_back((fs::path(renders) / n).string());
      labels_.push_back(static_cast<int64_t>(m));
    }
  }
  const ImageDecodeSpec spec = photo_spec(opts, 0, "chairs");
  px_ = ImagePixels::cached(dir_, files_, spec, image_cache_path(dir_, "chairs", spec, opts.cache_dir),
                            opts.verbose);
}

void Chairs3D::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  px_.to_f32(indices, out.data<float>());
  out.bump_version();
}

}  // namespace unravel
