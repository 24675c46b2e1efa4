// Sweep files (apps/sweep/sweep_file.h, TOML) as `unravel sweep plan|run` read them: the input is
// written to a scratch file and expanded with load_sweep. A refusal must name the file; a sweep
// that expands must name every run by its config's hash, each run's config must validate, and two
// runs with one name must have one config (the same effective config twice is one run).
#include <map>

#include "apps/sweep/sweep_file.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
using namespace unravel::apps;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = (fuzz::scratch_dir() / "fuzz-sweep.toml").string();
  fuzz::write_file(path, data, size);
  fuzz::guarded(path, [&] {
    const Sweep s = load_sweep(path);
    if (s.runs.empty() || s.runs.size() > kMaxSweepRuns)
      fuzz::bug("load_sweep expanded to " + std::to_string(s.runs.size()) + " runs");
    std::map<std::string, std::string> key_of;
    for (const SweepRun& r : s.runs) {
      const std::string key = sweep_config_key(r.config);
      const auto [it, fresh] = key_of.emplace(r.name, key);
      if (!fresh && it->second != key) fuzz::bug("two configs share the run name " + r.name);
    }
  });
  return 0;
}
