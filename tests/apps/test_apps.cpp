// `unravel eval`, `encode`, `figure` and `reproduce` end to end at smoke scale: files, shapes and
// values (mu.npy equals the model's encoding of item 0, metrics.json keys and ranges, PNG pixel
// sizes), scoring .npy arrays, the messages of bad inputs (missing run, mismatched arrays), and
// the torch exporter's module walk (tests/python/test_export.py runs the export in torch). Runs
// train in-process for a few steps. The command line itself (the executable's messages,
// `unravel list`, unknown names): test_cli.cpp.
#include <doctest/doctest.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/common/encoding.h"
#include "apps/common/config.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/eval.h"
#include "apps/export.h"
#include "apps/figures/figures.h"
#include "apps/train.h"
#include "datasets/png.h"
#include "datasets/registry.h"
#include "engine/io/npy.h"
#include "models/nn/nn.h"
#include "models/optim/registry.h"
#include "models/vae.h"
#include "ops/likelihoods.h"
#include "objectives/metrics/factor_source.h"
#include "objectives/metrics/mig.h"
#include "objectives/registry.h"
#include "ops/ops.h"
#include "apps_test_util.h"

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::test_apps;
namespace fs = std::filesystem;

namespace {

std::string train_run(const std::string& dataset, const std::string& out, int64_t steps) {
  TrainConfig c;
  c.dataset = dataset;
  c.batch = 16;
  c.steps = steps;
  c.lr = 1e-3;
  c.out = out;
  c.checkpoint_every = steps;
  if (dataset == "pinwheel") {
    c.objective = "mathieu";
    c.prior = "mog";
    c.objective_params = {{"alpha", 1.0}};
    c.controller_params = {{"beta", 1.0}};
    c.latents = 2;
  } else {
    c.controller_params = {{"beta", 4.0}};
  }
  resolve(c);
  validate(c);
  REQUIRE(train_new(c) == 0);
  return out;
}

}  // namespace

TEST_CASE("apps: encode, eval, figure on a dSprites run") {
  const std::string root = temp_dir("dsprites");
  const std::string run = train_run("dsprites", root + "/run", 4);

  // encode: shapes, dtypes, and row 0 equals the model's own encoding of item 0.
  EncodeOptions eo{run, root + "/enc", 40, ""};
  REQUIRE(encode_command(eo) == 0);
  Tensor mu = load_npy(root + "/enc/mu.npy"), lv = load_npy(root + "/enc/logvar.npy");
  Tensor f = load_npy(root + "/enc/factors.npy");
  CHECK(mu.shape() == Shape{40, 10});
  CHECK(lv.shape() == Shape{40, 10});
  CHECK(mu.dtype() == DType::f32);
  CHECK(f.shape() == Shape{40, 5});
  CHECK(f.dtype() == DType::i64);
  CHECK(!fs::exists(root + "/enc/labels.npy"));
  Run r = load_trained(run);
  {
    NoGradGuard ng;
    Tensor x = r.data->make_batch_tensor(1);
    std::vector<int64_t> idx = {0};
    r.data->get_batch(idx, x);
    std::vector<float> want = r.vae->encode(x).mean().to_vector<float>();
    std::vector<float> got = mu.to_vector<float>();
    for (int d = 0; d < 10; ++d) CHECK(got[d] == doctest::Approx(want[d]).epsilon(1e-4));
    std::vector<int64_t> fv = f.to_vector<int64_t>();
    CHECK(fv[5 * 39 + 4] == 7);  // item 39: posY = 39 mod 32
  }

  // eval: metrics.json with keys in range.
  EvalOptions ev;
  ev.run = run;
  ev.budget = "smoke";
  ev.metrics = "beta_vae,mig_chen,mathieu,hoyer,heldout,prior_mmd";
  ev.heldout = 32;
  REQUIRE(eval_command(ev) == 0);
  auto j = nlohmann::json::parse(read_text(run + "/metrics.json"));
  auto& m = j["metrics"];
  for (const char* k : {"beta_vae.eval_accuracy", "mig_chen", "mathieu_disentanglement",
                        "hoyer_sparsity", "heldout.recon_nll", "heldout.elbo", "heldout.kl",
                        "heldout.iwae_k8", "heldout.mse", "mmd_imq_full"})
    CHECK_MESSAGE(m.contains(k), k);
  CHECK(!m.contains("dci.disentanglement"));  // not asked for
  CHECK(m["beta_vae.eval_accuracy"].get<double>() >= 0.0);
  CHECK(m["beta_vae.eval_accuracy"].get<double>() <= 1.0);
  CHECK(m["mig_chen"].get<double>() >= 0.0);
  CHECK(m["mig_chen"].get<double>() <= 1.0);
  CHECK(m["heldout.recon_nll"].get<double>() > 0.0);
  CHECK(m["heldout.mse"].get<double>() < 1.0);
  CHECK(m["heldout.elbo"].get<double>() ==
        doctest::Approx(-(m["heldout.recon_nll"].get<double>() + m["heldout.kl"].get<double>())));
  CHECK(j["budget"] == "smoke");
  CHECK(error_of([&] { EvalOptions b = ev; b.metrics = "bogus"; eval_command(b); })
            .find("unknown metric 'bogus'") != std::string::npos);

  // figures: PNGs with the expected pixel sizes.
  FigureOptions fo;
  fo.runs = {run};
  fo.kind = "traversals";
  REQUIRE(figure_command(fo) == 0);
  // 3 fixed seeds x 9 steps of 64 px (no upscale), 2 px separators, 8 px gaps between seeds,
  // and a 112-px label column (8 characters of 12 px and 8 px padding on each side).
  CHECK(png_size(run + "/figures/traversals.png") == std::pair<int, int>{1908, 662});
  {
    // Every row's label cell (x 2..111, 64 px tall, rows 66 px apart) is white with black text,
    // and the first row's label reads "z<latent>" then "KL <value>": its first glyph is a 'z'.
    const Image8 t = read_png(run + "/figures/traversals.png", 1);
    for (int r = 0; r < 10; ++r) {
      int dark = 0, white = 0;
      for (int y = 2 + 66 * r; y < 66 + 66 * r; ++y)
        for (int x = 2; x < 112; ++x) {
          const uint8_t v = t.data[static_cast<size_t>(y) * t.width + x];
          dark += v == 0;
          white += v == 255;
        }
      CAPTURE(r);
      CHECK(dark > 60);
      CHECK(dark + white == 110 * 64);
    }
  }
  TileGrid bad{1, 1, 4, 4, 1, std::vector<float>(16, 0.5f), {}, {}, {"z0 ok?"}};
  CHECK(error_of([&] { compose_tile_grid(bad); }).find("lacks") != std::string::npos);
  bad.row_labels = {"z0", "z1"};
  CHECK(error_of([&] { compose_tile_grid(bad); }).find("2 row labels for 1 rows") != std::string::npos);
  fo.kind = "reconstructions";
  fo.count = 4;
  REQUIRE(figure_command(fo) == 0);
  // 4 tiles of 128 px (64 px upscaled twice) after the 112-px label column.
  CHECK(png_size(run + "/figures/reconstructions.png") == std::pair<int, int>{634, 262});
  fo.kind = "samples";
  fo.out = root + "/s.png";
  REQUIRE(figure_command(fo) == 0);
  CHECK(png_size(root + "/s.png") == std::pair<int, int>{262, 262});
  fo.kind = "traces";
  fo.out = "";
  REQUIRE(figure_command(fo) == 0);
  CHECK(png_size(run + "/figures/traces.png") == std::pair<int, int>{1200, 850});
  // factors: the normalised MI matrix as a heat map (a row per factor) and as CSV; its rows are
  // the estimator's own: the mean over factors of (largest − runner-up) is mig_histogram's MIG on
  // the same points (a transposed or mis-normalised matrix gives another number).
  fo.kind = "factors";
  fo.count = 600;
  REQUIRE(figure_command(fo) == 0);
  CHECK(png_size(run + "/figures/factors.png") == std::pair<int, int>{1100, 470});
  {
    auto t = read_csv(run + "/figures/factors.csv");
    CHECK(t["factor"] == std::vector<std::string>{"shape", "scale", "orientation", "posX", "posY"});
    std::vector<std::vector<double>> rows(5);
    for (int j = 0; j < 10; ++j) {
      auto col = numbers(t[fmt::format("z{}", j)]);
      REQUIRE(col.size() == 5);
      for (int k = 0; k < 5; ++k) {
        CHECK((col[k] >= 0 && col[k] <= 1.0001));
        rows[k].push_back(col[k]);
      }
    }
    double gaps = 0;
    for (auto& r : rows) {
      std::sort(r.rbegin(), r.rend());
      gaps += r[0] - r[1];
    }
    DatasetFactorSource source(*r.data);
    const Encoder enc = vae_encoder(*r.vae, r.device);  // the sampler keeps a reference
    EncoderSampler sampler(source, enc, 256);
    Generator g(fo.seed + 17);
    MigHistogramOptions mo;
    mo.num_train = 600;
    CHECK(gaps / 5 == doctest::Approx(mig_histogram(sampler, g, mo).mig).epsilon(1e-3));
  }
  {
    // A latent's KL is the model's, not the figure's: the heat map's columns and the traversals'
    // rows show the same values whatever seed each figure was drawn with.
    const std::vector<double> kl = latent_kl(*r.vae, *r.data);
    REQUIRE(kl.size() == 10);
    CHECK(factor_latent_mi(r, 0, 200).kl == kl);
    CHECK(factor_latent_mi(r, 9, 200).kl == kl);
    for (uint64_t seed : {0, 7}) {
      ImageFigureOptions io;
      io.seed = seed;
      const std::string cap = draw_traversals(r, root + "/kl_traversals.png", io);
      for (int d = 0; d < 10; ++d)
        CHECK_MESSAGE(cap.find(fmt::format(" z{} (KL {:.2f})", d, kl[d])) != std::string::npos, cap);
      // Rows, top to bottom, in decreasing KL.
      std::vector<double> order;
      for (size_t at = cap.find("(KL "); at != std::string::npos; at = cap.find("(KL ", at + 1))
        order.push_back(std::stod(cap.substr(at + 4)));
      REQUIRE(order.size() == 10);
      CHECK_MESSAGE(std::is_sorted(order.rbegin(), order.rend()), cap);
    }
  }
  // A reconstruction image is not blank: the input row has white sprite pixels in its first tile.
  Image8 rec = read_png(run + "/figures/reconstructions.png", 1);
  int white = 0;
  for (int y = 2; y < 130; ++y)
    for (int x = 114; x < 242; ++x) white += rec.data[y * rec.width + x] == 255;
  CHECK(white > 50);
  // Both rows carry a label ("input", "decoded"): a white cell with black text; the decoded
  // row's label is the longer one, so it has more black pixels.
  std::array<int, 2> label_dark{};
  for (int r = 0; r < 2; ++r) {
    int lw = 0;
    for (int y = 2 + 130 * r; y < 130 + 130 * r; ++y)
      for (int x = 2; x < 112; ++x) {
        const uint8_t v = rec.data[static_cast<size_t>(y) * rec.width + x];
        label_dark[r] += v == 0;
        lw += v == 255;
      }
    CAPTURE(r);
    CHECK(label_dark[r] > 60);
    CHECK(label_dark[r] + lw == 110 * 128);
  }
  CHECK(label_dark[1] > label_dark[0]);

  fo.kind = "bogus";
  CHECK(error_of([&] { figure_command(fo); }).find("unknown kind 'bogus'") != std::string::npos);
  fo.kind = "density";
  CHECK(error_of([&] { figure_command(fo); }).find("needs 2") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("apps: pinwheel density figure and reproduce") {
  const std::string root = temp_dir("pinwheel");
  const std::string run = train_run("pinwheel", root + "/run", 5);
  FigureOptions fo;
  fo.kind = "density";
  fo.runs = {run};
  REQUIRE(figure_command(fo) == 0);
  CHECK(png_size(run + "/figures/density.png") == std::pair<int, int>{720, 380});
  fo.kind = "traversals";
  CHECK(error_of([&] { figure_command(fo); }).find("not images") != std::string::npos);
  fo.kind = "factors";
  CHECK(error_of([&] { figure_command(fo); }).find("has no ground-truth factors") != std::string::npos);

  ReproduceOptions ro;
  ro.figure = "mathieu-pinwheel";
  ro.out = root + "/rep";
  ro.budget = "smoke";
  REQUIRE(reproduce_command(ro) == 0);
  CHECK(png_size(ro.out + "/pinwheel_densities.png") == std::pair<int, int>{1440, 1140});
  std::string csv = read_text(ro.out + "/mathieu-pinwheel.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 9);  // header + 8 runs
  CHECK(read_text(ro.out + "/mathieu-pinwheel.md").find("## Table") != std::string::npos);
  ro.figure = "nope";
  CHECK(error_of([&] { reproduce_command(ro); }).find("unknown figure 'nope'") != std::string::npos);
  CHECK(reproduce_figures().size() == 9);
  CHECK(figure_kinds().size() == 7);
  fs::remove_all(root);
}

TEST_CASE("apps: a heat map paints every cell with the same area") {
  // One hot cell at a time on a 4 × 3 grid: each must cover the same number of dark pixels.
  // (PLplot's plimage treats values as nodes: without padding, the last column and row vanish and
  // the others shift by half a cell.)
  const std::string root = temp_dir("heatmap");
  fs::create_directories(root);
  const int nx = 4, ny = 3;
  std::vector<int64_t> dark_counts;
  for (int cell = 0; cell < nx * ny; ++cell) {
    plot::Density d;
    d.nx = nx;
    d.ny = ny;
    d.x0 = -0.5;
    d.x1 = nx - 0.5;
    d.y0 = -0.5;
    d.y1 = ny - 0.5;
    d.equal_axes = false;
    d.values.assign(nx * ny, 0.0);
    d.values[cell] = 1.0;
    const std::string png = fmt::format("{}/cell{}.png", root, cell);
    plot::density_png(png, {d}, 1, 600, 400);
    Image8 im = read_png(png, 3);
    int64_t dark = 0;
    for (int i = 0; i < im.width * im.height; ++i)  // the colour map's dark end is (8, 48, 107)
      dark += im.data[3 * i] < 40 && im.data[3 * i + 2] > 80 && im.data[3 * i + 2] < 140;
    dark_counts.push_back(dark);
  }
  const auto [lo, hi] = std::minmax_element(dark_counts.begin(), dark_counts.end());
  CHECK(*lo > 1000);
  CHECK(static_cast<double>(*hi) / static_cast<double>(*lo) < 1.1);
  fs::remove_all(root);
}

TEST_CASE("apps: a heat map with vmax colours by vmax, not by the data's own maximum") {
  // The factor heat maps fix vmax = 1 so that maps of different runs compare: a matrix whose
  // largest value is 0.25 must not be drawn with the colour bar's darkest colour (PLplot's
  // plimage maps its data's own range; the fix passes the range to plimagefr).
  const std::string root = temp_dir("heatmap_vmax");
  fs::create_directories(root);
  auto two_cells = [](double left, double right) {  // a 2 × 1 map over [-0.5, 1.5] × [-0.5, 0.5]
    plot::Density d;
    d.nx = 2;
    d.ny = 1;
    d.x0 = -0.5;
    d.x1 = 1.5;
    d.y0 = -0.5;
    d.y1 = 0.5;
    d.equal_axes = false;
    d.values = {left, right};
    return d;
  };
  auto hot_red = [&](double hot, double vmax) {
    plot::Density d = two_cells(0.0, hot);
    d.vmax = vmax;
    const std::string png = root + "/map.png";
    plot::density_png(png, {d}, 1, 600, 400);
    Image8 im = read_png(png, 3);
    // The red channel of the commonest bluish colour: the hot cell's fill (its anti-aliased
    // edges are few). The colour map runs from white to (8, 48, 107).
    std::map<int, int64_t> reds;
    for (int i = 0; i < im.width * im.height; ++i) {
      const uint8_t* p = &im.data[3 * static_cast<size_t>(i)];
      if (p[2] > p[0] + 20) ++reds[p[0]];
    }
    REQUIRE(!reds.empty());
    return std::max_element(reds.begin(), reds.end(), [](auto& a, auto& b) {
             return a.second < b.second;
           })->first;
  };
  const int full = hot_red(1.0, 1.0), quarter = hot_red(0.25, 1.0),
            own = hot_red(0.25, 0.0);  // vmax 0: the panel's own maximum
  CHECK(full < 40);
  CHECK(own < 40);
  // A quarter of the way along white → dark blue: light, far from the dark end (red 181).
  CHECK(quarter > 150);
  {  // A NaN cell (a factor map's inactive latent) is grey, not white like a 0; column labels.
    plot::Density d = two_cells(std::numeric_limits<double>::quiet_NaN(), 1.0);
    d.xtick_labels = {"z0\n0.01", "z1\n3.20"};
    const std::string png = root + "/nan.png";
    plot::density_png(png, {d}, 1, 600, 400);
    Image8 im = read_png(png, 3);
    int64_t grey = 0;
    for (int i = 0; i < im.width * im.height; ++i) {
      const uint8_t* p = &im.data[3 * static_cast<size_t>(i)];
      grey += p[0] == 190 && p[1] == 190 && p[2] == 190;
    }
    CHECK(grey > 20000);  // about half of the plot area
    d.xtick_labels.pop_back();
    CHECK_THROWS_WITH(plot::density_png(png, {d}, 1, 600, 400),
                      doctest::Contains("has 1 x tick labels for 2 columns"));
  }
  fs::remove_all(root);
}

TEST_CASE("apps: a log x axis spaces doubling x evenly; dots mark each point of a line") {
  const std::string root = temp_dir("logx");
  fs::create_directories(root);
  // Centres of the runs of series-coloured pixels (Okabe-Ito blue, 0 114 178) along the row
  // with the most of them.
  auto blue_runs = [](const std::string& png) {
    Image8 im = read_png(png, 3);
    auto blue = [&](int x, int y) {
      const uint8_t* p = &im.data[3 * (static_cast<size_t>(y) * im.width + x)];
      return p[0] < 60 && p[1] > 80 && p[1] < 150 && p[2] > 140;
    };
    int best_row = 0, best = -1;
    for (int y = 0; y < im.height; ++y) {
      int n = 0;
      for (int x = 0; x < im.width; ++x) n += blue(x, y);
      if (n > best) { best = n; best_row = y; }
    }
    int64_t thickest = 0;  // the most series-coloured pixels in one column
    for (int x = 0; x < im.width; ++x) {
      int64_t n = 0;
      for (int y = 0; y < im.height; ++y) n += blue(x, y);
      thickest = std::max(thickest, n);
    }
    std::vector<double> centres;
    for (int x = 0; x < im.width;) {
      if (!blue(x, best_row)) { ++x; continue; }
      int start = x;
      while (x < im.width && blue(x, best_row)) ++x;
      centres.push_back(0.5 * (start + x - 1));
    }
    return std::make_pair(centres, thickest);
  };
  plot::Series s;  // unlabelled: no legend to share the row
  s.x = {0.5, 1, 2, 4};
  s.y = {1, 1, 1, 1};
  s.points = true;
  plot::Panel p{"t", "x", "y", {s}, false};
  p.log_x = true;
  plot::line_plots_png(root + "/log.png", {p}, 1, 800, 500);
  auto [log_c, log_n] = blue_runs(root + "/log.png");
  REQUIRE(log_c.size() == 4);
  const double step = log_c[1] - log_c[0];
  CHECK(step > 50);
  CHECK(std::abs(log_c[2] - log_c[1] - step) < 3);
  CHECK(std::abs(log_c[3] - log_c[2] - step) < 3);
  p.log_x = false;
  plot::line_plots_png(root + "/lin.png", {p}, 1, 800, 500);
  auto [lin_c, lin_n] = blue_runs(root + "/lin.png");
  REQUIRE(lin_c.size() == 4);
  CHECK((lin_c[3] - lin_c[2]) / (lin_c[2] - lin_c[1]) == doctest::Approx(2.0).epsilon(0.05));
  CHECK(error_of([&] {
          plot::Panel bad = p;
          bad.series[0].lo = {0};
          plot::line_plots_png(root + "/bad.png", {bad}, 1, 800, 500);
        }).find("error-bar ends") != std::string::npos);
  // Dots make the line thicker at its points than the line alone is anywhere.
  p.series[0].points = false;
  p.series[0].y = {1, 2, 3, 4};
  plot::line_plots_png(root + "/line.png", {p}, 1, 800, 500);
  p.series[0].dots = true;
  plot::line_plots_png(root + "/dots.png", {p}, 1, 800, 500);
  const int64_t line_w = blue_runs(root + "/line.png").second;
  const int64_t dots_w = blue_runs(root + "/dots.png").second;
  CHECK(dots_w >= line_w + 4);
  fs::remove_all(root);
}

TEST_CASE("apps: eval scores .npy arrays and refuses mismatched ones") {
  const std::string root = temp_dir("arrays");
  fs::create_directories(root);
  // A full 3 x 4 x 5 x 6 grid; codes = the factors themselves plus a noise dim.
  std::vector<int64_t> f;
  std::vector<float> z;
  Generator g(3);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 5; ++c)
        for (int d = 0; d < 6; ++d) {
          f.insert(f.end(), {a, b, c, d});
          z.insert(z.end(), {float(a), float(b), float(c), float(d), float(g.normal())});
        }
  const int64_t n = 360;
  save_npy(root + "/f.npy", Tensor::from_vector(f, Shape{n, 4}));
  save_npy(root + "/z.npy", Tensor::from_vector(z, Shape{n, 5}));
  save_npy(root + "/lv.npy", Tensor::full(Shape{n, 5}, -4.0));
  save_npy(root + "/short.npy", Tensor::from_vector(std::vector<float>(z.begin(), z.end() - 5), Shape{n - 1, 5}));
  save_npy(root + "/lv_bad.npy", Tensor::full(Shape{n, 4}, -4.0));
  EvalOptions o;
  o.codes = root + "/z.npy";
  o.factors = root + "/f.npy";
  o.logvar = root + "/lv.npy";
  o.out = root + "/m.json";
  o.budget = "smoke";
  o.metrics = "beta_vae,mig_chen,factor_vae";
  REQUIRE(eval_command(o) == 0);
  auto m = nlohmann::json::parse(read_text(root + "/m.json"))["metrics"];
  CHECK(m["beta_vae.eval_accuracy"].get<double>() > 0.9);
  CHECK(m["factor_vae.eval_accuracy"].get<double>() > 0.9);
  CHECK(m["mig_chen"].get<double>() > 0.5);

  EvalOptions bad = o;
  bad.codes = root + "/short.npy";
  CHECK(error_of([&] { eval_command(bad); }).find("must be aligned") != std::string::npos);
  bad = o;
  bad.logvar = root + "/lv_bad.npy";
  CHECK(error_of([&] { eval_command(bad); }).find("must match") != std::string::npos);
  bad = o;
  bad.factors = "";
  CHECK(error_of([&] { eval_command(bad); }).find("--factors") != std::string::npos);
  EvalOptions missing;
  missing.run = root + "/no_such_run";
  CHECK(error_of([&] { eval_command(missing); }).find("not a run directory") != std::string::npos);
  EncodeOptions en{root + "/no_such_run", root + "/enc", 0, ""};
  CHECK(error_of([&] { encode_command(en); }).find("not a run directory") != std::string::npos);
  fs::remove_all(root);
}

namespace {
// Layers and an encoder the torch exporter must refuse (apps/export.cpp).
class Swish : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x * sigmoid(x); }
  std::string type_name() const override { return "Swish"; }
};
class MyReLU : public nn::ReLU {};
class NetDecoder : public models::Decoder {
 public:
  explicit NetDecoder(std::shared_ptr<nn::Module> net) : net_(register_module("net", net)) {}
  Tensor decode(const Tensor& z) override { return (*net_)(z); }
  std::optional<std::string> export_net() const override { return "net"; }

 private:
  std::shared_ptr<nn::Module> net_;
};
class OpaqueEncoder : public models::Encoder {  // no export_spec
 public:
  DiagonalGaussian encode(const Tensor& x) override {
    return DiagonalGaussian::from_logvar(x, x);
  }
};
}  // namespace


TEST_CASE("apps: the torch export rebuilds every layer and refuses what it does not know") {
  Generator g(1);
  auto vae = models::make_vae("dcgan32", 3, g);
  TorchExport ex = export_torch(*vae);
  CHECK(ex.source.find("nn.BatchNorm2d(64, eps=1e-05, momentum=0.1)") != std::string::npos);
  CHECK(ex.source.find("nn.LeakyReLU(0.2)") != std::string::npos);
  // The +1e-6 of σ is below the value check's tolerance for σ of order 1 (test_export.py), so the
  // formulas are checked here as written: softplus (dcgan32), exp(½h) (mathieu-dsprites).
  CHECK(ex.source.find("return mu, torch.log(F.softplus(p) + 1e-6) * 2.0") != std::string::npos);
  CHECK(export_torch(*models::make_vae("mathieu-dsprites", 3, g))
            .source.find("return mu, torch.log(torch.exp(p * 0.5) + 1e-6) * 2.0") !=
        std::string::npos);
  // Every parameter and buffer, renamed enc → encoder and dec → decoder, f32 but the counters.
  size_t n = vae->named_parameters().size() + vae->named_buffers().size();
  CHECK(ex.tensors.size() == n);
  REQUIRE(ex.tensors.count("encoder.trunk.3.num_batches_tracked"));
  CHECK(ex.tensors.at("encoder.trunk.3.num_batches_tracked").dtype() == DType::i64);
  CHECK(ex.tensors.at("decoder.net.1.weight").shape() == Shape{3, 128, 4, 4});  // (in, out, k, k)

  auto refused = [&](std::shared_ptr<models::Encoder> enc, std::shared_ptr<nn::Module> net) {
    models::Vae v(enc, std::make_shared<NetDecoder>(net), 2, Shape{2}, Likelihood{}, false);
    try {
      export_torch(v);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(not refused)");
  };
  auto good_enc = [&] {  // the pinwheel encoder (2-D points), which exports
    return std::dynamic_pointer_cast<models::Encoder>(
        models::make_vae("pinwheel-mlp", 2, g)->children()[0].second);
  };
  auto seq = [&](std::shared_ptr<nn::Module> m) {
    return std::make_shared<nn::Sequential>(
        std::initializer_list<std::shared_ptr<nn::Module>>{std::make_shared<nn::Linear>(2, 2, g),
                                                           m});
  };
  // Named children need an OrderedDict; Reshape has no torch.nn layer and gets a helper class.
  auto named = std::make_shared<nn::Sequential>();
  named->add("lin", std::make_shared<nn::Linear>(2, 4, g));
  named->add("act", std::make_shared<nn::Softplus>());
  named->add("shape", std::make_shared<nn::Reshape>(std::vector<int64_t>{2, 2}));
  named->add("flat", std::make_shared<nn::Flatten>());
  models::Vae v(good_enc(), std::make_shared<NetDecoder>(named), 2, Shape{2}, Likelihood{}, false);
  std::string src = export_torch(v).source;
  CHECK(src.find("import collections\n") != std::string::npos);
  CHECK(src.find("class Reshape(nn.Module)") != std::string::npos);
  CHECK(src.find("(\"lin\", nn.Linear(2, 4, bias=True)),") != std::string::npos);
  CHECK(src.find("(\"shape\", Reshape((2, 2))),") != std::string::npos);

  std::string msg = refused(good_enc(), seq(std::make_shared<Swish>()));
  CHECK(msg.find("'vae.dec.net.1' is a Swish") != std::string::npos);
  CHECK(msg.find("knows exactly (Sequential, Linear") != std::string::npos);
  CHECK(refused(good_enc(), seq(std::make_shared<MyReLU>())).find("'vae.dec.net.1' is a ReLU") !=
        std::string::npos);
  msg = refused(std::make_shared<OpaqueEncoder>(), seq(std::make_shared<nn::ReLU>()));
  CHECK(msg.find("does not describe its forward") != std::string::npos);
}
