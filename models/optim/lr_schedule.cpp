// Learning-rate schedules (formulas in lr_schedule.h).
#include "models/optim/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "engine/check.h"

namespace unravel::optim {

namespace {
void check_step(int64_t step, const char* who) {
  UNRAVEL_CHECK(step >= 0, "{}::lr: step must be >= 0, got {}", who, step);
}
}  // namespace

ConstantLr::ConstantLr(double base) : base_(base) {
  UNRAVEL_CHECK(base >= 0, "ConstantLr: lr must be >= 0, got {}", base);
}
double ConstantLr::lr(int64_t step) const {
  check_step(step, "ConstantLr");
  return base_;
}
std::string ConstantLr::describe() const { return fmt::format("constant(lr={})", base_); }

StepLr::StepLr(double base, int64_t step_size, double gamma)
    : base_(base), step_size_(step_size), gamma_(gamma) {
  UNRAVEL_CHECK(base >= 0 && step_size > 0 && gamma >= 0,
                "StepLr: needs lr >= 0, step_size > 0, gamma >= 0; got {}, {}, {}", base,
                step_size, gamma);
}
double StepLr::lr(int64_t step) const {
  check_step(step, "StepLr");
  return base_ * std::pow(gamma_, double(step / step_size_));
}
std::string StepLr::describe() const {
  return fmt::format("step(lr={}, step_size={}, gamma={})", base_, step_size_, gamma_);
}

ExponentialLr::ExponentialLr(double base, double gamma) : base_(base), gamma_(gamma) {
  UNRAVEL_CHECK(base >= 0 && gamma >= 0, "ExponentialLr: needs lr >= 0 and gamma >= 0; got {}, {}",
                base, gamma);
}
double ExponentialLr::lr(int64_t step) const {
  check_step(step, "ExponentialLr");
  return base_ * std::pow(gamma_, double(step));
}
std::string ExponentialLr::describe() const {
  return fmt::format("exponential(lr={}, gamma={})", base_, gamma_);
}

CosineLr::CosineLr(double base, int64_t total_steps, double min_lr)
    : base_(base), total_(total_steps), min_(min_lr) {
  UNRAVEL_CHECK(base >= 0 && total_steps > 0 && min_lr >= 0 && min_lr <= base,
                "CosineLr: needs lr >= min_lr >= 0 and total_steps > 0; got {}, {}, {}", base,
                total_steps, min_lr);
}
double CosineLr::lr(int64_t step) const {
  check_step(step, "CosineLr");
  if (step >= total_) return min_;
  return min_ + (base_ - min_) * (1 + std::cos(std::numbers::pi * double(step) / double(total_))) / 2;
}
std::string CosineLr::describe() const {
  return fmt::format("cosine(lr={}, total_steps={}, min_lr={})", base_, total_, min_);
}

WarmupLr::WarmupLr(std::shared_ptr<const LrSchedule> after, int64_t warmup_steps)
    : after_(std::move(after)), warmup_(warmup_steps) {
  UNRAVEL_CHECK(after_ != nullptr, "WarmupLr: the schedule after warm-up is null");
  UNRAVEL_CHECK(warmup_steps >= 0, "WarmupLr: warmup_steps must be >= 0, got {}", warmup_steps);
}
double WarmupLr::lr(int64_t step) const {
  check_step(step, "WarmupLr");
  if (step < warmup_) return after_->lr(0) * double(step + 1) / double(warmup_);
  return after_->lr(step - warmup_);
}
std::string WarmupLr::describe() const {
  return fmt::format("warmup(steps={}, then {})", warmup_, after_->describe());
}

}  // namespace unravel::optim
