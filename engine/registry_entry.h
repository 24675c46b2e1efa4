// A name with a one-line meaning: the element of every by-name registry in the library and the
// apps (priors, divergences, objectives, controllers in objectives/registry.h; datasets in
// datasets/registry.h; optimisers in models/optim/registry.h; likelihoods in
// ops/likelihoods.h; metrics in objectives/metrics/metrics.h; the apps' figure kinds).
// It lives in engine/, the bottom layer, so that datasets/ and models/ can use it without
// reaching up into objectives/. `unravel list` prints these, and error messages for an unknown
// name list names_of(...) of the same table.
#pragma once
#include <string>
#include <vector>

namespace unravel {

struct RegistryEntry {
  std::string name;
  std::string meaning;
};

/// The names alone, in order.
inline std::vector<std::string> names_of(const std::vector<RegistryEntry>& entries) {
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (const auto& e : entries) names.push_back(e.name);
  return names;
}

}  // namespace unravel
