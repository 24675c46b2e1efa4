// The datasets by name: one table of name, one-line meaning and factory (datasets/registry.cpp),
// read by `unravel train --dataset`, `unravel list` and every message that lists valid names.
//
//   dsprites       procedural grid, or the published .npz at `data`
//   fashion-mnist  IDX files in `data` (default: Debian's /usr/share/datasets/fashion-mnist)
//   mnist          IDX files in `data` (required)
//   pinwheel       Mathieu et al.'s pinwheel, drawn from `seed` (train and test separate draws)
//   folder         the PNG/JPEG images of the folder `data` (required)
//   celeba         CelebA's img_align_celeba/ (+ list_attr_celeba.txt) under `data` (required)
//   chairs         3D chairs' rendered_chairs/ under `data` (required)
//   3dshapes       DeepMind's 3dshapes.h5 at `data` (required; a build with HDF5): 480 000
//                  3×64×64 images; factors floor_hue 10, wall_hue 10, object_hue 10, scale 8,
//                  shape 4, orientation 15
//   mpi3d          mpi3d_toy/realistic/real.npz at `data` (required): 1 036 800 3×64×64 images;
//                  factors object_color 6, object_shape 6, object_size 2, camera_height 3,
//                  background_color 3, horizontal_axis 40, vertical_axis 40
//   smallnorb      the folder `data` (required) with the original smallnorb-5x46789x9x18x6x2x96x96-
//                  training-{dat,cat,info}.mat (testing-* with `test`): 24 300 1×64×64 images (the
//                  left camera); factors category 5, instance 5, elevation 9, azimuth 18, lighting 6
//   dsprites-color / dsprites-noisy / dsprites-scream  disentanglement_lib's coloured dSprites,
//                  3×64×64, dSprites' factors (shape 3, scale 6, orientation 40, posX 32, posY 32);
//                  per-item colours keyed by (`seed`, item); `data`: the dSprites .npz (color,
//                  noisy; optional) or the background image (scream; required)
// The grid datasets' item i has the factor classes of mixed-radix index i in the order listed
// (datasets/factor_datasets.h, dsprites.h).
//
// What a dataset needs comes as plain DatasetOptions; callers (apps/common/setup.cpp) derive
// them from their own configuration (the architecture's item shape, the likelihood's clamp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/registry_entry.h"
#include "engine/shape.h"

namespace unravel {

struct DatasetOptions {
  std::string data{};     ///< path: dSprites .npz, MNIST IDX folder or PNG folder ("" = default)
  /// the held-out split where there is one (MNIST family, pinwheel, smallnorb)
  bool test = false;
  /// pinwheel: the draw is Generator(2·seed + test + 1000003); dsprites-color/noisy/scream: the
  /// key of the per-item colours
  uint64_t seed = 1;
  /// The item shape the consumer expects, {C, H, W} (empty = the dataset's own). MNIST-family
  /// images are resized to H × H when H ≠ 28; folder images are read as C channels at H × W.
  Shape item_shape{};
  double clamp = 0.0;     ///< MNIST family: clamp pixels to [clamp, 1 − clamp] when > 0
};

/// Every dataset name with its meaning, in listing order.
const std::vector<RegistryEntry>& dataset_entries();

/// The dataset called `name`; throws listing the valid names for an unknown one, and naming
/// the missing file or folder when the data cannot be read.
std::unique_ptr<Dataset> make_dataset(const std::string& name, const DatasetOptions& options = {});

}  // namespace unravel
