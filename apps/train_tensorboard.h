// What `unravel train` writes for TensorBoard in RUN/tb (unless --no-tensorboard):
//
//   at every log step     each log.csv column but `step` as a scalar of the same name, and
//                         kl/z<d>: the batch's KL per latent (StepLog::kl_per_latent)
//   at every checkpoint   posterior_mean/z<d>: histograms of the posterior means of a fixed set
//                         of items; for image data also the images `reconstructions` (8 fixed
//                         items above their decoded posterior means) and `traversals` (rows
//                         z0, z1, ...: the first item's mean with that latent set to -2 ... 2)
//
// Each process writes a new event file. A resumed run's file starts with a SessionLog START at
// the step after its checkpoint, so TensorBoard drops what the interrupted process logged past
// the checkpoint, and shows what the truncated log.csv holds.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/setup.h"
#include "apps/common/tensorboard.h"

namespace unravel::apps {

/// RUN/tb.
std::string tensorboard_dir(const std::string& run);

class TrainBoard {
 public:
  /// Opens a new event file in RUN/tb for run `r`; `resumed_from` > 0: the checkpoint step a
  /// resumed run continues from.
  TrainBoard(const std::string& run, Run& r, int64_t resumed_from);
  /// A log.csv row's columns (name, value; `step` excluded) and the KL per latent at `step`.
  void log(int64_t step, const std::vector<std::pair<std::string, double>>& row,
           const std::vector<double>& kl_per_latent);
  /// The checkpoint summaries at `step` (histograms; images for image data).
  void checkpoint(int64_t step);
  /// Seconds spent writing so far (encoding, decoding, PNG, file).
  double seconds() const { return seconds_; }

 private:
  Run& run_;
  EventWriter writer_;
  std::vector<int64_t> items_;  ///< fixed items: the first kReconstructions are drawn
  double seconds_ = 0;
};

}  // namespace unravel::apps
