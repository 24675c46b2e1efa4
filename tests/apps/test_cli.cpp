// The `unravel` executable's command line, run as a user runs it (UNRAVEL_EXE, set by meson
// test): no subcommand, unknown figure kinds and paper figures, `unravel list` against the
// registries, and unknown registry names refused with every registered name. Part of test_apps.
#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "apps/commands.h"
#include "apps/common/run_dir.h"
#include "apps/eval.h"
#include "datasets/registry.h"
#include "models/optim/registry.h"
#include "ops/likelihoods.h"
#include "objectives/registry.h"
#include "apps_test_util.h"

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::test_apps;
namespace fs = std::filesystem;

/// Runs the `unravel` executable (UNRAVEL_EXE, set by meson test) with `args`; returns its exit
/// status and what it wrote to stdout (`stream` = 1) or stderr (2).
std::pair<int, std::string> run_unravel(const std::string& args, int stream) {
  const char* exe = std::getenv("UNRAVEL_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "UNRAVEL_EXE is not set (run through meson test)");
  std::string file = temp_dir("cli") + ".txt";
  int rc = std::system(fmt::format("{} {} {}> {}", exe, args, stream, file).c_str());
  std::string text = read_text(file);
  fs::remove(file);
  return {WEXITSTATUS(rc), text};
}

TEST_CASE("apps: `unravel` alone prints its subcommands and fails") {
  auto [rc, err] = run_unravel("", 2);
  CHECK(rc == 2);
  for (const char* sub : {"Subcommands:", "train", "eval", "figure", "reproduce", "sweep"})
    CHECK_MESSAGE(err.find(sub) != std::string::npos, sub, " missing from:\n", err);
}

TEST_CASE("apps: the command line refuses an unknown figure kind") {
  auto [rc, err] = run_unravel("figure nosuchkind /tmp", 2);
  CHECK(rc == 2);
  CHECK(err.find("unknown kind 'nosuchkind'") != std::string::npos);
  std::tie(rc, err) = run_unravel("figure traces /tmp --out /tmp/figure.jpg", 2);
  CHECK(rc != 0);
  CHECK(err.find("--out '/tmp/figure.jpg' must name a .png file") != std::string::npos);
  std::tie(rc, err) = run_unravel("reproduce higgins-metric --out " + temp_dir("never") + " --budget huge", 2);
  CHECK(rc != 0);
  CHECK(err.find("huge") != std::string::npos);
}

TEST_CASE("apps: `unravel list` gives every registered name a line with its meaning") {
  auto [rc, text] = run_unravel("list", 1);
  REQUIRE(rc == 0);
  // Section (first word of its title) -> name -> the rest of its line. Names may repeat across
  // sections ("mathieu" is an objective and a metric, "magnitudes" a metric and a figure).
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string name, rest;
    ls >> name;
    std::getline(ls, rest);
    if (line.rfind("  ", 0) != 0) section = name;
    else sections[section][name] = rest;
  }
  auto names = [](const auto& entries) {
    std::vector<std::string> n;
    for (const auto& e : entries) n.push_back(e.name);
    return n;
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"architectures", names(models::architectures())},
      {"datasets", names_of(dataset_entries())},
      {"objectives", objective_names()},
      {"priors", prior_names()},
      {"divergences", divergence_names()},
      {"controllers", controller_names()},
      {"likelihoods", names_of(likelihood_entries())},
      {"optimisers", names_of(optim::optimizer_entries())},
      {"learning-rate", names_of(optim::lr_schedule_entries())},
      {"metrics", names_of(metric_entries())},
      {"presets", names(presets())},
      {"figures", names_of(figure_kinds())},
      {"paper", names_of(reproduce_figures())},
  };
  CHECK(sections.size() == expected.size());
  for (const auto& [title, list] : expected) {
    INFO("section: ", title);
    REQUIRE(sections.count(title) == 1);
    const auto& got = sections[title];
    CHECK(got.size() == list.size());  // no name twice, none left over
    for (const auto& n : list) {
      INFO("name: ", n);
      REQUIRE(got.count(n) == 1);
      // A meaning of at least a few words, not an empty column.
      CHECK(got.at(n).find_first_not_of(' ') != std::string::npos);
      CHECK(got.at(n).size() > 12);
    }
  }
}

TEST_CASE("apps: unknown names are refused with every registered name, from the registries") {
  const std::string out = temp_dir("never_run");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"--dataset nosuch", names_of(dataset_entries())},
      {"--optimizer nosuch", names_of(optim::optimizer_entries())},
      {"--likelihood nosuch", names_of(likelihood_entries())},
      {"--prior nosuch", prior_names()},
      {"--lr-schedule nosuch", names_of(optim::lr_schedule_entries())},
  };
  for (const auto& [flag, valid] : cases) {
    INFO("flag: ", flag);
    auto [rc, err] = run_unravel(fmt::format("train {} --steps 1 --out {}", flag, out), 2);
    CHECK(rc == 2);
    CHECK(err.find("'nosuch'") != std::string::npos);
    CHECK(err.find(fmt::format("(valid: {})", fmt::join(valid, ", "))) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(out));
  // eval --metrics lists the metric registry.
  EvalOptions eo;
  eo.codes = "z.npy";
  eo.factors = "f.npy";
  eo.metrics = "nosuch";
  CHECK(error_of([&] { evaluate_arrays(eo, false); }).find(fmt::format(
            "(valid: all, {})", fmt::join(names_of(metric_entries()), ", "))) != std::string::npos);
  // The flags' help shows the registries' names.
  auto [rc, help] = run_unravel("train --help", 1);
  CHECK(rc == 0);
  for (const auto* entries : {&dataset_entries(), &optim::optimizer_entries(), &likelihood_entries(),
                              &optim::lr_schedule_entries()})
    CHECK(help.find(fmt::format("{}", fmt::join(names_of(*entries), " | "))) != std::string::npos);
}

