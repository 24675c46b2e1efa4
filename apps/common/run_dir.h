// The run directory written by `unravel train` and read by eval / encode / figure:
//   RUN/config.json                 the resolved TrainConfig
//   RUN/log.csv                     one row per logged step: every loss term, β, C, lr, time
//   RUN/checkpoints/step-N.safetensors   periodic checkpoints (the last few kept)
//   RUN/last.safetensors            symlink to the newest checkpoint (replaced atomically)
//   RUN/summary.json                final numbers of a finished run
//   RUN/tb/events.out.tfevents.*    TensorBoard event files, one per process (train_tensorboard.h)
#pragma once
#include <string>

#include "apps/common/config.h"
#include "apps/common/setup.h"

namespace unravel::apps {

std::string config_path(const std::string& run);
std::string log_path(const std::string& run);
std::string last_checkpoint_path(const std::string& run);
std::string checkpoint_path(const std::string& run, int64_t step);

/// Reads RUN/config.json (with a clear error when RUN is not a run directory).
TrainConfig load_config(const std::string& run);
/// Builds the run's model from its config and loads the newest checkpoint into it (weights only),
/// on `device` ("" = the device the run was trained on). Returns the checkpoint's step in *step
/// when given. `checkpoint` picks another checkpoint file of the run ("" = last.safetensors).
Run load_trained(const std::string& run, bool with_data = true, int64_t* step = nullptr,
                 const std::string& device = "", const std::string& checkpoint = "");

/// Creates `dir` if needed and proves it can be written (a probe file is written, synced and
/// removed), before a long command starts; throws "`who`: cannot write the output folder ..."
/// naming the reason (read-only file system, full disk, not a folder, ...).
void require_writable_dir(const std::string& dir, const std::string& who);

/// Writes text to path atomically (temporary file, fsync, rename).
void write_text_atomic(const std::string& path, const std::string& text);
/// Reads a whole file; throws naming it when unreadable.
std::string read_text(const std::string& path);

}  // namespace unravel::apps
