// Anomaly mode (`unravel train --detect-anomaly`): every op recorded on the tape has its forward
// outputs checked for NaN / Inf as it is recorded, and every backward step its input gradients,
// so the first op that produces a non-finite value is named — with where it sits in the model:
// modules push their names (nn::Module::operator() and the VAE's encode/decode) on a
// thread-local scope stack that this mode reads. Each check reads a value back from the device
// (a host synchronisation per op): a debugging mode, off by default, costing one thread-local
// test per op when off. A CUDA-graph replay (--graph) records no ops, so the mode refuses it.
#pragma once
#include <string>

namespace unravel {

bool anomaly_mode();
void set_anomaly_mode(bool on);

/// While alive (and anomaly mode is on), `name` is the innermost part of anomaly_where().
class AnomalyScope {
 public:
  explicit AnomalyScope(const std::string& name);
  ~AnomalyScope();
  AnomalyScope(const AnomalyScope&) = delete;
  AnomalyScope& operator=(const AnomalyScope&) = delete;

 private:
  bool pushed_ = false;
};

/// The current scope path ("vae.enc.trunk.3"), or "" outside every module.
std::string anomaly_where();

class Tensor;
/// "NaN" or "Inf" when `t` (any device) holds one, else "" (a host read; no tape).
std::string nonfinite_kind(const Tensor& t);

}  // namespace unravel
