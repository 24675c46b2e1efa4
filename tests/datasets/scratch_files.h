// Small file helpers shared by the dataset tests that write their own input files.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace unravel::test {

/// An empty directory `<tmp>/<prefix>_<tag>_<pid>`, created afresh.
inline std::filesystem::path scratch_dir(const std::string& prefix, const std::string& tag) {
  const std::filesystem::path d = std::filesystem::temp_directory_path() /
                                  (prefix + "_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// The whole file as bytes.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Writes `s` as the whole file.
inline void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

}  // namespace unravel::test
