// What the fuzz targets of tests/fuzz share: the rule for what counts as a bug, and a scratch
// directory for the loaders that read files (image folders, checkpoints).
//
// A loader refusing malformed input with an exception whose message names the input is the
// expected outcome. Everything else is a bug that stops the fuzzer with a crash report:
//   - a sanitizer report (ASan: out-of-bounds, use-after-free, leaks; UBSan: any UB);
//   - std::bad_alloc / std::length_error: the loader believed a size taken from the input;
//   - an error message that does not name the input (the user could not tell which file);
//   - a hang or an allocation over libFuzzer's -malloc_limit_mb (set by scripts/fuzz.sh).
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>

namespace unravel::fuzz {

[[noreturn]] inline void bug(const std::string& what) {
  std::fprintf(stderr, "fuzz: BUG: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Runs `load`; a refusal must name `name` (pass "" where messages need not name a file).
/// UNRAVEL_FUZZ_VERBOSE=1 prints each refusal (useful when replaying a corpus).
template <class F>
void guarded(const std::string& name, F&& load) {
  try {
    load();
  } catch (const std::bad_alloc&) {
    bug("std::bad_alloc: an allocation sized from the input");
  } catch (const std::length_error& e) {
    bug(std::string("std::length_error (a size taken from the input): ") + e.what());
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (std::getenv("UNRAVEL_FUZZ_VERBOSE")) std::fprintf(stderr, "refused: %s\n", msg.c_str());
    if (!name.empty() && msg.find(name) == std::string::npos)
      bug("the error message does not name the input '" + name + "': " + msg);
  }
}

/// A directory private to this process, in /dev/shm when there is one (no disk writes per
/// input), removed at a normal exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm")
                                                       : fs::temp_directory_path();
    std::string tmpl = (base / "unravel-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) bug("cannot create a scratch directory in " + base.string());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return fs::path(tmpl);
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, const void* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) bug("cannot write " + path.string());
}

}  // namespace unravel::fuzz
