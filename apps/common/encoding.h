// Model-side helpers shared by eval, encode, figure and reproduce: encoding a dataset's items
// into posterior parameters in batches without the tape (with a progress bar), decoding codes
// to displayable images (sigmoid of Bernoulli logits, clamped means otherwise), and choosing
// item subsets reproducibly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "models/vae.h"
#include "objectives/metrics/factor_source.h"

namespace unravel::apps {

/// The metrics' Encoder over `vae` on `device`: host images in, posterior means on the host out
/// (eval mode, no tape). `vae` must outlive it.
Encoder vae_encoder(models::Vae& vae, Device device);

/// Posterior parameters of a set of items: f32 CPU [N, D] each.
struct Encoded {
  Tensor mu, logvar;
};

/// Encodes items `indices` of `data` with `vae` in batches of `batch` (no tape) on the model's
/// device, one host read per batch. Shows a progress bar labelled `label` when there is more
/// than one batch ("" = no bar).
Encoded encode_items(models::Vae& vae, const Dataset& data, const std::vector<int64_t>& indices,
                     int64_t batch = 256, const std::string& label = "encode");

/// 0, 1, ..., n-1.
std::vector<int64_t> iota_indices(int64_t n);
/// min(m, n) distinct indices of 0..n-1 drawn uniformly (ascending); all when m >= n or m <= 0.
std::vector<int64_t> subset_indices(int64_t n, int64_t m, Generator& gen);

/// Items `indices` of `data` as one f32 CPU tensor [n, item...].
Tensor gather_items(const Dataset& data, const std::vector<int64_t>& indices);

/// Decodes codes z [N, D] (no tape, on the model's device) into host images in [0, 1] with the
/// data's shape [N, ...]: sigmoid of the logits for a Bernoulli likelihood, the means clamped
/// to [0, 1] otherwise.
Tensor decode_to_images(models::Vae& vae, const Tensor& z);

/// Per-dimension mean KL(q(z_d|x) ‖ N(0, 1)) over the rows of mu / logvar [N, D] (nats).
std::vector<double> kl_per_dim(const Tensor& mu, const Tensor& logvar);

/// Per-latent mean KL(q(z_d|x) ‖ N(0, 1)) of a model on `data` (nats), over min(512, size)
/// random items drawn by one fixed generator: a property of the model, so every figure and
/// table of a run (traversal labels and order, heat-map columns, active-latent counts) shows
/// the same values whatever seed the figure was asked for.
std::vector<double> latent_kl(models::Vae& vae, const Dataset& data);

/// A latent whose mean KL is at most this many nats is inactive: q(z_d|x) is the prior for
/// every x, so the decoder receives noise there (however its posterior mean may vary).
constexpr double kActiveLatentKl = 0.1;

}  // namespace unravel::apps
