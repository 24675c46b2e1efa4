#include "apps/common/run_dir.h"
#include "apps/common/provenance.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <unistd.h>
#include <fstream>
#include <sstream>

#include "engine/check.h"
#include "engine/io/atomic_file.h"
#include "models/checkpoint.h"

namespace unravel::apps {

namespace fs = std::filesystem;

std::string config_path(const std::string& run) { return (fs::path(run) / "config.json").string(); }
std::string log_path(const std::string& run) { return (fs::path(run) / "log.csv").string(); }
std::string last_checkpoint_path(const std::string& run) {
  return (fs::path(run) / "last.safetensors").string();
}
std::string checkpoint_path(const std::string& run, int64_t step) {
  return (fs::path(run) / "checkpoints" / fmt::format("step-{:09d}.safetensors", step)).string();
}

void require_writable_dir(const std::string& dir, const std::string& who) {
  std::error_code ec;
  fs::create_directories(dir.empty() ? "." : dir, ec);
  UNRAVEL_CHECK(!ec, "{}: cannot create the output folder '{}' ({}); nothing was done", who, dir,
                ec.message());
  const std::string probe = (fs::path(dir.empty() ? "." : dir) /
                             fmt::format(".unravel-write-probe.{}", ::getpid())).string();
  errno = 0;
  FILE* f = std::fopen(probe.c_str(), "w");
  bool ok = f && std::fputs("probe\n", f) >= 0 && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int err = errno;
  if (f) std::fclose(f);
  fs::remove(probe, ec);
  UNRAVEL_CHECK(ok, "{}: cannot write the output folder '{}' ({}); nothing was done", who, dir,
                std::strerror(err ? err : EIO));
}

void write_text_atomic(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  UNRAVEL_CHECK(in.good(), "cannot read '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TrainConfig load_config(const std::string& run) {
  UNRAVEL_CHECK(fs::is_directory(run), "'{}' is not a run directory (it does not exist)", run);
  UNRAVEL_CHECK(fs::exists(config_path(run)),
                "'{}' is not a run directory: it has no config.json (made by `unravel train --out`)",
                run);
  TrainConfig c = config_from_json(read_text(config_path(run)), config_path(run));
  resolve(c);
  return c;
}

Run load_trained(const std::string& run, bool with_data, int64_t* step, const std::string& device,
                 const std::string& checkpoint) {
  TrainConfig c = load_config(run);
  if (!device.empty()) c.device = Device::parse(device).str();
  std::string ckpt = checkpoint.empty() ? last_checkpoint_path(run) : checkpoint;
  warn_if_other_build(run);
  UNRAVEL_CHECK(fs::exists(ckpt), "run '{}' has no checkpoint {}({} is missing)", run,
                checkpoint.empty() ? "yet " : "", ckpt);
  Run r = build_run(c, with_data);
  const CheckpointCompat compat = r.state->v1_compat();
  std::string meta = load_checkpoint(ckpt, *r.state, nullptr, {}, &compat);
  if (step) {
    auto j = nlohmann::json::parse(meta, nullptr, false);
    *step = j.is_object() && j.contains("step") && j["step"].is_number_integer()
                ? j["step"].get<int64_t>()
                : 0;
  }
  r.state->eval();
  return r;
}

}  // namespace unravel::apps
