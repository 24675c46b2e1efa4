// Provenance of a run: every process that trains it (new or resumed) appends a session to
// RUN/provenance.json — the code version (`git describe --dirty` at build time), the build's
// options (type, -march, compiler, sanitizers, CUDA), the device and its backend's libraries and
// hardware (oneDNN version and the ISA it dispatches to, OpenBLAS, CPU model; CUDA runtime,
// driver, cuDNN and GPU), the instruction-set variant our CPU loops ran ("cpu_loops": base, avx2
// or avx512, picked at run time: cpu_isa()), host and time. Commands that read a checkpoint (eval, encode, figure,
// export, the Python module) warn when the build reading it differs from the one that wrote it.
#pragma once
#include <string>

#include "apps/common/config.h"

namespace unravel::apps {

/// Appends this process's session (`what`: "train" | "resume") to RUN/provenance.json.
void record_provenance(const std::string& run, const TrainConfig& c, const std::string& what);

/// This build's code version and options, one line ("v0.1.0-12-gabc (release, -march=default, gcc 12)").
std::string build_description();

/// Warns on stderr when RUN's last session was written by another build (no file: nothing).
void warn_if_other_build(const std::string& run);

}  // namespace unravel::apps
