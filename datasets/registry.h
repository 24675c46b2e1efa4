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
  bool test = false;      ///< the held-out split where there is one (MNIST family, pinwheel)
  uint64_t seed = 1;      ///< pinwheel: the draw is Generator(2·seed + test + 1000003)
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
