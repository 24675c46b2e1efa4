// Checkpoints: a module's parameters and buffers ("model.<name>"), optionally an optimiser's
// state ("optim.<key>", with its type, step count and learning rate in the file metadata), and
// a caller-supplied JSON metadata string (step, generator seed/offset, controller state, ...),
// in one safetensors file written atomically. Loading is strict: missing or unexpected names and
// shape/dtype mismatches are refused with an error naming the tensor, before anything is
// modified.
#pragma once
#include <string>

#include "models/nn/module.h"
#include "models/optim/optimizer.h"

namespace unravel {

/// Saves `model` (and `opt` when given) with `metadata_json` stored verbatim.
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt = nullptr, const std::string& metadata_json = "{}");

/// Loads into `model` (and `opt` when given; the file must then hold optimiser state of the
/// same type). Optimiser state in the file is ignored when `opt` is null. Returns the metadata
/// JSON string.
std::string load_checkpoint(const std::string& path, nn::Module& model,
                            optim::Optimizer* opt = nullptr);

/// The metadata JSON string of a checkpoint, without loading tensors into anything.
std::string checkpoint_metadata(const std::string& path);

}  // namespace unravel
