// `unravel train`: the training loop with logging, checkpoints, resume, Ctrl-C and NaN handling.
#pragma once
#include "apps/common/config.h"

namespace unravel::apps {

/// Trains a fresh run described by `config` (resolved and validated). Returns the process exit
/// code: 0 finished, 3 stopped on a non-finite loss, 130 interrupted (checkpoint saved).
int train_new(TrainConfig config);
/// Continues the run in `run_dir` from its newest checkpoint up to `steps` (0 = the config's).
int train_resume(const std::string& run_dir, int64_t steps);

/// Training speed of `config`'s model on this machine: builds the run (no directory), takes
/// `warmup` steps, then times `steps` steps (synchronised by a read of the last step's log).
double measure_steps_per_second(const TrainConfig& config, int64_t steps = 5, int64_t warmup = 2);

}  // namespace unravel::apps
