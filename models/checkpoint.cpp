// Checkpoint save/load on top of engine/io/safetensors. File metadata keys:
//   "format" = "unravel-checkpoint", "version" = "2" (version 1, still read, named some
//   tensors by position: see CheckpointCompat), "metadata" = caller JSON,
//   "optim.type", "optim.step", "optim.lr" (%.17g, exact round trip) when an optimiser is saved,
//   and "optim_<name>.type", ".step", ".lr" for each further named optimiser. Tensor names:
//   "model.<name>", "optim.<key>", "optim_<name>.<key>".
#include "models/checkpoint.h"

#include <algorithm>
#include <set>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "engine/io/safetensors.h"
#include "ops/binary.h"
#include "ops/shape_ops.h"

namespace unravel {

namespace {
constexpr char kFormat[] = "unravel-checkpoint";
constexpr char kVersion[] = "2";
constexpr char kModel[] = "model.";
constexpr char kOptim[] = "optim.";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string list_some(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > 8) s += fmt::format(" and {} more", names.size() - 8);
  return s;
}

/// Tensor-name and metadata-key prefix of a further optimiser ("optim_disc.").
std::string extra_prefix(const std::string& fn, const std::string& path, const std::string& name) {
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  UNRAVEL_CHECK(ok, "{}('{}'): optimiser name '{}' must be non-empty [a-z0-9_]", fn, path, name);
  return "optim_" + name + ".";
}

void put_optimizer(std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& meta,
                   const std::string& path, const std::string& prefix, const optim::Optimizer& opt) {
  optim::OptimizerState s = opt.state_dict();
  for (const auto& [n, t] : s.tensors)
    UNRAVEL_CHECK(tensors.emplace(prefix + n, t.detach()).second,
                  "save_checkpoint('{}'): duplicate tensor name '{}'", path, prefix + n);
  meta[prefix + "type"] = opt.type_name();
  meta[prefix + "step"] = std::to_string(s.step);
  meta[prefix + "lr"] = fmt::format("{:.17g}", s.lr);
}

/// The state of the optimiser stored under `prefix`, checked against `opt`'s type; `what` names
/// it in errors ("optimiser", "'disc' optimiser").
optim::OptimizerState read_optimizer(const SafetensorsData& d, const std::string& path,
                                     const std::string& prefix, const std::string& what,
                                     const optim::Optimizer& opt) {
  auto type = d.metadata.find(prefix + "type");
  UNRAVEL_CHECK(type != d.metadata.end(), "load_checkpoint('{}'): the file holds no {} state "
                "but a {} was given", path, what, opt.type_name());
  UNRAVEL_CHECK(type->second == opt.type_name(),
                "load_checkpoint('{}'): the file holds {} state but a {} was given for its {}",
                path, type->second, opt.type_name(), what);
  optim::OptimizerState os;
  for (const auto& [n, t] : d.tensors)
    if (starts_with(n, prefix.c_str())) os.tensors[n.substr(prefix.size())] = t;
  try {
    os.step = std::stoll(d.metadata.at(prefix + "step"));
    os.lr = std::stod(d.metadata.at(prefix + "lr"));
  } catch (const std::exception&) {
    throw_error(fmt::format("load_checkpoint('{}'): bad or missing {}step / {}lr metadata", path,
                            prefix, prefix));
  }
  return os;
}

SafetensorsData read_checked(const std::string& path) {
  SafetensorsData d = load_safetensors(path);
  auto it = d.metadata.find("format");
  UNRAVEL_CHECK(it != d.metadata.end() && it->second == kFormat,
                "load_checkpoint('{}'): not an unravel checkpoint (metadata 'format' is missing "
                "or not '{}')", path, kFormat);
  const std::string v = d.metadata.count("version") ? d.metadata.at("version") : "";
  UNRAVEL_CHECK(v == "1" || v == kVersion,
                "load_checkpoint('{}'): unsupported checkpoint version '{}' (this build reads 1 "
                "and {})", path, v, kVersion);
  return d;
}
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt, const std::string& metadata_json,
                     const std::vector<NamedOptimizer>& extra) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta = {
      {"format", kFormat}, {"version", kVersion}, {"metadata", metadata_json}};
  auto put = [&](const std::string& name, const Tensor& t) {
    UNRAVEL_CHECK(tensors.emplace(name, t.detach()).second,
                  "save_checkpoint('{}'): duplicate tensor name '{}'", path, name);
  };
  for (const auto& [n, t] : model.named_parameters()) put(kModel + n, t);
  for (const auto& [n, t] : model.named_buffers()) put(kModel + n, t);
  if (opt) put_optimizer(tensors, meta, path, kOptim, *opt);
  for (const NamedOptimizer& e : extra) {
    UNRAVEL_CHECK(e.opt != nullptr, "save_checkpoint('{}'): optimiser '{}' is null", path, e.name);
    const std::string prefix = extra_prefix("save_checkpoint", path, e.name);
    UNRAVEL_CHECK(!meta.count(prefix + "type"), "save_checkpoint('{}'): optimiser '{}' given twice",
                  path, e.name);
    put_optimizer(tensors, meta, path, prefix, *e.opt);
  }
  save_safetensors(path, tensors, meta);
}

std::string load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* opt,
                            const std::vector<NamedOptimizer>& extra,
                            const CheckpointCompat* compat) {
  SafetensorsData d = read_checked(path);
  const bool v1 = d.metadata.at("version") == "1" && compat;
  if (v1 && compat->rename) {
    std::map<std::string, Tensor> renamed;
    for (auto& [n, t] : d.tensors)
      renamed[starts_with(n, kModel) ? kModel + compat->rename(n.substr(6)) : n] = t;
    d.tensors = std::move(renamed);
  }
  // Model tensors: exact name sets, then shapes and dtypes, all before any write.
  nn::NamedTensors mine = model.named_parameters();
  for (auto& nt : model.named_buffers()) mine.push_back(nt);
  std::vector<std::string> missing, unexpected;
  std::set<std::string> wanted;
  for (const auto& [n, t] : mine) {
    wanted.insert(kModel + n);
    const bool tolerated = v1 && compat->may_be_missing && compat->may_be_missing(n);
    if (!d.tensors.count(kModel + n) && !tolerated) missing.push_back(n);
  }
  for (const auto& [n, t] : d.tensors)
    if (starts_with(n, kModel) && !wanted.count(n)) unexpected.push_back(n.substr(6));
  UNRAVEL_CHECK(missing.empty(), "load_checkpoint('{}'): missing tensor(s) {} of the model",
                path, list_some(missing));
  UNRAVEL_CHECK(unexpected.empty(), "load_checkpoint('{}'): unexpected tensor(s) {} not in the model",
                path, list_some(unexpected));
  for (const auto& [n, t] : mine) {
    if (!d.tensors.count(kModel + n)) continue;  // tolerated above
    const Tensor& src = d.tensors.at(kModel + n);
    UNRAVEL_CHECK(src.shape() == t.shape() && src.dtype() == t.dtype(),
                  "load_checkpoint('{}'): tensor '{}' is {} in the file but {} in the model", path,
                  n, src.desc(), t.desc());
  }
  // Optimiser states: all read and type-checked first, then restored one by one; when one is
  // refused (names / shapes), those already restored are put back as they were.
  std::vector<std::pair<optim::Optimizer*, optim::OptimizerState>> states;
  if (opt) states.emplace_back(opt, read_optimizer(d, path, kOptim, "optimiser", *opt));
  for (const NamedOptimizer& e : extra) {
    UNRAVEL_CHECK(e.opt != nullptr, "load_checkpoint('{}'): optimiser '{}' is null", path, e.name);
    const std::string prefix = extra_prefix("load_checkpoint", path, e.name);
    const std::string what = e.description.empty() ? "'" + e.name + "' optimiser" : e.description;
    states.emplace_back(e.opt, read_optimizer(d, path, prefix, what, *e.opt));
  }
  std::vector<optim::OptimizerState> backups;
  for (auto& [o, st] : states) {
    optim::OptimizerState before = o->state_dict();
    try {
      o->load_state_dict(st);  // validates everything before it writes
    } catch (const Error& e) {
      for (size_t i = 0; i < backups.size(); ++i) states[i].first->load_state_dict(backups[i]);
      throw_error(fmt::format("load_checkpoint('{}'): {}", path, e.what()));
    }
    backups.push_back(std::move(before));
  }
  NoGradGuard guard;
  for (const auto& [n, t] : mine)
    if (d.tensors.count(kModel + n)) copy_(t, unravel::to(d.tensors.at(kModel + n), t.device()));
  // A file without the run's metadata string loads as checkpoint_metadata reads it: "" (the
  // caller says what it needed). Was map::at, escaping every message that names the file
  // (found by fuzz_checkpoint).
  auto meta = d.metadata.find("metadata");
  return meta == d.metadata.end() ? std::string() : meta->second;
}

std::string checkpoint_metadata(const std::string& path) {
  SafetensorsData d = read_checked(path);
  auto it = d.metadata.find("metadata");
  return it == d.metadata.end() ? std::string() : it->second;
}

}  // namespace unravel
