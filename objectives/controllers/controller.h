// Controllers: per-step schedules of the KL weight β and the capacity / KL set-point C. Each is
// called once per optimisation step with the observed batch KL as a 0-d tensor (no gradient
// flows through β) and returns {β, C} as 0-d f64 tensors. Every rule is written with tensor ops
// (`where` for its branches) on state that lives on the run's device — running values are f64
// buffers, including the step counter — so a step reads nothing back and a CUDA graph can
// capture the whole step, β/C update included. The whole state is a key → double map for logs
// and checkpoints (state() reads it back in one transfer; load_state() writes it).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "engine/tensor.h"
#include "models/nn/module.h"

namespace unravel {

/// What a controller hands to the objective for one step: 0-d f64 tensors on its device, never
/// overwritten by later updates (a caller may read them after further steps).
struct Schedule {
  Tensor beta;      ///< weight of the KL (or TC for β-TCVAE) term
  Tensor capacity;  ///< capacity C / KL set-point
  /// Fixed values on `device` (tests, evaluation).
  static Schedule constant(double beta, double capacity = 0.0, Device device = kCPU);
};

using ControllerState = std::map<std::string, double>;

class Controller : public nn::Module {
 public:
  /// Registry name.
  virtual std::string name() const = 0;
  std::string type_name() const override { return "Controller"; }
  /// Advances one step given this step's batch-mean KL (0-d, any float dtype, the controller's
  /// device); returns {β, C} to use. Tensor ops only: nothing is read back.
  virtual Schedule update(const Tensor& observed_kl) = 0;
  /// Running values (read back in one transfer) and fixed parameters, by key.
  ControllerState state() const;
  /// Restores the running values from a map produced by state(); throws on a missing key.
  void load_state(const ControllerState& s);
  /// The fixed parameters (host values; the running ones are the module's buffers).
  const std::map<std::string, double>& fixed_values() const { return fixed_; }

 protected:
  Controller();
  /// Registers a running value: a 0-d f64 buffer on the controller's device, reported by
  /// state() and restored by load_state().
  Tensor running(const std::string& key, double init);
  /// Records a fixed parameter, reported by state() (not restored).
  void fixed(const std::string& key, double value) { fixed_[key] = value; }
  /// Writes `value` into the running value `buf` in place (on the device); returns `value`
  /// (a tensor of its own, so a Schedule built from it stays valid after later updates).
  static const Tensor& set(const Tensor& buf, const Tensor& value);
  /// Adds one to the step counter (1-based, like ControlVAE's and 1Konny's global_iter) and
  /// returns it.
  Tensor advance();

 private:
  std::map<std::string, double> fixed_;
  Tensor step_;
};

/// Reads s[key], throwing "<who>: state has no '<key>'" when absent.
double state_get(const ControllerState& s, const std::string& key, const std::string& who);

}  // namespace unravel
