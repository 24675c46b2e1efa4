// Dataset benchmarks: validates the precomputed dSprites grid against a second, independent
// render of a sample of images (and the factor sampler against the factor table), then times
// rendering the full 737 280-image grid, batches/s of the batcher at batch 64 (bit-packed
// in-memory grid vs rendering on the fly), and Fashion-MNIST batches when installed.
// Then JPEG loading: writes --images N (default 2000) CelebA-sized 178×218 JPEGs to a temporary
// folder, checks that the decoded cache holds exactly the pixels of decoding into memory, and
// times images/s decoding the JPEGs (crop 148, resize 64, all threads), building the cache,
// and serving batches of 64 from the mapped cache (plain and through the prefetching worker).
// Usage: bench_datasets [--csv out.csv] [--samples docs/images/dsprites_samples.png] [--images N]
//                       [--only images]   (just the JPEG/cache rows)
#include <chrono>
#include <cstring>
#include <filesystem>

#include <omp.h>
#include <unistd.h>

#include "bench/bench.h"
#include "datasets/batcher.h"
#include "datasets/dsprites.h"
#include "datasets/image_cache.h"
#include "datasets/image_folder.h"
#include "datasets/jpeg.h"
#include "datasets/mnist.h"
#include "datasets/png.h"
#include "datasets/prefetch.h"

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

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// JPEG decode vs the decoded cache on n synthetic CelebA-sized JPEGs (validated, then timed).
void bench_jpeg_cache(bench::Csv& csv, int threads, int n) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("unravel_bench_jpeg_{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  Generator g(7);
  std::vector<uint8_t> px(178 * 218 * 3);
  for (int i = 0; i < n; ++i) {  // smooth colour fields plus noise: JPEG sizes like photos'
    for (size_t k = 0; k < px.size(); ++k)
      px[k] = static_cast<uint8_t>((k / 3 % 178 + k / 534 + 40 * (k % 3) + i) % 200 + g.randint(56));
    write_jpeg((dir / fmt::format("{:06d}.jpg", i + 1)).string(), 178, 218, 3, px.data(), 90);
  }
  const auto files = list_image_files(dir.string());
  const ImageDecodeSpec spec{3, 64, 64, 148};
  const std::string cache = image_cache_path(dir.string(), "folder", spec, (dir / "cache").string());
  // Validation: the cache holds exactly the in-memory decode, and a batch is its f32 image.
  ImagePixels mem = ImagePixels::decode(dir.string(), files, spec);
  {
    ImagePixels c = ImagePixels::cached(dir.string(), files, spec, cache, false);
    bench::require(c.was_built() && c.size() == n, "jpeg cache: not built");
    bench::require(std::memcmp(c.item(0), mem.item(0), static_cast<size_t>(n * c.item_bytes())) == 0,
                   "jpeg cache: cached pixels differ from decoding into memory");
  }
  ImageFolder folder(dir.string(), ImageFolderOptions{.channels = 3, .crop_side = 148,
                                                      .cache = true, .cache_dir = (dir / "cache").string()});
  bench::require(!folder.items().was_built(), "jpeg cache: a fresh cache was rebuilt");
  Tensor one = folder.make_batch_tensor(1);
  folder.get_batch(std::vector<int64_t>{n - 1}, one);
  for (int64_t k = 0; k < 3 * 64 * 64; ++k)
    bench::require(one.data<float>()[k] == mem.item(n - 1)[k] * (1.f / 255.f),
                   "jpeg cache: batch != pixels");
  std::fprintf(stderr, "validated the decoded cache of %d JPEGs against decoding into memory\n", n);

  auto t0 = std::chrono::steady_clock::now();
  ImagePixels again = ImagePixels::decode(dir.string(), files, spec);
  const double dec = seconds_since(t0);
  csv.row(fmt::format("jpeg_decode_crop148_resize64,{},{:.4f},{:.4f},{:.0f},images/s", threads, dec,
                      dec, n / dec));
  fs::remove(cache);
  t0 = std::chrono::steady_clock::now();
  ImagePixels built = ImagePixels::cached(dir.string(), files, spec, cache, false);
  const double bld = seconds_since(t0);
  csv.row(fmt::format("jpeg_cache_build,{},{:.4f},{:.4f},{:.0f},images/s", threads, bld, bld, n / bld));
  t0 = std::chrono::steady_clock::now();
  ImagePixels opened = ImagePixels::cached(dir.string(), files, spec, cache, false);
  const double opn = seconds_since(t0);
  bench::require(!opened.was_built(), "jpeg cache: rebuilt on reopen");
  csv.row(fmt::format("jpeg_cache_open_check_listing,1,{:.4f},{:.4f},,", opn, opn));
  const double bps = batches_per_second(folder, 64, 4000);
  csv.row(fmt::format("batcher_jpeg_cache_b64,{},{:.3e},,{:.0f},images/s", threads, 1 / bps, 64 * bps));
  Batcher inner(folder, BatcherOptions{.batch_size = 64}, Generator(3));
  PrefetchBatcher pre(inner);
  pre.next();
  t0 = std::chrono::steady_clock::now();
  double sink = 0;
  for (int i = 0; i < 4000; ++i) sink += pre.next().data<float>()[0];
  const double pdt = seconds_since(t0);
  if (sink < 0) std::printf("impossible\n");
  csv.row(fmt::format("prefetch_jpeg_cache_b64,{},{:.3e},,{:.0f},images/s", threads, pdt / 4000,
                      4000 * 64 / pdt));
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path, samples;
  int images = 2000;
  bool only_images = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--csv")) csv_path = argv[i + 1];
    if (!std::strcmp(argv[i], "--samples")) samples = argv[i + 1];
    if (!std::strcmp(argv[i], "--images")) images = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only") && !std::strcmp(argv[i + 1], "images")) only_images = true;
  }

  if (only_images) {
    bench::Csv csv("case,threads,median_s,min_s,rate,unit", csv_path);
    bench_jpeg_cache(csv, omp_get_max_threads(), images);
    return 0;
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
  if (images > 0) bench_jpeg_cache(csv, threads, images);
  return 0;
}
