// The fuzz targets' corpora replayed in the ordinary test build (gcc, and the ASan+UBSan build of
// scripts/sanitize.sh): each target's seeds (tests/fuzz/corpus/TARGET) and every input a fuzzer
// ever crashed on (tests/fuzz/crashes/TARGET) go through the very LLVMFuzzerTestOneInput that
// libFuzzer drives (compiled here under another name per target, tests/fuzz/meson.build). A
// regression aborts this executable with the target's "fuzz: BUG" line or a sanitizer report.
// Needs no clang: this is how CI replays the corpora on every submission.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

#define UNRAVEL_FUZZ_TARGET(name) \
  extern "C" int fuzz_##name##_one_input(const uint8_t* data, size_t size);
UNRAVEL_FUZZ_TARGET(npy)
UNRAVEL_FUZZ_TARGET(npz)
UNRAVEL_FUZZ_TARGET(safetensors)
UNRAVEL_FUZZ_TARGET(idx)
UNRAVEL_FUZZ_TARGET(png)
UNRAVEL_FUZZ_TARGET(jpeg)
UNRAVEL_FUZZ_TARGET(image_folder)
UNRAVEL_FUZZ_TARGET(config)
UNRAVEL_FUZZ_TARGET(sweep)
UNRAVEL_FUZZ_TARGET(shapes3d)
UNRAVEL_FUZZ_TARGET(smallnorb)
UNRAVEL_FUZZ_TARGET(mpi3d)
UNRAVEL_FUZZ_TARGET(checkpoint)
#undef UNRAVEL_FUZZ_TARGET

namespace {

using Entry = int (*)(const uint8_t*, size_t);

fs::path fuzz_dir() {
  const char* d = std::getenv("UNRAVEL_FUZZ_DIR");
  REQUIRE_MESSAGE(d != nullptr, "UNRAVEL_FUZZ_DIR (tests/fuzz of the source tree) is not set");
  return fs::path(d);
}

/// Runs every file of corpus/TARGET and crashes/TARGET through `entry`; returns how many.
int replay(const std::string& target, Entry entry) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "crashes"}) {
    const fs::path dir = fuzz_dir() / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read ", f.string());
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    INFO("replaying ", f.string());
    CHECK(entry(bytes.data(), bytes.size()) == 0);
  }
  return static_cast<int>(files.size());
}

}  // namespace

TEST_CASE("fuzz corpora replay: every seed and every kept crash of each target") {
  const std::vector<std::pair<std::string, Entry>> targets = {
      {"npy", fuzz_npy_one_input},     {"npz", fuzz_npz_one_input},
      {"safetensors", fuzz_safetensors_one_input}, {"idx", fuzz_idx_one_input},
      {"png", fuzz_png_one_input},     {"jpeg", fuzz_jpeg_one_input},     {"image_folder", fuzz_image_folder_one_input},
      {"config", fuzz_config_one_input}, {"sweep", fuzz_sweep_one_input},
      {"checkpoint", fuzz_checkpoint_one_input},
      {"shapes3d", fuzz_shapes3d_one_input}, {"smallnorb", fuzz_smallnorb_one_input},
      {"mpi3d", fuzz_mpi3d_one_input}};
  for (const auto& [name, entry] : targets) {
    CAPTURE(name);
    const int n = replay(name, entry);
    MESSAGE(name, ": ", n, " inputs replayed");
    // Each target has seeds (scripts/fuzz.sh seed): an empty folder would test nothing.
    CHECK(n > 0);
  }
}
