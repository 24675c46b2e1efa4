// Dataset: the interface every data source implements (dSprites, MNIST/Fashion-MNIST, pinwheel,
// image folders). A dataset holds all of its items in host memory, in whatever compact form
// suits it (bit-packed sprites, u8 pixels, f32 points), and writes a batch of items, chosen by
// index, as f32 into a caller-provided contiguous CPU tensor of shape [n, item_shape...]. The
// batch tensor is preallocated by the caller (see datasets/batcher.h), so assembling a batch
// allocates nothing.
//
// Optional annotations:
//   * labels: one class id per item (MNIST classes, pinwheel arms);
//   * factors of variation on a grid (dSprites): K factors, factor j taking sizes[j] discrete
//     classes 0..sizes[j]-1, each with a real value (scale 0.5..1, angle in radians, ...).
//     `index_of_factors` maps a full class tuple back to the item index, which is what the
//     metrics' factor sampler ("fix factor k, sample the rest") needs.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/shape.h"
#include "engine/tensor.h"

namespace unravel {

class Dataset {
 public:
  virtual ~Dataset() = default;

  /// Number of items.
  virtual int64_t size() const = 0;
  /// Shape of one item: {C, H, W} for images, {D} for vectors (pinwheel: {2}).
  virtual Shape item_shape() const = 0;
  /// A short name for messages ("dsprites", "fashion-mnist/train", ...).
  virtual std::string name() const = 0;
  /// Writes items `indices` as f32 into `out`, a contiguous CPU f32 tensor of shape
  /// [indices.size(), item_shape...]; allocates nothing. Bumps `out`'s version counter.
  virtual void get_batch(std::span<const int64_t> indices, Tensor& out) const = 0;
  /// True when get_batch reads decoded images (u8 items, often a memory-mapped cache, so page
  /// faults and the u8 → f32 conversion) and so gains from a background worker gathering the
  /// next batch while a step runs (datasets/prefetch.h; `unravel train` uses one then).
  virtual bool prefetch_batches() const { return false; }
  /// Binary images held in memory bit-packed: every item's item_numel() pixels (0 or 1) as
  /// item_numel() / 8 bytes, pixel p in bit p % 8 (least significant first) of byte p / 8, items
  /// back to back. nullptr (the default) when the dataset has no such buffer. The Batcher keeps
  /// such a dataset resident on an accelerator at 1 bit per pixel (dSprites: 377 MB instead of
  /// 12 GB as f32) and unpacks each batch there.
  virtual const uint8_t* packed_binary_items() const { return nullptr; }

  // --- labels (optional) ----------------------------------------------------------------------
  /// True when every item has a class label.
  virtual bool has_labels() const { return false; }
  /// Number of label classes (0 without labels).
  virtual int64_t num_classes() const { return 0; }
  /// Label of item i (requires has_labels()).
  virtual int64_t label(int64_t i) const;

  // --- factors of variation (optional) --------------------------------------------------------
  /// Number of ground-truth factors K (0 when the dataset has none).
  virtual int num_factors() const { return 0; }
  /// Names of the K factors.
  virtual std::vector<std::string> factor_names() const { return {}; }
  /// Number of classes of each factor.
  virtual std::vector<int64_t> factor_sizes() const { return {}; }
  /// Writes the K factor classes (0-based) of item i into out (size K).
  virtual void factor_classes(int64_t i, std::span<int64_t> out) const;
  /// Writes the K factor values of item i into out (size K).
  virtual void factor_values(int64_t i, std::span<double> out) const;
  /// The item whose factor classes are `classes` (size K); throws when no item has them.
  virtual int64_t index_of_factors(std::span<const int64_t> classes) const;

  // --- conveniences built on the above --------------------------------------------------------
  /// Elements per item (product of item_shape()).
  int64_t item_numel() const { return numel(item_shape()); }
  /// Factor classes of item i as a vector.
  std::vector<int64_t> factor_classes(int64_t i) const;
  /// Factor values of item i as a vector.
  std::vector<double> factor_values(int64_t i) const;
  /// The whole dataset's factor classes as an i64 tensor [size(), K] (OpenMP over items).
  Tensor factor_class_table() const;
  /// The whole dataset's factor values as an f64 tensor [size(), K].
  Tensor factor_value_table() const;
  /// All labels as an i64 tensor [size()] (requires has_labels()).
  Tensor label_table() const;
  /// Allocates a contiguous f32 batch tensor [n, item_shape...] for get_batch.
  Tensor make_batch_tensor(int64_t n) const;

 protected:
  /// Checks `out` and every index for get_batch (names this dataset in the error).
  void check_batch_args(std::span<const int64_t> indices, const Tensor& out) const;
};

/// Row-major mixed-radix index of `classes` on a grid with extents `sizes` (last fastest);
/// checks every class is in range, naming `who` in the error.
int64_t grid_index(std::span<const int64_t> classes, std::span<const int64_t> sizes,
                   const char* who);
/// Inverse of grid_index: writes the classes of grid item `index` into out.
void grid_classes(int64_t index, std::span<const int64_t> sizes, std::span<int64_t> out);

/// NumPy's linspace(start, stop, n) (endpoint included, last value exactly `stop`): element i
/// is start + i * (stop - start) / (n - 1), computed as NumPy does.
std::vector<double> linspace(double start, double stop, int64_t n);

}  // namespace unravel
