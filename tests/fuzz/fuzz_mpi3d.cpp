// MPI3D (datasets/factor_datasets.h) as `--dataset mpi3d --data FILE.npz` loads it: the input is
// the .npz archive, whose member images.npy is checked and streamed (stored or deflated,
// datasets/npz.h NpzMemberReader) on a two-item grid {1,1,1,1,1,1,2} (GridDataOptions::grid, as
// the tests use) into a fresh cache; then every item and its factors are read back.
#include <numeric>

#include "datasets/factor_datasets.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path dir = fuzz::scratch_dir() / "mpi3d";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "cache");
  const fs::path file = dir / "fuzz-mpi3d.npz";
  fuzz::write_file(file, data, size);
  GridDataOptions o{.grid = {1, 1, 1, 1, 1, 1, 2}, .cache_dir = (dir / "cache").string(),
                    .verbose = false};
  fuzz::guarded(file.filename().string(), [&] {
    const Mpi3D mpi(file.string(), o);
    if (mpi.size() != 2) fuzz::bug("mpi3d accepted a file whose item count is not the grid's");
    std::vector<int64_t> all(2);
    std::iota(all.begin(), all.end(), 0);
    Tensor batch = Tensor::empty(Shape{2, 3, 64, 64}, DType::f32, kCPU);
    mpi.get_batch(all, batch);
    std::vector<double> v(7);
    for (int64_t i = 0; i < 2; ++i) mpi.factor_values(i, v);
  });
  return 0;
}
