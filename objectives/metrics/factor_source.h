// Where the sampling-based metrics get representations from. Two sources, one protocol:
//
//  * TableSampler draws rows of a CodeTable (arrays: "score a representation given as files");
//  * EncoderSampler draws factor tuples from a FactorSource (a simulator that renders images for
//    any tuple, e.g. the dSprites grid through DatasetFactorSource), renders them and encodes them
//    with an Encoder callback (images [B, C, H, W] -> posterior means [B, D]).
//
// The metrics (beta_vae_score, factor_vae_score, mig_histogram, dci, sap) are written once
// against CodeSampler. Both samplers consume the Generator identically: an unconstrained draw is
// r = randint(N) decoded row-major over the grid, a draw with factor k fixed at v is
// r = randint(N / |V_k|) decoded row-major over the other factors (TableSampler: the r-th row of
// rows_with(k, v)). So on a full, row-major grid both give the same points for the same seed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "objectives/metrics/code_table.h"

namespace unravel {

/// What an encoder returns for a batch: posterior means [B, D] and (optional) log-variances.
struct EncodedBatch {
  Tensor mean;    ///< [B, D]
  Tensor logvar;  ///< [B, D] or undefined
};

/// A representation: images f32 [B, C, H, W] (or [B, ...] items) -> posterior parameters.
using Encoder = std::function<EncodedBatch(const Tensor& images)>;

/// A ground-truth simulator: renders items for any factor class tuple.
class FactorSource {
 public:
  virtual ~FactorSource() = default;
  /// Number of factors K.
  virtual int num_factors() const = 0;
  /// Classes per factor.
  virtual std::vector<int64_t> factor_sizes() const = 0;
  /// Items (f32 [n, item...]) for factor classes i64 [n, K].
  virtual Tensor images_for(const Tensor& classes) const = 0;
  /// n independent uniform factor tuples, i64 [n, K] (each a randint over the whole grid).
  Tensor sample_factors(int64_t n, Generator& gen) const;
};

/// FactorSource over a Dataset with factors (dSprites): images by index_of_factors + get_batch.
class DatasetFactorSource final : public FactorSource {
 public:
  /// Keeps a reference: `data` must outlive this object.
  explicit DatasetFactorSource(const Dataset& data);
  int num_factors() const override { return data_.num_factors(); }
  std::vector<int64_t> factor_sizes() const override { return data_.factor_sizes(); }
  Tensor images_for(const Tensor& classes) const override;

 private:
  const Dataset& data_;
};

/// Encodes every item of `data` in batches of `batch_size` into a CodeTable (codes, logvars when
/// the encoder returns them, the dataset's factor classes and sizes/names).
CodeTable encode_dataset(const Dataset& data, const Encoder& encoder, int64_t batch_size = 1000);

/// Source of (codes, factor classes) for the sampling protocols.
class CodeSampler {
 public:
  virtual ~CodeSampler() = default;
  /// Code dimensionality D.
  virtual int64_t code_dim() const = 0;
  /// Classes per factor.
  virtual const std::vector<int64_t>& factor_sizes() const = 0;
  /// Draws n points; when k >= 0 point i has factor k fixed at fixed[i] (else all free). Writes
  /// codes (n*D, row-major) and, when `classes` is non-null, their factor classes (n*K).
  virtual void sample(int64_t n, int k, const int64_t* fixed, Generator& gen, double* codes,
                      int64_t* classes) = 0;
  /// Number of factors K.
  int num_factors() const { return static_cast<int>(factor_sizes().size()); }
  /// Convenience: n points with factor k (or none, k < 0) fixed at a single value v.
  void sample_fixed(int64_t n, int k, int64_t v, Generator& gen, double* codes, int64_t* classes);
};

/// CodeSampler over arrays: draws rows of the table.
class TableSampler final : public CodeSampler {
 public:
  /// Keeps references to `codes` and `grid` (they must outlive the sampler).
  TableSampler(const HostMatrix& codes, const FactorGrid& grid);
  int64_t code_dim() const override { return codes_.cols; }
  const std::vector<int64_t>& factor_sizes() const override { return grid_.sizes(); }
  void sample(int64_t n, int k, const int64_t* fixed, Generator& gen, double* codes,
              int64_t* classes) override;

 private:
  const HostMatrix& codes_;
  const FactorGrid& grid_;
};

/// CodeSampler over a simulator and an encoder (posterior means), encoding in batches.
class EncoderSampler final : public CodeSampler {
 public:
  /// Keeps references to `source` and `encoder` (they must outlive the sampler).
  EncoderSampler(const FactorSource& source, const Encoder& encoder, int64_t batch_size = 1000);
  int64_t code_dim() const override;
  const std::vector<int64_t>& factor_sizes() const override { return sizes_; }
  void sample(int64_t n, int k, const int64_t* fixed, Generator& gen, double* codes,
              int64_t* classes) override;

 private:
  const FactorSource& source_;
  const Encoder& encoder_;
  int64_t batch_size_;
  std::vector<int64_t> sizes_;
  mutable int64_t dim_ = -1;
};

/// Draws the factor tuple of one point the way both samplers do (see the file comment): all
/// factors free when k < 0, else factor k = v and the others uniform. Writes K classes to out.
void draw_grid_tuple(const std::vector<int64_t>& sizes, int k, int64_t v, Generator& gen,
                     int64_t* out);

}  // namespace unravel
