// Dataset benchmarks: validates the precomputed dSprites grid against a second, independent
// render of a sample of images (and the factor sampler against the factor table), then times
// rendering the full 737 280-image grid, batches/s of the batcher at batch 64 (bit-packed
// in-memory grid vs rendering on the fly), and Fashion-MNIST batches when installed.
// Usage: bench_datasets [--csv out.csv] [--samples docs/images/dsprites_samples.png]
#include <chrono>
#include <cstring>
#include <filesystem>

#include <omp.h>

#include "bench/bench.h"
#include "datasets/batcher.h"
#include "datasets/dsprites.h"
#include "datasets/mnist.h"
#include "datasets/png.h"

using namespace unravel;

namespace {

/// A sheet of sample images: one row per shape; columns vary scale, orientation and position.
void write_samples(const DSprites& d, const std::string& path) {
  struct Col { int64_t scale, orient, x, y; };
  const Col cols[] = {{0, 0, 16, 16}, {2, 0, 16, 16}, {5, 0, 16, 16}, {5, 5, 16, 16},
                      {5, 10, 16, 16}, {5, 20, 16, 16}, {3, 30, 0, 0},  {3, 13, 31, 31}};
  const int up = 2, n = 3 * 8, side = 64 * up;
  std::vector<uint8_t> tiles(static_cast<size_t>(n) * side * side);
  uint8_t img[4096];
  int k = 0;
  for (int64_t s = 0; s < 3; ++s)
    for (const Col& c : cols) {
      d.image_u8(d.index_of_factors(std::vector<int64_t>{s, c.scale, c.orient, c.x, c.y}), img);
      uint8_t* t = tiles.data() + static_cast<size_t>(k++) * side * side;
      for (int r = 0; r < side; ++r)
        for (int q = 0; q < side; ++q) t[r * side + q] = img[(r / up) * 64 + q / up] * 255;
    }
  const Image8 g = image_grid(tiles.data(), n, side, side, 1, 8, 4, 96);
  write_png_gray(path, g.width, g.height, g.data.data());
  std::fprintf(stderr, "wrote %s (%dx%d)\n", path.c_str(), g.width, g.height);
}

double batches_per_second(const Dataset& d, int64_t batch, int64_t nbatches) {
  Batcher b(d, BatcherOptions{.batch_size = batch}, Generator(3));
  b.next();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  double sink = 0;
  for (int64_t i = 0; i < nbatches; ++i) sink += b.next().data<float>()[0];
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sink < 0) std::printf("impossible\n");
  return static_cast<double>(nbatches) / dt;
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path, samples;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--csv")) csv_path = argv[i + 1];
    if (!std::strcmp(argv[i], "--samples")) samples = argv[i + 1];
  }

  // --- validation ------------------------------------------------------------------------------
  auto t0 = std::chrono::steady_clock::now();
  DSprites grid(DSpritesOptions{.precompute = true});
  const double first_build =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  DSprites fly(DSpritesOptions{.precompute = false});
  Generator g(2024);
  int64_t total_on = 0;
  for (int k = 0; k < 2000; ++k) {
    const auto i = static_cast<int64_t>(g.randint(DSprites::kGridSize));
    const auto v = grid.factor_values(i);
    SpriteBits ref;
    render_sprite(static_cast<SpriteShape>(static_cast<int>(v[0]) - 1), v[1], v[2], v[3], v[4], ref);
    const SpriteBits got = grid.image_bits(i);
    bench::require(got == ref, fmt::format("grid image {} differs from a direct render", i));
    bench::require(sprite_area(got) > 30, fmt::format("grid image {} is (nearly) empty", i));
    total_on += sprite_area(got);
  }
  FactorSampler sampler(grid);
  std::vector<int64_t> idx(1000), cls(5000);
  sampler.sample_fixed(3, 9, idx, g, cls);
  for (size_t i = 0; i < idx.size(); ++i)
    bench::require(grid.factor_classes(idx[i])[3] == 9, "factor sampler: posX not fixed");
  std::fprintf(stderr, "validated 2000 grid images (mean area %.1f px) and the factor sampler\n",
               total_on / 2000.0);
  if (!samples.empty()) write_samples(grid, samples);

  // --- timing ----------------------------------------------------------------------------------
  bench::Csv csv("case,threads,median_s,min_s,rate,unit", csv_path);
  const int threads = omp_get_max_threads();
  auto tg = bench::time_it([] { DSprites d(DSpritesOptions{.precompute = true}); }, 3, 1, 0);
  csv.row(fmt::format("dsprites_full_grid_render,{},{:.4f},{:.4f},{:.0f},images/s", threads, tg.median,
                      tg.min, DSprites::kGridSize / tg.median));
  csv.row(fmt::format("dsprites_first_build_incl_page_faults,{},{:.4f},{:.4f},,", threads,
                      first_build, first_build));
  const double mem_bps = batches_per_second(grid, 64, 20000);
  csv.row(fmt::format("batcher_dsprites_in_memory_b64,{},{:.3e},,{:.0f},batches/s", threads,
                      1 / mem_bps, mem_bps));
  const double fly_bps = batches_per_second(fly, 64, 2000);
  csv.row(fmt::format("batcher_dsprites_on_the_fly_b64,{},{:.3e},,{:.0f},batches/s", threads,
                      1 / fly_bps, fly_bps));
  if (std::filesystem::exists(mnist_file(kFashionMnistDir, true, true))) {
    t0 = std::chrono::steady_clock::now();
    Mnist fm(MnistOptions{.train = true, .out_size = 32});
    const double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    csv.row(fmt::format("fashion_mnist_train_load,1,{:.4f},{:.4f},,", load, load));
    const double fm_bps = batches_per_second(fm, 64, 5000);
    csv.row(fmt::format("batcher_fashion_mnist_32px_b64,{},{:.3e},,{:.0f},batches/s", threads,
                        1 / fm_bps, fm_bps));
    const double fm500 = batches_per_second(fm, 500, 500);
    csv.row(fmt::format("batcher_fashion_mnist_32px_b500,{},{:.3e},,{:.0f},batches/s", threads,
                        1 / fm500, fm500));
  } else {
    std::fprintf(stderr, "Fashion-MNIST not installed: skipped its timings\n");
  }
  return 0;
}
