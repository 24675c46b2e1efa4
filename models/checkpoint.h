// Checkpoints: a module's parameters and buffers ("model.<name>"), optionally an optimiser's
// state ("optim.<key>", with its type, step count and learning rate in the file metadata), and
// a caller-supplied JSON metadata string (step, generator seed/offset, controller state, ...),
// and any further named optimisers ("optim_<name>.<key>", metadata "optim_<name>.type" ...; the
// FactorVAE discriminator's Adam is "disc"), in one safetensors file written atomically, so a
// crash never leaves the pieces of one training state out of step. Loading is strict: missing or unexpected names and
// shape/dtype mismatches are refused with an error naming the tensor, before anything is
// modified.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "models/nn/module.h"
#include "models/optim/optimizer.h"

namespace unravel {

/// A further optimiser saved beside the main one under `name` ([a-z0-9_]+, e.g. "disc");
/// `description` names it in load errors (default: "'<name>' optimiser").
struct NamedOptimizer {
  std::string name;
  optim::Optimizer* opt = nullptr;
  std::string description;
};

/// How the model tensors of an older (version 1) checkpoint map onto a model built today: v1
/// files named some tensors by position ("prior.0", "disc.3") and did not save some buffers.
struct CheckpointCompat {
  /// Old model tensor name → today's name.
  std::function<std::string(const std::string&)> rename;
  /// Today's names that a v1 file may lack (they keep their freshly built values).
  std::function<bool(const std::string&)> may_be_missing;
};

/// Saves `model` (and `opt` when given, and each of `extra`) with `metadata_json` stored verbatim.
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt = nullptr, const std::string& metadata_json = "{}",
                     const std::vector<NamedOptimizer>& extra = {});

/// Loads into `model` (and `opt` when given; the file must then hold optimiser state of the
/// same type; likewise each of `extra`, found by its name). Optimiser state in the file that is
/// not asked for is ignored. Everything is validated before the model is written; an optimiser
/// already restored is put back as it was when a later one fails. Returns the metadata JSON.
/// A version-1 file is read through `compat` when given (else its names must match as they are).
std::string load_checkpoint(const std::string& path, nn::Module& model,
                            optim::Optimizer* opt = nullptr,
                            const std::vector<NamedOptimizer>& extra = {},
                            const CheckpointCompat* compat = nullptr);

/// The metadata JSON string of a checkpoint, without loading tensors into anything.
std::string checkpoint_metadata(const std::string& path);

}  // namespace unravel
