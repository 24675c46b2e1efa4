// The PyTorch export behind `unravel export RUN --to torch DIR` (apps/export.cpp), as a function
// the tests can call on a model they build: the VAE's module tree rebuilt as torch.nn layers in a
// self-contained model.py, and its state dict under torch's names and layouts.
#pragma once
#include <map>
#include <string>

#include "engine/tensor.h"
#include "models/vae.h"

namespace unravel::apps {

/// A VAE rebuilt for PyTorch.
struct TorchExport {
  /// model.py: Encoder, Decoder, VAE (torch.nn) and load(); imports torch (safetensors in load()).
  std::string source;
  /// The state dict under torch's names ("encoder.trunk.0.weight"): contiguous CPU tensors, f32
  /// (integer buffers such as BatchNorm's num_batches_tracked stay i64, as torch keeps them).
  std::map<std::string, Tensor> tensors;
};

/// Walks the VAE's module tree and writes each layer as its torch.nn equivalent; `header` is a
/// comment put at the top of model.py (where the model came from). Throws naming the first
/// module that has no torch equivalent the exporter knows, or an encoder / decoder that does not
/// describe its forward (models::Encoder::export_spec, models::Decoder::export_net).
TorchExport export_torch(models::Vae& vae, const std::string& header = "");

}  // namespace unravel::apps
