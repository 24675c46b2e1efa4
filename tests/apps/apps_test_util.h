// Helpers shared by the apps tests (test_apps.cpp, test_reproduce.cpp): temporary folders,
// error messages, PNG sizes and reproduce CSV tables.
#pragma once
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/run_dir.h"
#include "datasets/png.h"

namespace unravel::test_apps {

namespace fs = std::filesystem;

inline std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("unravel_apps_{}_{}", name, getpid());
  fs::remove_all(p);
  return p.string();
}

/// Runs `f` and returns the message of the error it throws ("" when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline std::pair<int, int> png_size(const std::string& path) {
  REQUIRE_MESSAGE(fs::exists(path), path);
  Image8 im = read_png(path, 3);
  return {im.width, im.height};
}

/// A reproduce CSV (RFC 4180 quoting) as header -> column of cells.
inline std::map<std::string, std::vector<std::string>> read_csv(const std::string& path) {
  std::istringstream in(apps::read_text(path));
  auto split = [](const std::string& l) {
    std::vector<std::string> f(1);
    bool quoted = false;
    for (size_t i = 0; i < l.size(); ++i) {
      char c = l[i];
      if (quoted && c == '"' && i + 1 < l.size() && l[i + 1] == '"') f.back() += l[++i];
      else if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) f.emplace_back();
      else f.back() += c;
    }
    return f;
  };
  std::string line;
  REQUIRE(std::getline(in, line));
  std::vector<std::string> names = split(line);
  std::map<std::string, std::vector<std::string>> cols;
  while (std::getline(in, line)) {
    auto f = split(line);
    REQUIRE_MESSAGE(f.size() == names.size(), path << ": " << line);
    for (size_t i = 0; i < f.size(); ++i) cols[names[i]].push_back(f[i]);
  }
  return cols;
}

inline std::vector<double> numbers(const std::vector<std::string>& cells) {
  std::vector<double> v;
  for (const auto& c : cells) v.push_back(std::stod(c));
  return v;
}

}  // namespace unravel::test_apps
