// Checkpoint save/load on top of engine/io/safetensors. File metadata keys:
//   "format" = "unravel-checkpoint", "version" = "1", "metadata" = caller JSON,
//   "optim.type", "optim.step", "optim.lr" (%.17g, exact round trip) when an optimiser is saved.
#include "models/checkpoint.h"

#include <set>

#include "engine/check.h"
#include "engine/grad_mode.h"
#include "engine/io/safetensors.h"
#include "ops/binary.h"
#include "ops/shape_ops.h"

namespace unravel {

namespace {
constexpr char kFormat[] = "unravel-checkpoint";
constexpr char kModel[] = "model.";
constexpr char kOptim[] = "optim.";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string list_some(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > 8) s += fmt::format(" and {} more", names.size() - 8);
  return s;
}

SafetensorsData read_checked(const std::string& path) {
  SafetensorsData d = load_safetensors(path);
  auto it = d.metadata.find("format");
  UNRAVEL_CHECK(it != d.metadata.end() && it->second == kFormat,
                "load_checkpoint('{}'): not an unravel checkpoint (metadata 'format' is missing "
                "or not '{}')", path, kFormat);
  UNRAVEL_CHECK(d.metadata.count("version") && d.metadata.at("version") == "1",
                "load_checkpoint('{}'): unsupported checkpoint version '{}'", path,
                d.metadata.count("version") ? d.metadata.at("version") : "");
  return d;
}
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt, const std::string& metadata_json) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta = {
      {"format", kFormat}, {"version", "1"}, {"metadata", metadata_json}};
  auto put = [&](const std::string& name, const Tensor& t) {
    UNRAVEL_CHECK(tensors.emplace(name, t.detach()).second,
                  "save_checkpoint('{}'): duplicate tensor name '{}'", path, name);
  };
  for (const auto& [n, t] : model.named_parameters()) put(kModel + n, t);
  for (const auto& [n, t] : model.named_buffers()) put(kModel + n, t);
  if (opt) {
    optim::OptimizerState s = opt->state_dict();
    for (const auto& [n, t] : s.tensors) put(kOptim + n, t);
    meta["optim.type"] = opt->type_name();
    meta["optim.step"] = std::to_string(s.step);
    meta["optim.lr"] = fmt::format("{:.17g}", s.lr);
  }
  save_safetensors(path, tensors, meta);
}

std::string load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* opt) {
  SafetensorsData d = read_checked(path);
  // Model tensors: exact name sets, then shapes and dtypes, all before any write.
  nn::NamedTensors mine = model.named_parameters();
  for (auto& nt : model.named_buffers()) mine.push_back(nt);
  std::vector<std::string> missing, unexpected;
  std::set<std::string> wanted;
  for (const auto& [n, t] : mine) {
    wanted.insert(kModel + n);
    if (!d.tensors.count(kModel + n)) missing.push_back(n);
  }
  for (const auto& [n, t] : d.tensors)
    if (starts_with(n, kModel) && !wanted.count(n)) unexpected.push_back(n.substr(6));
  UNRAVEL_CHECK(missing.empty(), "load_checkpoint('{}'): missing tensor(s) {} of the model",
                path, list_some(missing));
  UNRAVEL_CHECK(unexpected.empty(), "load_checkpoint('{}'): unexpected tensor(s) {} not in the model",
                path, list_some(unexpected));
  for (const auto& [n, t] : mine) {
    const Tensor& src = d.tensors.at(kModel + n);
    UNRAVEL_CHECK(src.shape() == t.shape() && src.dtype() == t.dtype(),
                  "load_checkpoint('{}'): tensor '{}' is {} in the file but {} in the model", path,
                  n, src.desc(), t.desc());
  }
  optim::OptimizerState os;
  if (opt) {
    auto type = d.metadata.find("optim.type");
    UNRAVEL_CHECK(type != d.metadata.end(), "load_checkpoint('{}'): the file holds no optimiser "
                  "state but a {} was given", path, opt->type_name());
    UNRAVEL_CHECK(type->second == opt->type_name(),
                  "load_checkpoint('{}'): the file holds {} state but a {} was given", path,
                  type->second, opt->type_name());
    for (const auto& [n, t] : d.tensors)
      if (starts_with(n, kOptim)) os.tensors[n.substr(6)] = t;
    try {
      os.step = std::stoll(d.metadata.at("optim.step"));
      os.lr = std::stod(d.metadata.at("optim.lr"));
    } catch (const std::exception&) {
      throw_error(fmt::format("load_checkpoint('{}'): bad or missing optim.step / optim.lr metadata",
                              path));
    }
    // load_state_dict validates everything before it writes.
    try {
      opt->load_state_dict(os);
    } catch (const Error& e) {
      throw_error(fmt::format("load_checkpoint('{}'): {}", path, e.what()));
    }
  }
  NoGradGuard guard;
  for (const auto& [n, t] : mine) copy_(t, unravel::to(d.tensors.at(kModel + n), t.device()));
  return d.metadata.at("metadata");
}

std::string checkpoint_metadata(const std::string& path) {
  SafetensorsData d = read_checked(path);
  auto it = d.metadata.find("metadata");
  return it == d.metadata.end() ? std::string() : it->second;
}

}  // namespace unravel
