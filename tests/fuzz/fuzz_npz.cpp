// .npz (datasets/npz.h, libzip) from a buffer: every .npy member is read on its own (a refusal of
// one does not hide the next), then the archive is loaded as a dSprites file the way
// `--dataset dsprites --data FILE.npz` does, and a few items of the result are used (factor
// classes → index, a batch of images).
#include <algorithm>
#include <array>

#include "datasets/dsprites.h"
#include "datasets/npz.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input.npz";
  fuzz::guarded(name, [&] {
    const NpzReader npz(data, size, name);
    for (const std::string& m : npz.members())
      fuzz::guarded(name, [&] {
        if (!npz.has(m)) fuzz::bug("member '" + m + "' is listed but not found");
        const Tensor t = npz.read(m);
        if (t.nbytes() > npz.member_size(m)) fuzz::bug("member '" + m + "' grew when parsed");
      });
    fuzz::guarded(name, [&] {
      const DSprites d = DSprites::from_npz(npz);
      const int64_t n = std::min<int64_t>(d.size(), 4);
      std::array<int64_t, 5> classes{};
      std::vector<int64_t> items;
      for (int64_t i = 0; i < n; ++i) {
        d.factor_classes(i, classes);
        items.push_back(d.index_of_factors(classes));
      }
      Tensor batch = Tensor::empty(Shape{n, 1, 64, 64}, DType::f32, kCPU);
      d.get_batch(items, batch);
    });
  });
  return 0;
}
