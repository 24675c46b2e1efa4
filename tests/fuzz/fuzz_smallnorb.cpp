// SmallNORB (datasets/factor_datasets.h) as `--dataset smallnorb --data DIR` loads it: the input
// is the training trio dat / cat / info, split at kSeparator (a dictionary entry in
// tests/fuzz/smallnorb.dict), written under their published names; then read with items resized
// to 2 × 2 and every item's factors and a batch read back. The seed is the full 24 300-item grid
// with 1 × 1 images (the loader takes any square image size), about 535 KB.
#include <numeric>
#include <string_view>

#include "datasets/factor_datasets.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kSeparator = "--unravel-next-file--";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path dir = fuzz::scratch_dir() / "smallnorb";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const auto names = SmallNorb::file_names(false);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  for (size_t k = 0; k < names.size() && pos <= in.size(); ++k) {
    size_t end = k + 1 < names.size() ? in.find(kSeparator, pos) : std::string_view::npos;
    if (end == std::string_view::npos) end = in.size();
    fuzz::write_file(dir / names[k], in.data() + pos, end - pos);
    pos = end + kSeparator.size();
  }
  // Messages name one of the three files, or the folder for a missing one: all share "smallnorb".
  fuzz::guarded("smallnorb", [&] {
    const SmallNorb norb(dir.string(), false, 2);
    if (norb.size() != SmallNorb::kItems) fuzz::bug("smallnorb accepted a wrong item count");
    std::vector<int64_t> classes(5);
    for (int64_t i = 0; i < norb.size(); i += 997) {
      norb.factor_classes(i, classes);
      if (norb.index_of_factors(classes) != i) fuzz::bug("smallnorb: factors do not index back");
    }
    std::vector<int64_t> some(16);
    std::iota(some.begin(), some.end(), norb.size() - 16);
    Tensor batch = Tensor::empty(Shape{16, 1, 2, 2}, DType::f32, kCPU);
    norb.get_batch(some, batch);
  });
  return 0;
}
