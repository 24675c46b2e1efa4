// Sweep file parsing and expansion (sweep_file.h). TOML through toml++ (Debian's
// libtomlplusplus-dev), chosen over JSON for comments and for the source position of every
// value, which the error messages name.
#include "apps/sweep/sweep_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool is_params_key(const std::string& k) {
  return k == "objective_params" || k == "prior_params" || k == "controller_params" ||
         k == "lr_schedule_params";
}

/// The fields of a TrainConfig with their default JSON values (the type each must have).
const json& default_fields() {
  static const json j = json::parse(to_json(TrainConfig{}));
  return j;
}

std::string type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "a table";
}

}  // namespace

void apply_config_field(TrainConfig& c, const std::string& key, const std::string& value_json) {
  const json v = json::parse(value_json);
  if (key == "preset") {
    UNRAVEL_CHECK(v.is_string(), "preset must be a string, got {}", type_name(v));
    std::string name = v.get<std::string>();
    c = preset(name).config;
    c.preset = name;
    return;
  }
  if (key == "beta") {
    UNRAVEL_CHECK(v.is_number(), "beta must be a number, got {}", type_name(v));
    UNRAVEL_CHECK(c.controller == "constant", "beta sets a constant β; the controller is '{}' (set "
                  "controller_params.<key> instead)", c.controller);
    c.controller_params["beta"] = v.get<double>();
    return;
  }
  if (key == "data_seed") {  // optional: absent from the default fields (to_json leaves it out)
    UNRAVEL_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
                  "data_seed must be a whole number >= 0, got {}", v.dump());
    c.data_seed = v.get<uint64_t>();
    return;
  }
  // 0 is TrainConfig's "the default" (the architecture's latents, one micro-shard per process);
  // written in a sweep file it would be a typo, as on the command line, which refuses it too.
  if (key == "latents" || key == "micro_shards")
    UNRAVEL_CHECK(v.is_number_integer() && v.get<int64_t>() >= 1,
                  "{} must be an integer of at least 1, got {}", key, v.dump());
  size_t dot = key.find('.');
  if (dot != std::string::npos) {
    std::string head = key.substr(0, dot), sub = key.substr(dot + 1);
    UNRAVEL_CHECK(is_params_key(head) && !sub.empty() && sub.find('.') == std::string::npos,
                  "unknown key '{}' (dotted keys are objective_params.K, prior_params.K, "
                  "controller_params.K and lr_schedule_params.K)", key);
    UNRAVEL_CHECK(v.is_number(), "{} must be a number, got {}", key, type_name(v));
    ParamMap& m = head == "objective_params"    ? c.objective_params
                  : head == "prior_params"      ? c.prior_params
                  : head == "controller_params" ? c.controller_params
                                                : c.lr_schedule_params;
    m[sub] = v.get<double>();
    return;
  }
  const json& defaults = default_fields();
  if (!defaults.contains(key) || key == "out") {
    std::vector<std::string> valid;
    for (auto it = defaults.begin(); it != defaults.end(); ++it)
      if (it.key() != "out") valid.push_back(it.key());
    valid.push_back("beta");
    valid.push_back("data_seed");
    UNRAVEL_CHECK(false, "unknown key '{}' (valid: {})", key, fmt::join(valid, ", "));
  }
  const json& d = defaults[key];
  if (is_params_key(key)) {
    UNRAVEL_CHECK(v.is_object(), "{} must be a table of numbers, got {}", key, type_name(v));
    for (auto it = v.begin(); it != v.end(); ++it)
      apply_config_field(c, key + "." + it.key(), it.value().dump());
    return;
  }
  // (Ranges are validate()'s: it names what each field accepts.)
  bool ok = d.is_boolean() ? v.is_boolean()
            : d.is_number_integer() ? v.is_number_integer()
            : d.is_number() ? v.is_number()
            : d.is_string() ? v.is_string()
            : false;
  UNRAVEL_CHECK(ok, "{} must be {}, got {} ({})", key, type_name(d), type_name(v), v.dump());
  json j = json::parse(to_json(c));
  j[key] = v;
  const std::optional<uint64_t> data_seed = c.data_seed;  // to_json leaves it out where it equals
  c = config_from_json(j.dump(), key);                     // the seed, which `key` may change
  c.data_seed = data_seed;
}

std::string sweep_config_key(const TrainConfig& c) {
  TrainConfig k = c;
  k.out.clear();
  k.device = "cpu";
  k.graph = false;
  json j = json::parse(to_json(k));
  // Fields added after sweeps existed leave the names of runs that keep their defaults as they
  // were, so an earlier sweep submitted again still finds its runs.
  if (k.lr_schedule == "constant" && k.lr_schedule_params.empty()) {
    j.erase("lr_schedule");
    j.erase("lr_schedule_params");
  }
  return j.dump(2);
}

namespace {

struct Field {
  std::string key;
  json value;
  int64_t line = 0;
};

struct Axis {
  std::string name;
  std::vector<json> values;
  int64_t line = 0;
};

struct Override {
  std::vector<Field> where, fields;
  int64_t line = 0;
};

int64_t line_of(const toml::node& n) { return static_cast<int64_t>(n.source().begin.line); }

json to_json_value(const toml::node& n) {
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get();
  if (auto v = n.as_string()) return v->get();
  if (auto a = n.as_array()) {
    json out = json::array();
    for (const auto& e : *a) out.push_back(to_json_value(e));
    return out;
  }
  if (auto t = n.as_table()) {
    json out = json::object();
    for (const auto& [k, e] : *t) out[std::string(k.str())] = to_json_value(e);
    return out;
  }
  return nullptr;  // dates and times: refused by the field checks
}

/// A table's entries in file order (toml++ keeps them sorted by key).
std::vector<std::pair<std::string, const toml::node*>> entries(const toml::table& t) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [k, v] : t) out.emplace_back(std::string(k.str()), &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return line_of(*a.second) < line_of(*b.second);
  });
  return out;
}

/// Flattens `*_params` tables into dotted keys; other tables are refused.
void flatten(const std::string& where, const std::string& prefix, const toml::table& t,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : entries(t)) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v->is_table()) {
      UNRAVEL_CHECK(prefix.empty() && is_params_key(k), "{} line {}: '{}' is a table; only "
                    "objective_params, prior_params, controller_params and lr_schedule_params hold tables", where,
                    line_of(*v), key);
      flatten(where, key, *v->as_table(), out);
    } else {
      out.emplace_back(key, v);
    }
  }
}

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// FNV-1a 64 of the text, as 10 hex digits.
std::string short_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return fmt::format("{:010x}", h & 0xffffffffffull);
}

}  // namespace

Sweep load_sweep(const std::string& path) {
  UNRAVEL_CHECK(fs::exists(path), "sweep file '{}' does not exist", path);
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    UNRAVEL_CHECK(false, "{} line {}: {}", path, e.source().begin.line, e.description());
  }
  Sweep s;
  s.file = path;
  std::vector<Field> base;
  std::vector<Axis> grid;
  std::vector<std::vector<Axis>> zips;
  std::vector<Override> overrides;
  auto field_of = [&](const std::string& key, const toml::node& n) {
    return Field{key, to_json_value(n), line_of(n)};
  };
  auto axis_of = [&](const std::string& key, const toml::node& n) {
    UNRAVEL_CHECK(n.is_array(), "{} line {}: axis '{}' must be a list of values, e.g. {} = [1, 2]",
                  path, line_of(n), key, key);
    Axis a{key, {}, line_of(n)};
    for (const auto& e : *n.as_array()) a.values.push_back(to_json_value(e));
    UNRAVEL_CHECK(!a.values.empty(), "{} line {}: axis '{}' is empty", path, a.line, key);
    return a;
  };
  for (const auto& [k, v] : entries(root)) {
    const int64_t line = line_of(*v);
    if (k == "name" || k == "out") {
      UNRAVEL_CHECK(v->is_string(), "{} line {}: {} must be a string", path, line, k);
      (k == "name" ? s.name : s.out) = v->as_string()->get();
    } else if (k == "base" || k == "grid") {
      UNRAVEL_CHECK(v->is_table(), "{} line {}: [{}] must be a table", path, line, k);
      std::vector<std::pair<std::string, const toml::node*>> flat;
      flatten(path, "", *v->as_table(), flat);
      for (auto& [fk, fv] : flat) {
        if (k == "base") base.push_back(field_of(fk, *fv));
        else grid.push_back(axis_of(fk, *fv));
      }
    } else if (k == "zip") {
      UNRAVEL_CHECK(v->is_array_of_tables(), "{} line {}: zip groups are [[zip]] tables", path, line);
      for (const auto& g : *v->as_array()) {
        std::vector<std::pair<std::string, const toml::node*>> flat;
        flatten(path, "", *g.as_table(), flat);
        std::vector<Axis> group;
        for (auto& [fk, fv] : flat) group.push_back(axis_of(fk, *fv));
        UNRAVEL_CHECK(!group.empty(), "{} line {}: an empty [[zip]] group", path, line_of(g));
        for (const Axis& a : group)
          UNRAVEL_CHECK(a.values.size() == group[0].values.size(), "{} line {}: zip axis '{}' has "
                        "{} values but '{}' has {} (lists of a [[zip]] group advance together)",
                        path, a.line, a.name, a.values.size(), group[0].name, group[0].values.size());
        zips.push_back(group);
      }
    } else if (k == "override") {
      UNRAVEL_CHECK(v->is_array_of_tables(), "{} line {}: overrides are [[override]] tables", path, line);
      for (const auto& g : *v->as_array()) {
        Override o;
        o.line = line_of(g);
        const toml::table& t = *g.as_table();
        const toml::node* where = t.get("where");
        UNRAVEL_CHECK(where && where->is_table(), "{} line {}: an [[override]] needs where = {{ axis "
                      "= value, ... }}", path, o.line);
        for (const auto& [wk, wv] : entries(*where->as_table())) o.where.push_back(field_of(wk, *wv));
        std::vector<std::pair<std::string, const toml::node*>> flat;
        toml::table rest = t;
        rest.erase("where");
        flatten(path, "", rest, flat);
        for (auto& [fk, fv] : flat) o.fields.push_back(field_of(fk, *fv));
        overrides.push_back(std::move(o));
      }
    } else if (k == "eval") {
      UNRAVEL_CHECK(v->is_table(), "{} line {}: [eval] must be a table", path, line);
      for (const auto& [ek, ev] : entries(*v->as_table())) {
        UNRAVEL_CHECK((ek == "metrics" || ek == "budget") && ev->is_string(), "{} line {}: [eval] "
                      "takes metrics = \"a,b\" and budget = \"smoke|quick|full\"; got '{}'", path,
                      line_of(*ev), ek);
        (ek == "metrics" ? s.eval.metrics : s.eval.budget) = ev->as_string()->get();
      }
    } else {
      UNRAVEL_CHECK(false, "{} line {}: unknown key '{}' (valid: name, out, [base], [grid], [[zip]], "
                    "[[override]], [eval])", path, line, k);
    }
  }
  if (s.name.empty()) s.name = fs::path(path).stem().string();
  if (s.out.empty()) s.out = (fs::path("sweeps") / s.name).string();
  else if (fs::path(s.out).is_relative()) s.out = (fs::path(path).parent_path() / s.out).lexically_normal().string();
  if (s.out.empty()) s.out.assign(1, '.');  // not = ".": GCC 12 -Wrestrict false positive (PR 105329)

  // Every axis once; overrides name axes.
  std::vector<Axis> all = grid;
  for (auto& g : zips) all.insert(all.end(), g.begin(), g.end());
  std::set<std::string> seen;
  for (const Axis& a : all) {
    UNRAVEL_CHECK(seen.insert(a.name).second, "{} line {}: axis '{}' appears twice", path, a.line, a.name);
    s.axes.push_back(a.name);
  }
  for (const Override& o : overrides)
    for (const Field& w : o.where)
      UNRAVEL_CHECK(seen.count(w.key), "{} line {}: override where '{}' is not an axis (axes: {})",
                    path, w.line, w.key, fmt::join(s.axes, ", "));

  // The product: grid axes, then each zip group as one axis of tuples; the last varies fastest.
  std::vector<size_t> sizes;
  for (const Axis& a : grid) sizes.push_back(a.values.size());
  for (auto& g : zips) sizes.push_back(g[0].values.size());
  // Refused before expanding: a few long lists multiply into more runs than any cluster trains
  // (and than memory holds: each run keeps its resolved config).
  size_t total = 1;
  for (size_t n : sizes)
    UNRAVEL_CHECK(!__builtin_mul_overflow(total, n, &total) && total <= kMaxSweepRuns,
                  "{}: the axes multiply into more than {} runs (sizes {}); split the sweep", path,
                  kMaxSweepRuns, fmt::join(sizes, " x "));
  std::vector<size_t> idx(sizes.size(), 0);
  std::map<std::string, std::string> by_hash;
  while (true) {
    std::vector<Field> chosen;
    for (size_t i = 0; i < grid.size(); ++i) chosen.push_back({grid[i].name, grid[i].values[idx[i]], grid[i].line});
    for (size_t z = 0; z < zips.size(); ++z)
      for (const Axis& a : zips[z]) chosen.push_back({a.name, a.values[idx[grid.size() + z]], a.line});
    SweepRun run;
    for (const Field& f : chosen) run.values.emplace_back(f.key, value_text(f.value));
    const std::string label = fmt::format("{{{}}}", fmt::join([&] {
      std::vector<std::string> kv;
      for (auto& [k, v] : run.values) kv.push_back(k + "=" + v);
      return kv;
    }(), ", "));
    std::vector<Field> fields = base;
    fields.insert(fields.end(), chosen.begin(), chosen.end());
    for (const Override& o : overrides) {
      bool match = true;
      for (const Field& w : o.where)
        for (const Field& f : chosen)
          if (f.key == w.key && !(f.value == w.value)) match = false;
      if (match) fields.insert(fields.end(), o.fields.begin(), o.fields.end());
    }
    // preset first (it replaces the config), then every other field in order, beta last.
    TrainConfig c;
    auto apply = [&](const Field& f) {
      try {
        apply_config_field(c, f.key, f.value.dump());
      } catch (const std::exception& e) {
        UNRAVEL_CHECK(false, "{} line {}: {} (run {})", path, f.line, e.what(), label);
      }
    };
    for (const Field& f : fields) if (f.key == "preset") apply(f);
    for (const Field& f : fields) if (f.key != "preset" && f.key != "beta") apply(f);
    for (const Field& f : fields) if (f.key == "beta") apply(f);
    try {
      resolve(c);
      c.out.clear();
      run.name = short_hash(sweep_config_key(c));
      c.out = (fs::path(s.out) / "runs" / run.name).string();
      validate(c);
    } catch (const std::exception& e) {
      UNRAVEL_CHECK(false, "{}: run {}: {}", path, label, e.what());
    }
    run.config = c;
    auto [it, fresh] = by_hash.emplace(run.name, label);
    UNRAVEL_CHECK(fresh, "{}: runs {} and {} have the same effective configuration (an override or "
                  "an axis without effect); each run must differ", path, it->second, label);
    s.runs.push_back(std::move(run));
    // Next index tuple.
    int i = static_cast<int>(sizes.size()) - 1;
    while (i >= 0 && ++idx[static_cast<size_t>(i)] == sizes[static_cast<size_t>(i)]) idx[static_cast<size_t>(i--)] = 0;
    if (i < 0) break;
  }
  return s;
}

}  // namespace unravel::apps
