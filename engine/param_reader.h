// Reads a by-name component's numeric parameters ("key=value" flags, config maps) by key,
// recording which keys were asked for, so that finish() refuses any other key naming the valid
// ones. Shared by every registry that takes parameters (objectives/registry.cpp for priors,
// objectives, divergences and controllers; models/optim/registry.cpp for learning-rate
// schedules). It lives in engine/, the bottom layer, like RegistryEntry.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/check.h"

namespace unravel {

class ParamReader {
 public:
  /// `who` starts every message, e.g. "prior 'aniso'".
  ParamReader(const std::map<std::string, double>& p, std::string who) : p_(p), who_(std::move(who)) {}
  double get(const std::string& key, double def) {
    allowed_.insert(key);
    auto it = p_.find(key);
    return it == p_.end() ? def : finite(key, it->second);
  }
  double required(const std::string& key) {
    allowed_.insert(key);
    auto it = p_.find(key);
    UNRAVEL_CHECK(it != p_.end(), "{}: missing required parameter '{}'", who_, key);
    return finite(key, it->second);
  }
  bool has(const std::string& key) const { return p_.count(key) != 0; }
  /// Keys starting with `prefix` (e.g. "scale_" for scale_0, scale_1, ...) are valid too.
  void allow_prefix(const std::string& prefix) { prefixes_.push_back(prefix); }
  const std::string& who() const { return who_; }
  /// Throws on keys that were never read.
  void finish() const {
    for (const auto& [k, v] : p_) {
      bool ok = allowed_.count(k) != 0;
      for (const auto& pre : prefixes_) ok = ok || k.rfind(pre, 0) == 0;
      UNRAVEL_CHECK(ok, "{}: unknown parameter '{}' (valid: {})", who_, k,
                    fmt::join(allowed_, ", "));
    }
  }

 private:
  double finite(const std::string& key, double v) const {
    UNRAVEL_CHECK(std::isfinite(v), "{}: parameter '{}' must be a finite number, got {}", who_, key,
                  v);
    return v;
  }

  const std::map<std::string, double>& p_;
  std::string who_;
  std::set<std::string> allowed_;
  std::vector<std::string> prefixes_;
};

}  // namespace unravel
