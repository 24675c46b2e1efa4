// `unravel reproduce` end to end at smoke budget, one figure at a time: every PNG's pixel size,
// the CSV table's rows and value ranges, the markdown's table; Higgins et al.'s metric table row by
// row. Split from test_apps.cpp so that meson runs the two long executables side by side.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/eval.h"
#include "apps/common/run_dir.h"
#include "apps_test_util.h"
#include "datasets/jpeg.h"
#include "engine/random.h"

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::test_apps;
namespace fs = std::filesystem;

TEST_CASE("apps: reproduce higgins-metric scores every row of Higgins et al.'s table") {
  ReproduceOptions ro;
  ro.figure = "higgins-metric";
  ro.out = temp_dir("higgins_metric");
  ro.budget = "smoke";
  REQUIRE(reproduce_command(ro) == 0);
  CHECK(png_size(ro.out + "/beta_vae_score.png") == std::pair<int, int>{1100, 600});
  std::map<std::string, std::pair<double, double>> score;  // representation -> (train, eval)
  std::istringstream csv(read_text(ro.out + "/higgins-metric.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line.rfind("representation,", 0) == 0);
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) f.push_back(cell);
    REQUIRE(f.size() == 5);
    score[f[0]] = {std::stod(f[1]), std::stod(f[2])};
  }
  for (const char* row : {"beta-vae (beta=4)", "vae (beta=1)", "DC-IGN", "InfoGAN", "untrained VAE",
                          "PCA (10 comp.)", "ICA (10 comp.)", "raw pixels", "ground truth"}) {
    INFO(row);
    REQUIRE(score.count(row) == 1);
    CHECK(score[row].first >= 0.0);
    CHECK(score[row].second <= 1.0);
  }
  CHECK(score.size() == 9);
  // Below the paper budget the two VAEs are Burgess et al.'s conv net, in their own run folders.
  for (const char* run : {"beta-vae-burgess", "vae-burgess"})
    CHECK(read_text(ro.out + "/runs/" + run + "/config.json").find("\"arch\": \"burgess\"") !=
          std::string::npos);
  // Higgins et al.'s two other baselines train in their own run folders with their objectives.
  CHECK(read_text(ro.out + "/runs/dcign/config.json").find("\"objective\": \"dcign\"") != std::string::npos);
  CHECK(read_text(ro.out + "/runs/infogan/config.json").find("\"arch\": \"infogan-dsprites\"") !=
        std::string::npos);
  // Each row states its training budget.
  CHECK(read_text(ro.out + "/higgins-metric.csv").find("infogan-dsprites; 20 steps of batch 32") !=
        std::string::npos);
  // The factors themselves: fixing factor k zeroes exactly coordinate k of every z_diff.
  CHECK(score["ground truth"].first == 1.0);
  CHECK(score["ground truth"].second == 1.0);
  // Drawing again from the finished runs (--collect, as after a sweep) reuses every run: the
  // configurations training resolved from the data (DC-IGN's factors) still match the figure's.
  const std::string csv_before = read_text(ro.out + "/higgins-metric.csv");
  ReproduceOptions again = ro;
  again.collect = true;
  REQUIRE(reproduce_command(again) == 0);
  CHECK(read_text(ro.out + "/higgins-metric.csv") == csv_before);
  fs::remove_all(ro.out);
}

TEST_CASE("apps: reproduce the other paper figures at smoke budget: PNGs, tables, values") {
  const std::string root = temp_dir("reproduce");
  auto run = [&](const std::string& figure) {
    ReproduceOptions ro;
    ro.figure = figure;
    ro.out = root + "/" + figure;
    ro.budget = "smoke";
    REQUIRE(reproduce_command(ro) == 0);
    CHECK(read_text(ro.out + "/" + figure + ".md").find("## Table") != std::string::npos);
    return ro.out;
  };
  const std::pair<int, int> traversals{1908, 662}, reconstructions{1674, 262}, traces{1200, 850},
      factors{1100, 470};  // five dSprites factors with more than one class
  // The MIG of a `_factors.csv` heat map: the mean over its rows (factors) of the gap between
  // the two largest normalised MIs (the latents' columns z0, z1, …).
  auto mig_of = [](const std::string& csv) {
    auto m = read_csv(csv);
    const size_t rows = m["factor"].size();
    REQUIRE(rows > 0);
    double sum = 0;
    for (size_t k = 0; k < rows; ++k) {
      std::vector<double> v;
      for (const auto& [col, cells] : m)
        if (col.size() > 1 && col[0] == 'z') v.push_back(std::stod(cells[k]));
      REQUIRE(v.size() >= 2);
      std::sort(v.rbegin(), v.rend());
      sum += v[0] - v[1];
    }
    return sum / static_cast<double>(rows);
  };
  SUBCASE("higgins-traversal") {
    std::string out = run("higgins-traversal");
    for (const char* m : {"beta-vae", "vae"}) {
      CHECK(png_size(fmt::format("{}/{}_traversals.png", out, m)) == traversals);
      CHECK(png_size(fmt::format("{}/{}_reconstructions.png", out, m)) == reconstructions);
    }
    auto t = read_csv(out + "/higgins-traversal.csv");
    CHECK(t["model"] == std::vector<std::string>{"beta-vae", "vae"});
    // Which latent carries which factor, for both; the table's MIG is the heat map's.
    const auto migs = numbers(t["MIG (histogram)"]);
    REQUIRE(migs.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      const std::string m = t["model"][i];
      CHECK(png_size(fmt::format("{}/{}_factors.png", out, m)) == factors);
      CHECK(std::abs(migs[i] - mig_of(fmt::format("{}/{}_factors.csv", out, m))) <= 1e-3);
    }
    CHECK(numbers(t["beta"]) == std::vector<double>{4, 1});
    for (double r : numbers(t["final recon (nats)"])) CHECK((r > 0 && r < 4096 * 2));
    for (double a : numbers(t["active latents"])) CHECK((a >= 0 && a <= 10));
  }
  SUBCASE("burgess-capacity") {
    std::string out = run("burgess-capacity");
    CHECK(png_size(out + "/capacity_traversals.png") == traversals);
    CHECK(png_size(out + "/capacity_reconstructions.png") == reconstructions);
    CHECK(png_size(out + "/capacity_traces.png") == traces);
    auto t = read_csv(out + "/burgess-capacity.csv");
    REQUIRE(t["final C"].size() == 1);
    CHECK(png_size(out + "/capacity_factors.png") == factors);
    CHECK(std::abs(std::stod(t["MIG (histogram)"][0]) - mig_of(out + "/capacity_factors.csv")) <= 1e-3);
    // C_stop is scaled with the steps (7 of 20), so the schedule has reached C_max.
    CHECK(std::stod(t["final C"][0]) == doctest::Approx(std::stod(t["C_max"][0])));
    CHECK(std::stod(t["C_stop (steps)"][0]) < std::stod(t["steps"][0]));
  }
  SUBCASE("chen-tcvae") {
    std::string out = run("chen-tcvae");
    CHECK(png_size(out + "/beta-tcvae_traversals.png") == traversals);
    CHECK(png_size(out + "/beta-tcvae_reconstructions.png") == reconstructions);
    CHECK(png_size(out + "/beta-tcvae_traces.png") == traces);
    // Which latent carries which factor as a heat map, its CSV agreeing with the table below.
    CHECK(png_size(out + "/beta-tcvae_factors.png") == factors);
    auto mi = read_csv(out + "/beta-tcvae_factors.csv");
    auto t = read_csv(out + "/chen-tcvae.csv");
    REQUIRE(mi["factor"] == t["factor"]);
    for (size_t k = 0; k < t["factor"].size(); ++k) {
      CAPTURE(t["factor"][k]);
      // The same number printed with 4 and 3 decimals.
      CHECK(std::abs(std::stod(mi[t["best latent"][k]][k]) - std::stod(t["normalised MI"][k])) <= 6e-4);
    }
    // One row per dSprites factor with more than one class.
    CHECK(t["factor"] == std::vector<std::string>{"shape", "scale", "orientation", "posX", "posY"});
    for (double v : numbers(t["normalised MI"])) CHECK((v >= 0 && v <= 1.0001));
    for (double g : numbers(t["gap"])) CHECK(g >= 0);
    for (const auto& z : t["best latent"]) CHECK((z.size() == 2 && z[0] == 'z'));
    const std::string md = read_text(out + "/chen-tcvae.md");
    CHECK(md.find("Position and scale each in a latent of its own") != std::string::npos);
    // How much of each shape's orientation the code holds (R² of a held-out fit: at most 1).
    auto o = read_csv(out + "/orientation_code.csv");
    CHECK(o["shape"] == std::vector<std::string>{"square", "ellipse", "heart"});
    for (const char* col : {"R2 full turn (k=1)", "R2 half turn (k=2)", "R2 quarter turn (k=4)"}) {
      INFO(col);
      REQUIRE(o[col].size() == 3);
      for (double r : numbers(o[col])) CHECK((std::isfinite(r) && r <= 1.0));
    }
    for (double p : numbers(o["points"])) CHECK(p > 500);  // half of 2 000 per shape, give or take
    CHECK(md.find("Orientation in the code") != std::string::npos);
    const TrainConfig c = load_config(out + "/runs/beta-tcvae");
    CHECK(c.arch == "broadcast");  // the spatial broadcast net below the paper budget
    CHECK(c.lr_schedule == "cosine");
    CHECK(c.objective == "beta-tcvae");
  }
  SUBCASE("controlvae-linear-vs-adaptive") {
    std::string out = run("controlvae-linear-vs-adaptive");
    CHECK(png_size(out + "/traces.png") == traces);
    for (const char* m : {"linear", "adaptive"}) {
      CHECK(png_size(fmt::format("{}/{}_traversals.png", out, m)) == traversals);
      CHECK(png_size(fmt::format("{}/{}_reconstructions.png", out, m)) == reconstructions);
      CHECK(png_size(fmt::format("{}/{}_factors.png", out, m)) == factors);
    }
    auto t = read_csv(out + "/controlvae-linear-vs-adaptive.csv");
    CHECK(t["C(t)"] == std::vector<std::string>{"linear", "adaptive"});
    for (double b : numbers(t["mean beta"])) CHECK(b >= 1.0);  // the PI output is clamped at 1
    for (double m : numbers(t["MIG (Chen)"])) CHECK((m >= 0 && m <= 1));
    // A header with a comma is quoted, so every row still has as many cells as the header.
    CHECK(t.count("final recon loss (train, nats)") == 1);
  }
  SUBCASE("mathieu-priors") {
    std::string out = run("mathieu-priors");
    CHECK(png_size(out + "/priors_vs_beta.png") == std::pair<int, int>{1300, 560});
    auto t = read_csv(out + "/mathieu-priors.csv");
    // 3 priors x beta {1, 4} x seeds {1, 2}, each its own run.
    REQUIRE(t["prior"].size() == 12);
    CHECK(std::count(t["prior"].begin(), t["prior"].end(), "aniso") == 4);
    CHECK(std::count(t["seed"].begin(), t["seed"].end(), "2") == 6);
    CHECK(fs::exists(out + "/runs/student-t-beta4-seed2/last.safetensors"));
    for (double d : numbers(t["disentanglement (Mathieu)"])) CHECK((d > 0 && d <= 1));
    for (double r : numbers(t["held-out recon NLL"])) CHECK(r > 0);
    for (double k : numbers(t["held-out KL"])) CHECK(k >= 0);
    CHECK(read_text(out + "/mathieu-priors.md").find("mean over seeds 1-2") != std::string::npos);
  }
  SUBCASE("mathieu-sparsity") {
    std::string out = run("mathieu-sparsity");
    CHECK(png_size(out + "/sparsity_vs_alpha.png") == std::pair<int, int>{1300, 560});
    for (const char* g : {"0", "0.8"})
      CHECK(png_size(fmt::format("{}/magnitudes_gamma{}.png", out, g)) ==
            std::pair<int, int>{1100, 500});
    auto t = read_csv(out + "/mathieu-sparsity.csv");
    CHECK(numbers(t["gamma"]) == std::vector<double>{0, 0, 0.8, 0.8});
    for (double h : numbers(t["Hoyer sparsity"])) CHECK((h >= 0 && h <= 1));
    for (double l : numbers(t["held-out IWAE log-lik"])) CHECK(std::isfinite(l));
  }
  fs::remove_all(root);
}

TEST_CASE("apps: reproduce --device sim trains, evaluates and draws exactly as on the CPU") {
  // Every step of a figure (training, metrics, encodings, images) runs on the stand-in device;
  // tables and PNGs come out byte-identical.
  for (const std::string figure : {"mathieu-pinwheel", "controlvae-linear-vs-adaptive", "chen-tcvae"}) {
    CAPTURE(figure);
    std::map<std::string, std::string> out;
    for (const std::string device : {"cpu", "sim"}) {
      ReproduceOptions ro;
      ro.figure = figure;
      ro.out = temp_dir("reproduce_" + device);
      ro.budget = "smoke";
      ro.device = device;
      REQUIRE(reproduce_command(ro) == 0);
      out[device] = ro.out;
    }
    CHECK(read_text(out["cpu"] + "/" + figure + ".csv") == read_text(out["sim"] + "/" + figure + ".csv"));
    int pngs = 0;
    for (const auto& e : fs::directory_iterator(out["cpu"])) {  // every PNG and table
      if (e.path().extension() != ".png" && e.path().extension() != ".csv") continue;
      CAPTURE(e.path().filename().string());
      pngs += e.path().extension() == ".png";
      CHECK(read_text(e.path().string()) == read_text(out["sim"] + "/" + e.path().filename().string()));
    }
    CHECK(pngs >= 1);
    CHECK(read_text(out["sim"] + "/runs/" + fs::directory_iterator(out["sim"] + "/runs")->path().filename().string() + "/config.json").find("\"device\": \"sim:0\"") != std::string::npos);
    for (const auto& [d, dir] : out) fs::remove_all(dir);
  }
}

TEST_CASE("apps: reproduce higgins-celeba on a tiny CelebA-like JPEG folder (smoke), and without --data") {
  const std::string root = temp_dir("celeba_data");
  const fs::path img = fs::path(root) / "img_align_celeba";
  fs::create_directories(img);
  Generator g(5);
  std::vector<uint8_t> px(178 * 218 * 3);
  std::string attr = "40\n";
  for (int k = 0; k < 40; ++k) attr += fmt::format("A{} ", k);
  attr += "\n";
  for (int i = 0; i < 40; ++i) {  // a coloured "face" disc on a coloured background
    const auto bg = static_cast<uint8_t>(g.randint(256)), fg = static_cast<uint8_t>(g.randint(256));
    for (int y = 0; y < 218; ++y)
      for (int x = 0; x < 178; ++x)
        for (int c = 0; c < 3; ++c) {
          const bool in = (x - 89) * (x - 89) + (y - 109) * (y - 109) < 50 * 50;
          px[(y * 178 + x) * 3 + c] = static_cast<uint8_t>((in ? fg : bg) + 60 * c);
        }
    write_jpeg((img / fmt::format("{:06d}.jpg", i + 1)).string(), 178, 218, 3, px.data(), 90);
    attr += fmt::format("{:06d}.jpg", i + 1);
    for (int k = 0; k < 40; ++k) attr += (i + k) % 3 ? " -1" : "  1";
    attr += "\n";
  }
  write_text_atomic((fs::path(root) / "list_attr_celeba.txt").string(), attr);

  ReproduceOptions ro;
  ro.figure = "higgins-celeba";
  ro.out = temp_dir("higgins_celeba");
  ro.budget = "smoke";
  CHECK(error_of([&] { reproduce_command(ro); }).find("needs --data DIR") != std::string::npos);
  ro.data = root;
  REQUIRE(reproduce_command(ro) == 0);
  // 3 seed images side by side, 7 traversal columns each; colour tiles.
  const Image8 trav = read_png(ro.out + "/celeba_traversals.png", 3);
  CHECK(trav.width > 7 * 64);
  bool colour = false;
  for (size_t i = 0; i + 2 < trav.data.size() && !colour; i += 3)
    colour = trav.data[i] != trav.data[i + 1] || trav.data[i + 1] != trav.data[i + 2];
  CHECK(colour);
  CHECK(fs::exists(ro.out + "/celeba_reconstructions.png"));
  const auto csv = read_csv(ro.out + "/higgins-celeba.csv");
  REQUIRE(csv.count("images") == 1);
  CHECK(csv.at("images").at(0) == "40");
  CHECK(csv.at("latents").at(0) == "32");
  CHECK(std::stod(csv.at("final KL (nats)").at(0)) >= 0.0);
  const std::string md = read_text(ro.out + "/higgins-celeba.md");
  CHECK(md.find("--data " + root) != std::string::npos);
  CHECK(read_text(ro.out + "/runs/beta-vae/config.json").find("\"dataset\": \"celeba\"") !=
        std::string::npos);
  // The 40 attributes are factors the code-table metrics score (`unravel eval`).
  EvalOptions eo;
  eo.run = ro.out + "/runs/beta-vae";
  eo.metrics = "mig_histogram,dci,sap";
  eo.budget = "smoke";
  eo.write = false;
  const auto v = evaluate_run(eo, false).values;
  for (const char* k : {"mig_histogram", "dci.disentanglement", "sap.discrete"}) {
    INFO(k);
    REQUIRE(v.count(k) == 1);
    CHECK(std::isfinite(v.at(k)));
  }
  CHECK(v.count("mig_histogram.A39") == 1);  // per attribute, named from list_attr_celeba.txt
  fs::remove_all(ro.out);
  fs::remove_all(root);
}
