// Checkpoints (models/checkpoint.h) as a whole, from a file: the input is written to a scratch
// file and loaded the four ways the library and the CLI load one (fuzz_model.h): into the tiny
// model with its Adam and the "disc" SGD, weights only, and into the pinwheel run state as
// `train --resume` (main + discriminator optimisers, version-1 name map) and `eval RUN` (weights
// only, name map) do; then the metadata is read on its own (checkpoint_metadata). The models
// are built once: a refused load must leave them untouched, and a load that succeeds only
// changes values, never shapes.
#include "models/checkpoint.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_model.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::TinyModel tiny = fuzz::make_tiny_model();
  static fuzz::RunModel run = fuzz::make_run_model();
  static const CheckpointCompat compat = run.state->v1_compat();
  const std::string path = (fuzz::scratch_dir() / "fuzz-input.safetensors").string();
  fuzz::write_file(path, data, size);
  fuzz::guarded(path, [&] {
    load_checkpoint(path, *tiny.net, tiny.adam.get(), {{"disc", tiny.disc.get(), ""}});
  });
  fuzz::guarded(path, [&] { load_checkpoint(path, *tiny.net); });
  fuzz::guarded(path, [&] {
    load_checkpoint(path, *run.state, &run.step->optimizer(), run.step->auxiliary_optimizers(),
                    &compat);
  });
  fuzz::guarded(path, [&] { load_checkpoint(path, *run.state, nullptr, {}, &compat); });
  fuzz::guarded(path, [&] { checkpoint_metadata(path); });
  return 0;
}
