// MNIST / Fashion-MNIST loading and batching (datasets/mnist.h).
#include "datasets/mnist.h"

#include <algorithm>
#include <filesystem>

#include "datasets/idx.h"
#include "engine/check.h"

namespace unravel {

std::string mnist_file(const std::string& dir, bool train, bool images) {
  const std::string base = std::string(train ? "train" : "t10k") +
                           (images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte");
  const std::filesystem::path gz = std::filesystem::path(dir) / (base + ".gz");
  const std::filesystem::path plain = std::filesystem::path(dir) / base;
  if (!std::filesystem::exists(gz) && std::filesystem::exists(plain)) return plain.string();
  return gz.string();
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

Mnist::Mnist(const MnistOptions& opts)
    : name_(opts.name + (opts.train ? "/train" : "/test")) {
  const std::string img_path = mnist_file(opts.dir, opts.train, true);
  const std::string lab_path = mnist_file(opts.dir, opts.train, false);
  IdxArray img = read_idx(img_path);
  IdxArray lab = read_idx(lab_path);
  UNRAVEL_CHECK(img.type == 0x08 && img.dims.size() == 3,
                "{}: '{}' has magic 0x{:02x}{:02x}, expected 0x0803 (u8 images, rank 3)", name_,
                img_path, img.type, img.dims.size());
  UNRAVEL_CHECK(lab.type == 0x08 && lab.dims.size() == 1,
                "{}: '{}' has magic 0x{:02x}{:02x}, expected 0x0801 (u8 labels, rank 1)", name_,
                lab_path, lab.type, lab.dims.size());
  UNRAVEL_CHECK(img.dims[1] == 28 && img.dims[2] == 28, "{}: '{}' holds {}x{} images, expected 28x28",
                name_, img_path, img.dims[1], img.dims[2]);
  UNRAVEL_CHECK(img.dims[0] == lab.dims[0], "{}: '{}' has {} images but '{}' has {} labels", name_,
                img_path, img.dims[0], lab_path, lab.dims[0]);
  for (size_t i = 0; i < lab.data.size(); ++i)
    UNRAVEL_CHECK(lab.data[i] <= 9, "{}: '{}': label {} of item {} is not in 0..9", name_, lab_path,
                  lab.data[i], i);
  n_ = img.dims[0];
  pixels_ = std::move(img.data);
  labels_ = std::move(lab.data);
  UNRAVEL_CHECK(opts.out_size >= 0, "{}: out_size must be >= 0, got {}", name_, opts.out_size);
  if (opts.out_size > 0 && opts.out_size != 28) {
    side_ = opts.out_size;
    resizer_ = std::make_unique<Resizer>(28, 28, side_, side_);
  }
  UNRAVEL_CHECK(opts.clamp >= 0 && opts.clamp < 0.5, "{}: clamp must be in [0, 0.5), got {}", name_,
                opts.clamp);
  lo_ = static_cast<float>(opts.clamp);
  hi_ = static_cast<float>(1.0 - opts.clamp);
}

int64_t Mnist::label(int64_t i) const {
  UNRAVEL_CHECK(i >= 0 && i < n_, "{}: label index {} out of range [0, {})", name_, i, n_);
  return labels_[i];
}

void Mnist::get_batch(std::span<const int64_t> indices, Tensor& out) const {
  check_batch_args(indices, out);
  float* dst = out.data<float>();
  const auto n = static_cast<int64_t>(indices.size());
  const int64_t per = static_cast<int64_t>(side_) * side_;
  const bool clamp = lo_ > 0.f;
#pragma omp parallel for schedule(static) if (n >= 64)
  for (int64_t b = 0; b < n; ++b) {
    const uint8_t* src = raw_image(indices[b]);
    float* o = dst + b * per;
    if (resizer_) {
      resizer_->apply(src, 1, o, 1.f / 255.f);
      for (int64_t k = 0; k < per; ++k) o[k] = std::clamp(o[k], lo_, hi_);
    } else {
      for (int64_t k = 0; k < per; ++k) o[k] = src[k] * (1.f / 255.f);
      if (clamp)
        for (int64_t k = 0; k < per; ++k) o[k] = std::clamp(o[k], lo_, hi_);
    }
  }
  out.bump_version();
}

}  // namespace unravel
