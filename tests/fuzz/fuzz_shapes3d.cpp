// 3D Shapes (datasets/factor_datasets.h) as `--dataset 3dshapes --data FILE.h5` loads it: the
// input is the .h5 file, read through libhdf5 on a two-item grid {1,1,1,1,1,2} (the seeds are
// files of that grid: GridDataOptions::grid, as the tests use) into a fresh cache, then every
// item is read back. libhdf5 runs in this process (GridDataOptions::isolate false), so that
// the fuzzer sees a crash; `unravel` itself runs it in a child process, and a libhdf5 crash
// there is an error naming the file (test_factor_datasets). Builds without HDF5 refuse every
// input before reading it: nothing to fuzz.
#include <numeric>

#include "datasets/factor_datasets.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!Shapes3D::available()) return 0;
  const fs::path dir = fuzz::scratch_dir() / "shapes3d";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "cache");
  const fs::path file = dir / "fuzz-3dshapes.h5";
  fuzz::write_file(file, data, size);
  GridDataOptions o{.grid = {1, 1, 1, 1, 1, 2}, .cache_dir = (dir / "cache").string(),
                    .verbose = false, .isolate = false};
  fuzz::guarded(file.filename().string(), [&] {
    const Shapes3D shapes(file.string(), o);
    if (shapes.size() != 2) fuzz::bug("3dshapes accepted a file whose item count is not the grid's");
    std::vector<int64_t> all(2);
    std::iota(all.begin(), all.end(), 0);
    Tensor batch = Tensor::empty(Shape{2, 3, 64, 64}, DType::f32, kCPU);
    shapes.get_batch(all, batch);
    std::vector<double> v(6);
    for (int64_t i = 0; i < 2; ++i) shapes.factor_values(i, v);
  });
  return 0;
}
