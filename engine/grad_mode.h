// Thread-local switch that turns gradient recording off (eval, optimiser steps, backward).
#pragma once

namespace unravel {

/// True when ops should record on the tape (the default).
bool grad_enabled();
void set_grad_enabled(bool on);

/// RAII: disables recording for its scope, restoring the previous state after.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace unravel
