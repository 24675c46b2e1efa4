// Name → dataset (see registry.h). Each dataset is listed once, in kinds(), with its factory.
#include "datasets/registry.h"

#include <fmt/ranges.h>

#include "datasets/dsprites.h"
#include "datasets/dsprites_variants.h"
#include "datasets/factor_datasets.h"
#include "datasets/image_folder.h"
#include "datasets/mnist.h"
#include "datasets/photo_datasets.h"
#include "datasets/pinwheel.h"
#include "engine/check.h"
#include "engine/random.h"

namespace unravel {

namespace {

using Factory = std::unique_ptr<Dataset> (*)(const std::string& name, const DatasetOptions& o);

struct DatasetKind {
  RegistryEntry entry;
  Factory make;
};

std::unique_ptr<Dataset> make_dsprites(const std::string&, const DatasetOptions& o) {
  if (!o.data.empty()) return std::make_unique<DSprites>(DSprites::from_npz(o.data));
  return std::make_unique<DSprites>();
}

std::unique_ptr<Dataset> make_mnist(const std::string& name, const DatasetOptions& o) {
  MnistOptions m;
  if (!o.data.empty()) m.dir = o.data;
  else
    UNRAVEL_CHECK(name == "fashion-mnist", "dataset '{}' needs a data path: the folder holding "
                  "its IDX files", name);
  m.train = !o.test;
  m.name = name;
  const Shape& s = o.item_shape;
  m.out_size = s.size() == 3 && s[1] != 28 ? static_cast<int>(s[1]) : 0;
  m.clamp = o.clamp;
  return std::make_unique<Mnist>(m);
}

std::unique_ptr<Dataset> make_pinwheel(const std::string&, const DatasetOptions& o) {
  // Train and test are separate draws, as in Mathieu et al.'s scripts.
  Generator g(o.seed * 2 + (o.test ? 1 : 0) + 1000003);
  return std::make_unique<Pinwheel>(PinwheelOptions{}, g);
}

std::unique_ptr<Dataset> make_folder(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: a folder of PNG/JPEG images",
                name);
  ImageFolderOptions f;
  if (!o.item_shape.empty()) {
    UNRAVEL_CHECK(o.item_shape.size() == 3, "dataset '{}': item shape must be {{C, H, W}}, got {}",
                  name, o.item_shape.str());
    f.channels = static_cast<int>(o.item_shape[0]);
    f.height = static_cast<int>(o.item_shape[1]);
    f.width = static_cast<int>(o.item_shape[2]);
  }
  f.cache = true;  // decoded once into <data>/.unravel-cache (or $UNRAVEL_CACHE_DIR), mapped
  return std::make_unique<ImageFolder>(o.data, f);
}

/// CelebA / 3D chairs: colour images, so always RGB (the model takes its channel count from the
/// dataset, apps/common/setup.cpp); square items of the item shape's size (default 64×64).
PhotoOptions photo_options(const std::string& name, const DatasetOptions& o) {
  PhotoOptions p;
  if (!o.item_shape.empty()) {
    UNRAVEL_CHECK(o.item_shape.size() == 3 && o.item_shape[1] == o.item_shape[2],
                  "dataset '{}': item shape must be {{C, S, S}} (square), got {}", name,
                  o.item_shape.str());
    p.size = static_cast<int>(o.item_shape[1]);
  }
  return p;
}

std::unique_ptr<Dataset> make_celeba(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: the folder holding "
                "img_align_celeba/ (and optionally list_attr_celeba.txt)", name);
  return std::make_unique<CelebA>(o.data, photo_options(name, o));
}

std::unique_ptr<Dataset> make_chairs(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: the folder holding "
                "rendered_chairs/", name);
  return std::make_unique<Chairs3D>(o.data, photo_options(name, o));
}

template <SpriteVariant V>
std::unique_ptr<Dataset> make_dsprites_variant(const std::string& name, const DatasetOptions& o) {
  DSpritesVariantOptions v;
  v.variant = V;
  v.seed = o.seed;
  if (V == SpriteVariant::scream) {
    UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: the background image (PNG or "
                  "JPEG, e.g. disentanglement_lib's scream.jpg)", name);
    v.background = o.data;
  }
  // Procedural sprites are rendered per item (no 377 MB grid): colouring costs more anyway.
  const DSpritesOptions lazy{.precompute = false};
  const bool procedural = V == SpriteVariant::scream || o.data.empty();
  return std::make_unique<DSpritesVariant>(
      procedural ? DSprites(lazy) : DSprites::from_npz(o.data), v);
}

std::unique_ptr<Dataset> make_3dshapes(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: DeepMind's 3dshapes.h5", name);
  return std::make_unique<Shapes3D>(o.data);
}

std::unique_ptr<Dataset> make_mpi3d(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: mpi3d_toy.npz, "
                "mpi3d_realistic.npz or mpi3d_real.npz", name);
  return std::make_unique<Mpi3D>(o.data);
}

std::unique_ptr<Dataset> make_smallnorb(const std::string& name, const DatasetOptions& o) {
  UNRAVEL_CHECK(!o.data.empty(), "dataset '{}' needs a data path: the folder holding the "
                "smallnorb-5x46789x9x18x6x2x96x96-{{training,testing}}-{{dat,cat,info}}.mat files",
                name);
  const Shape& s = o.item_shape;
  const int size = s.size() == 3 ? static_cast<int>(s[1]) : 64;
  return std::make_unique<SmallNorb>(o.data, o.test, size);
}

const std::vector<DatasetKind>& kinds() {
  static const std::vector<DatasetKind> k = {
      {{"dsprites", "procedural dSprites, 737 280 64x64 images, 5 factors (or the published .npz "
                   "as data path)"},
       make_dsprites},
      {{"fashion-mnist", "Fashion-MNIST (Debian's dataset-fashion-mnist, or the IDX files in the "
                        "data folder)"},
       make_mnist},
      {{"mnist", "MNIST: the IDX files in the data folder (required)"}, make_mnist},
      {{"pinwheel", "Mathieu et al.'s 400-point pinwheel (4 arms)"}, make_pinwheel},
      {{"folder", "the PNG/JPEG images of the data folder (required), resized to the item shape"},
       make_folder},
      {{"celeba", "CelebA: data/img_align_celeba/*.jpg (+ list_attr_celeba.txt: 40 binary "
                 "factors), centre crop 148, resized to 64x64"},
       make_celeba},
      {{"chairs", "3D chairs: data/rendered_chairs/<model>/renders/*.png, resized to 64x64 "
                 "(label = chair model)"},
       make_chairs},
      {{"3dshapes", "3D Shapes: DeepMind's 3dshapes.h5 (needs HDF5), 480 000 RGB 64x64, 6 factors"},
       make_3dshapes},
      {{"mpi3d", "MPI3D: mpi3d_{toy,realistic,real}.npz, 1 036 800 RGB 64x64, 7 factors"},
       make_mpi3d},
      {{"smallnorb", "SmallNORB: the -dat/-cat/-info .mat files in the data folder, left camera "
                    "resized to 64x64 grey, 5 factors (test = the testing files)"},
       make_smallnorb},
      {{"dsprites-color", "dSprites in a random colour per item (disentanglement_lib), 3x64x64"},
       make_dsprites_variant<SpriteVariant::color>},
      {{"dsprites-noisy", "white dSprites on uniform noise per item (disentanglement_lib), "
                         "3x64x64"},
       make_dsprites_variant<SpriteVariant::noisy>},
      {{"dsprites-scream", "dSprites on a colour-shifted crop of the data image, sprite inverted "
                          "(disentanglement_lib), 3x64x64"},
       make_dsprites_variant<SpriteVariant::scream>},
  };
  return k;
}

}  // namespace

const std::vector<RegistryEntry>& dataset_entries() {
  static const std::vector<RegistryEntry> e = [] {
    std::vector<RegistryEntry> v;
    for (const auto& k : kinds()) v.push_back(k.entry);
    return v;
  }();
  return e;
}

std::unique_ptr<Dataset> make_dataset(const std::string& name, const DatasetOptions& options) {
  for (const auto& k : kinds())
    if (k.entry.name == name) return k.make(name, options);
  UNRAVEL_CHECK(false, "unknown dataset '{}' (valid: {})", name,
                fmt::join(names_of(dataset_entries()), ", "));
  return nullptr;
}

}  // namespace unravel
