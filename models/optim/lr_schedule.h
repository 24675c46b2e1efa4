// Learning-rate schedules: a small interface giving lr(step) for step = 0, 1, ... (the number
// of optimiser steps taken so far). Use: opt.set_lr(schedule.lr(opt.step_count())) before each
// opt.step().
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace unravel::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  /// Learning rate for the update that follows `step` completed steps.
  virtual double lr(int64_t step) const = 0;
  /// One-line description for logs.
  virtual std::string describe() const = 0;
};

/// lr = base.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double base);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
};

/// lr = base · gamma^floor(step / step_size).
class StepLr : public LrSchedule {
 public:
  StepLr(double base, int64_t step_size, double gamma = 0.1);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
  int64_t step_size_;
  double gamma_;
};

/// lr = base · gamma^step.
class ExponentialLr : public LrSchedule {
 public:
  ExponentialLr(double base, double gamma);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_, gamma_;
};

/// lr = min + (base - min) · (1 + cos(π · step / total)) / 2 for step < total, then min.
class CosineLr : public LrSchedule {
 public:
  CosineLr(double base, int64_t total_steps, double min_lr = 0.0);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
  int64_t total_;
  double min_;
};

/// Linear warm-up in front of another schedule: lr = after.lr(0) · (step + 1) / warmup for
/// step < warmup, then after.lr(step - warmup) (the inner schedule starts when warm-up ends).
class WarmupLr : public LrSchedule {
 public:
  WarmupLr(std::shared_ptr<const LrSchedule> after, int64_t warmup_steps);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  std::shared_ptr<const LrSchedule> after_;
  int64_t warmup_;
};

}  // namespace unravel::optim
