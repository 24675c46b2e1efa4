// RUN/config.json (apps/common/config.h) as `unravel eval|encode|figure RUN` and
// `train --resume` read it: config_from_json, then resolve (defaults from the architecture),
// then validate (the resume path). Parse errors must name the file; resolve and validate
// explain the field instead. A configuration that resolves must come back unchanged from
// to_json → config_from_json (that is how the run directory stores it).
#include "apps/common/config.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
using namespace unravel::apps;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-run/config.json";
  const std::string text(reinterpret_cast<const char*>(data), size);
  TrainConfig c;
  bool ok = false;
  fuzz::guarded(name, [&] { c = config_from_json(text, name), ok = true; });
  if (!ok) return 0;
  ok = false;
  fuzz::guarded("", [&] { resolve(c), ok = true; });
  if (!ok) return 0;
  std::string stored, again;
  try {
    stored = to_json(c);
    again = to_json(config_from_json(stored, "rewritten config.json"));
  } catch (const std::exception& e) {
    fuzz::bug(std::string("a configuration that resolves cannot be stored and read back: ") +
              e.what());
  }
  if (again != stored) fuzz::bug("config.json round trip changed\n" + stored + "\ninto\n" + again);
  fuzz::guarded("", [&] { validate(c); });
  return 0;
}
