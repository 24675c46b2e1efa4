// A folder of PNG images (datasets/image_folder.h), as `--dataset folder --data DIR` loads it.
// The input is one options byte, then up to 4 files separated by kSeparator (a dictionary entry
// in tests/fuzz/image_folder.dict, so the fuzzer splits and joins files easily):
//   bit 0: channels 3 (else 1); bits 1-3: output height 4·(1 + v); bits 4-6: width 4·(1 + v);
//   bit 7: the second file is named *.PNG (the extension match is case-insensitive).
// The files are written to a scratch directory (cleared per input); one batch of every item is
// then read back.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>

#include "datasets/image_folder.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kSeparator = "--unravel-next-file--";
constexpr int kMaxFiles = 4;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path dir = fuzz::scratch_dir() / "folder";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const uint8_t opt = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t pos = 0;
  for (int k = 0; k < kMaxFiles && pos <= rest.size(); ++k) {
    size_t end = k + 1 < kMaxFiles ? rest.find(kSeparator, pos) : std::string_view::npos;
    if (end == std::string_view::npos) end = rest.size();
    const std::string file = "img" + std::to_string(k) + (k == 1 && (opt & 0x80) ? ".PNG" : ".png");
    fuzz::write_file(dir / file, rest.data() + pos, end - pos);
    pos = end + kSeparator.size();
  }
  ImageFolderOptions o;
  o.channels = (opt & 1) ? 3 : 1;
  o.height = 4 * (1 + ((opt >> 1) & 7));
  o.width = 4 * (1 + ((opt >> 4) & 7));
  fuzz::guarded(dir.string(), [&] {
    const ImageFolder images(dir.string(), o);
    std::vector<int64_t> all(static_cast<size_t>(images.size()));
    std::iota(all.begin(), all.end(), 0);
    Tensor batch = Tensor::empty(Shape{images.size(), o.channels, o.height, o.width}, DType::f32,
                                 kCPU);
    images.get_batch(all, batch);
  });
  return 0;
}
