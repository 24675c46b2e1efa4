// `unravel.Run`: a trained run directory opened from Python — its config, log and checkpoints,
// and its model: encode, decode, sample, traverse, the dataset's items, and `unravel eval`'s
// metrics. Every model call runs without the tape, with the GIL released, on the run's device,
// through the same code as the CLI (apps/common/encoding.h): `Run.encode` of the first N items
// equals `unravel encode RUN --limit N` bit for bit (same batches of 256).
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <filesystem>
#include <mutex>
#include <numeric>

#include "apps/common/encoding.h"
#include "apps/common/run_dir.h"
#include "apps/common/setup.h"
#include "apps/eval.h"
#include "apps/python/arrays.h"
#include "engine/check.h"
#include "engine/grad_mode.h"
#include "ops/ops.h"

namespace unravel::python {

namespace fs = std::filesystem;

namespace {

class PyRun {
 public:
  PyRun(std::string path, std::string device, std::string checkpoint) : path_(std::move(path)) {
    Compute compute;
    run_ = apps::load_trained(path_, false, &step_, device, checkpoint);
    checkpoint_ = checkpoint.empty() ? apps::last_checkpoint_path(path_) : checkpoint;
  }

  const std::string& path() const { return path_; }
  int64_t step() const { return step_; }
  int64_t latents() const { return run_.vae->latents(); }
  std::string device() const { return run_.vae->device().str(); }
  py::tuple data_shape() const { return py::tuple(py::cast(run_.vae->data_shape().vec())); }

  py::object config() const {
    return py::module_::import("json").attr("loads")(apps::read_text(apps::config_path(path_)));
  }

  /// log.csv as a NumPy record array: `step` int64, every other column float64, named exactly
  /// as the CSV header (dots included: log["ctl.integral"]).
  py::object log() const {
    std::string text = apps::read_text(apps::log_path(path_));
    std::vector<std::string> names;
    std::vector<std::vector<double>> cols;
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (line.empty()) continue;
      std::vector<std::string> cells;
      size_t c = 0;
      while (true) {
        size_t comma = line.find(',', c);
        cells.push_back(line.substr(c, comma == std::string::npos ? std::string::npos : comma - c));
        if (comma == std::string::npos) break;
        c = comma + 1;
      }
      if (names.empty()) {
        names = cells;
        cols.resize(names.size());
        continue;
      }
      UNRAVEL_CHECK(cells.size() == names.size(), "{} line {}: {} values for {} columns",
                    apps::log_path(path_), line_no, cells.size(), names.size());
      for (size_t i = 0; i < cells.size(); ++i) {
        char* e = nullptr;
        double v = std::strtod(cells[i].c_str(), &e);
        UNRAVEL_CHECK(e && *e == '\0' && !cells[i].empty(), "{} line {}: column {} is not a number: '{}'",
                      apps::log_path(path_), line_no, names[i], cells[i]);
        cols[i].push_back(v);
      }
    }
    py::module_ np = py::module_::import("numpy");
    py::list arrays;
    for (size_t i = 0; i < names.size(); ++i) {
      py::array_t<double> a(static_cast<py::ssize_t>(cols[i].size()));
      std::copy(cols[i].begin(), cols[i].end(), a.mutable_data());
      arrays.append(names[i] == "step" ? py::object(a.attr("astype")(np.attr("int64"))) : py::object(a));
    }
    return np.attr("rec").attr("fromarrays")(arrays, py::arg("names") = py::cast(names));
  }

  /// [(step, path)] of the periodic checkpoints on disk, oldest first.
  std::vector<std::pair<int64_t, std::string>> checkpoints() const {
    std::vector<std::pair<int64_t, std::string>> out;
    fs::path dir = fs::path(path_) / "checkpoints";
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename().string();
      if (n.rfind("step-", 0) != 0 || e.path().extension() != ".safetensors") continue;
      out.emplace_back(std::atoll(n.c_str() + 5), e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  py::tuple encode(py::handle images, int64_t batch) {
    UNRAVEL_CHECK(batch >= 1, "encode: batch must be at least 1, got {}", batch);
    Tensor x = items_argument(images, "encode: images");
    Tensor mu, lv;
    {
      Compute compute;
      std::lock_guard<std::mutex> lock(mu_);
      NoGradGuard ng;
      run_.vae->eval();
      const Device dev = run_.vae->device();
      const int64_t n = x.size(0);
      std::vector<Tensor> mus, lvs;
      for (int64_t s = 0; s < n; s += batch) {
        const int64_t b = std::min(batch, n - s);
        DiagonalGaussian q = run_.vae->encode(to(slice(x, 0, s, s + b), dev));
        mus.push_back(to(q.mean(), DType::f32));
        lvs.push_back(to(q.logvar(), DType::f32));
      }
      mu = n > 0 ? contiguous(concat(mus, 0)) : Tensor::empty({0, latents()});
      lv = n > 0 ? contiguous(concat(lvs, 0)) : Tensor::empty({0, latents()});
    }
    return py::make_tuple(result(mu), result(lv));
  }

  py::object decode(py::handle codes, bool raw) {
    Tensor z = codes_argument(codes, "decode: z");
    Tensor out;
    {
      Compute compute;
      std::lock_guard<std::mutex> lock(mu_);
      if (raw) {
        NoGradGuard ng;
        run_.vae->eval();
        out = contiguous(run_.vae->decode(to(z, run_.vae->device())));
      } else {
        out = apps::decode_to_images(*run_.vae, z);
      }
    }
    return result(out);
  }

  /// z ~ the run's prior (its own: Gaussian, Student-t, mixture, spike-and-slab).
  py::object sample_prior(int64_t n, uint64_t seed) { return result(draw_prior(n, seed, "sample_prior")); }

  /// n images decoded from z ~ the run's prior (the same z as sample_prior(n, seed)).
  py::object sample(int64_t n, uint64_t seed) {
    Tensor z = draw_prior(n, seed, "sample");
    Tensor imgs;
    {
      Compute compute;
      std::lock_guard<std::mutex> lock(mu_);
      imgs = apps::decode_to_images(*run_.vae, z);
    }
    return result(imgs);
  }

  /// Images [len(latents), steps, *data_shape]: the posterior mean of `image` (or dataset item
  /// `item`) with latent d set to each of linspace(-range, range, steps), as the traversal
  /// figure draws them.
  py::object traverse(py::object image, int64_t item, std::optional<std::vector<int64_t>> which,
                      int64_t steps, double range) {
    UNRAVEL_CHECK(steps >= 2, "traverse: steps must be at least 2, got {}", steps);
    UNRAVEL_CHECK(range > 0, "traverse: range must be positive, got {}", range);
    const int64_t D = latents();
    std::vector<int64_t> ls(static_cast<size_t>(D));
    std::iota(ls.begin(), ls.end(), int64_t{0});
    if (which) ls = *which;
    for (int64_t d : ls)
      UNRAVEL_CHECK(d >= 0 && d < D, "traverse: latent {} is out of range (the run has {} latents)", d, D);
    Tensor x;
    if (image.is_none()) {
      x = items_tensor({item}, "traverse");
    } else {
      x = items_argument(image, "traverse: image");
      UNRAVEL_CHECK(x.size(0) == 1, "traverse: image must be one item [1, ...], got {} items", x.size(0));
    }
    Tensor imgs;
    {
      Compute compute;
      std::lock_guard<std::mutex> lock(mu_);
      NoGradGuard ng;
      run_.vae->eval();
      std::vector<float> mu =
          to(run_.vae->encode(to(x, run_.vae->device())).mean(), DType::f32).to_vector<float>();
      std::vector<float> z;
      for (int64_t d : ls)
        for (int64_t j = 0; j < steps; ++j) {
          z.insert(z.end(), mu.begin(), mu.end());
          z[z.size() - D + d] = static_cast<float>(-range + 2 * range * j / (steps - 1));
        }
      const int64_t n = static_cast<int64_t>(ls.size()) * steps;
      imgs = apps::decode_to_images(*run_.vae, Tensor::from_vector(z, Shape{n, D}));
      std::vector<int64_t> shape = {static_cast<int64_t>(ls.size()), steps};
      for (int64_t s : run_.vae->data_shape()) shape.push_back(s);
      imgs = reshape(imgs, Shape(shape));
    }
    return result(imgs);
  }

  // --- the run's dataset ------------------------------------------------------------------
  int64_t dataset_size() { return data().size(); }
  py::object items(std::vector<int64_t> indices) { return result(items_tensor(indices, "items")); }
  py::object factors(std::vector<int64_t> indices) {
    const Dataset& d = data();
    UNRAVEL_CHECK(d.num_factors() > 0, "factors: dataset '{}' has no ground-truth factors", d.name());
    check_indices(indices, "factors");
    Tensor f = Tensor::empty({static_cast<int64_t>(indices.size()), d.num_factors()}, DType::i64);
    int64_t* p = f.data<int64_t>();
    for (size_t i = 0; i < indices.size(); ++i)
      d.factor_classes(indices[i], std::span<int64_t>(p + i * d.num_factors(), static_cast<size_t>(d.num_factors())));
    return result(f);
  }
  std::vector<std::string> factor_names() { return data().factor_names(); }
  std::vector<int64_t> factor_sizes() { return data().factor_sizes(); }

  py::dict evaluate(const std::string& metrics, const std::string& budget, uint64_t seed,
                    int64_t heldout, bool write) {
    apps::EvalOptions o;
    o.run = path_;
    o.metrics = metrics;
    o.budget = budget;
    o.seed = seed;
    o.heldout = heldout;
    o.device = device();
    o.write = write;
    apps::EvalResult r;
    {
      Compute compute;
      std::lock_guard<std::mutex> lock(mu_);
      r = apps::evaluate_run(o, false);
    }
    return py::cast(r.values);
  }

  std::string repr() const {
    return fmt::format("unravel.Run('{}', step={}, arch={}, latents={}, device={})", path_, step_,
                       run_.config.arch, latents(), device());
  }

 private:
  Tensor draw_prior(int64_t n, uint64_t seed, const char* who) {
    UNRAVEL_CHECK(n >= 1, "{}: n must be at least 1, got {}", who, n);
    Compute compute;
    std::lock_guard<std::mutex> lock(mu_);
    NoGradGuard ng;
    Generator g(seed);
    return contiguous(to(run_.prior->sample(Shape{n}, g), DType::f32));
  }

  /// The run's dataset, loaded on first use; call with the GIL held (never inside Compute).
  const Dataset& data() {
    if (!run_.data) {
      Compute compute;
      run_.data = apps::make_dataset(run_.config);
    }
    return *run_.data;
  }

  void check_indices(const std::vector<int64_t>& idx, const char* who) {
    const int64_t n = data().size();
    for (int64_t i : idx)
      UNRAVEL_CHECK(i >= 0 && i < n, "{}: index {} is out of range (dataset '{}' has {} items)", who,
                    i, data().name(), n);
  }

  Tensor items_tensor(const std::vector<int64_t>& idx, const char* who) {
    const Dataset& d = data();  // loads it (releasing the GIL itself) before the scope below
    check_indices(idx, who);
    Compute compute;
    return apps::gather_items(d, idx);
  }

  /// float32 [N, *data_shape] (one item without the N axis is refused: the shapes say which).
  Tensor items_argument(py::handle obj, const char* what) {
    ArraySpec spec{what};
    spec.min_dim = 2;
    Tensor x = tensor_from_python(obj, spec);
    const Shape& ds = run_.vae->data_shape();
    bool ok = x.dim() == ds.size() + 1;
    for (int d = 0; ok && d < ds.size(); ++d) ok = x.size(d + 1) == ds[d];
    if (!ok)
      throw py::value_error(fmt::format("{} must have shape [N, {}] for this run (architecture {}), "
                                        "got {}", what, fmt::join(ds.vec(), ", "), run_.config.arch,
                                        x.shape().str()));
    return x;
  }

  Tensor codes_argument(py::handle obj, const char* what) {
    ArraySpec spec{what};
    spec.min_dim = spec.max_dim = 2;
    Tensor z = tensor_from_python(obj, spec);
    if (z.size(1) != latents())
      throw py::value_error(fmt::format("{} must have shape [N, {}] (the run's latents), got {}",
                                        what, latents(), z.shape().str()));
    return z;
  }

  std::string path_, checkpoint_;
  int64_t step_ = 0;
  apps::Run run_;
  std::mutex mu_;
};

}  // namespace

void bind_run(py::module_& m) {
  py::class_<PyRun>(m, "Run", "A trained run directory (written by `unravel train`) and its model.")
      .def(py::init<std::string, std::string, std::string>(), py::arg("path"),
           py::arg("device") = "", py::arg("checkpoint") = "",
           "Opens RUN: its config and the newest checkpoint (or `checkpoint`, a file of "
           "run.checkpoints) on `device` (\"\" = the run's own; \"cpu\", \"cuda:N\", \"sim\").")
      .def_property_readonly("path", &PyRun::path)
      .def_property_readonly("step", &PyRun::step, "The loaded checkpoint's training step.")
      .def_property_readonly("latents", &PyRun::latents)
      .def_property_readonly("device", &PyRun::device)
      .def_property_readonly("data_shape", &PyRun::data_shape, "One item's shape, e.g. (1, 64, 64).")
      .def_property_readonly("config", &PyRun::config, "config.json as a dict.")
      .def_property_readonly("log", &PyRun::log,
                             "log.csv as a NumPy record array (columns named as in the CSV); "
                             "pandas.DataFrame(run.log) makes a frame.")
      .def_property_readonly("checkpoints", &PyRun::checkpoints, "[(step, path)] on disk, oldest first.")
      .def("encode", &PyRun::encode, py::arg("images"), py::arg("batch") = 256,
           "images float32 [N, *data_shape] -> (mu, logvar), float32 [N, latents] each.")
      .def("decode", &PyRun::decode, py::arg("z"), py::arg("raw") = false,
           "z float32 [N, latents] -> images in [0, 1] [N, *data_shape] (sigmoid of Bernoulli "
           "logits, clamped means otherwise); raw=True gives the decoder's output as it is.")
      .def("sample", &PyRun::sample, py::arg("n"), py::arg("seed") = 0,
           "n images decoded from z ~ the run's prior.")
      .def("sample_prior", &PyRun::sample_prior, py::arg("n"), py::arg("seed") = 0,
           "n codes z ~ the run's prior, float32 [n, latents].")
      .def("traverse", &PyRun::traverse, py::arg("image") = py::none(), py::arg("item") = 0,
           py::arg("latents") = py::none(), py::arg("steps") = 8, py::arg("range") = 3.0,
           "Latent traversal images [len(latents), steps, *data_shape] around the posterior mean "
           "of `image` [1, *data_shape] (or dataset item `item`).")
      .def_property_readonly("dataset_size", &PyRun::dataset_size)
      .def("items", &PyRun::items, py::arg("indices"), "Dataset items float32 [n, *data_shape].")
      .def("factors", &PyRun::factors, py::arg("indices"), "Factor classes int64 [n, K].")
      .def_property_readonly("factor_names", &PyRun::factor_names)
      .def_property_readonly("factor_sizes", &PyRun::factor_sizes)
      .def("evaluate", &PyRun::evaluate, py::arg("metrics") = "all", py::arg("budget") = "full",
           py::arg("seed") = 0, py::arg("heldout") = -1, py::arg("write") = false,
           "The metrics of `unravel eval RUN` as a dict (same values); write=True also writes "
           "RUN/metrics.json as eval does.")
      .def("__repr__", &PyRun::repr);
}

}  // namespace unravel::python
