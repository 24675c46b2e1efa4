// Controllers: per-step schedules of the KL weight β and the capacity / KL set-point C. Each is
// called once per optimisation step with the step number (1-based, like ControlVAE's and
// 1Konny's global_iter) and the observed batch KL (a plain number: no gradient through β), and
// its whole state is a key → double map, checkpointed with load_state and logged every step.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace unravel {

/// What a controller hands to the objective for one step.
struct Schedule {
  double beta = 1.0;      ///< weight of the KL (or TC for β-TCVAE) term
  double capacity = 0.0;  ///< capacity C / KL set-point
};

using ControllerState = std::map<std::string, double>;

class Controller {
 public:
  virtual ~Controller() = default;
  /// Registry name.
  virtual std::string name() const = 0;
  /// Advances to `step` given the KL observed on this step's batch; returns {β, C} to use.
  virtual Schedule update(int64_t step, double observed_kl) = 0;
  /// Full state (parameters and running values) as a JSON-able map.
  virtual ControllerState state() const = 0;
  /// Restores the running values from a map produced by state(); throws on a missing key.
  virtual void load_state(const ControllerState& s) = 0;
};

/// Reads s[key], throwing "<who>: state has no '<key>'" when absent.
double state_get(const ControllerState& s, const std::string& key, const std::string& who);

}  // namespace unravel
