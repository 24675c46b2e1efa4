// `import unravel`: runs, models and metrics from Python on NumPy arrays (README "Python").
//   unravel.Run(path)          a trained run: config, log, checkpoints, encode/decode/sample/
//                              traverse, items/factors of its dataset, evaluate() (run.cpp)
//   unravel.metrics.<name>     each metric of `unravel eval --codes` on arrays, and score()
//   unravel.Tensor, from_dlpack  zero-copy exchange with PyTorch / JAX / CuPy (arrays.cpp)
//   unravel.Error              every error of the library (a ValueError), with the CLI's message
#include <pybind11/stl.h>

#include <fmt/format.h>

#include "apps/eval.h"
#include "engine/config.h"
#include "apps/python/arrays.h"
#include "engine/check.h"
#include "objectives/metrics/metrics.h"

namespace unravel::python {
void bind_run(py::module_& m);
}

namespace py = pybind11;
using namespace unravel;
using namespace unravel::python;

namespace {

/// score_arrays (the path of `unravel eval --codes`) on Python arrays.
py::dict score(py::handle codes, py::handle factors, py::handle logvar, const std::string& metrics,
               const std::string& budget, uint64_t seed) {
  ArraySpec spec{"codes"};
  spec.any_dtype = true;  // score_arrays names what it takes (float codes, integer factors)
  spec.finite = false;    // ... and refuses NaN / Inf with the row and column
  apps::ArrayScoreInputs in;
  in.codes = tensor_from_python(codes, spec);
  spec.what = "factors";
  in.factors = tensor_from_python(factors, spec);
  if (!logvar.is_none()) {
    spec.what = "logvar";
    in.logvar = tensor_from_python(logvar, spec);
  }
  apps::EvalOptions o;
  o.metrics = metrics;
  o.budget = budget;
  o.seed = seed;
  apps::EvalResult r;
  {
    Compute compute;
    r = apps::score_arrays(in, o);
  }
  return py::cast(r.values);
}

}  // namespace

PYBIND11_MODULE(unravel, m) {
  m.doc() = "unravel: disentangled-VAE runs, models and metrics from Python (NumPy in and out).";
  m.attr("__version__") = UNRAVEL_VERSION;
  py::register_exception<Error>(m, "Error", PyExc_ValueError);
  // The CPU backend flushes subnormals on the threads that first use it; this marks the importing
  // thread as set up while the scope restores its float mode (see Compute).
  { DenormalsFlushedScope once; }

  bind_tensor(m);
  bind_run(m);

  py::module_ mm = m.def_submodule(
      "metrics", "Disentanglement metrics on arrays: codes [N, D] float, factors [N, K] integer "
                 "class indices (+ logvar [N, D] for mig_chen). The values equal `unravel eval "
                 "--codes Z.npy --factors F.npy` with the same budget and seed.");
  mm.def("score", &score, py::arg("codes"), py::arg("factors"), py::arg("logvar") = py::none(),
         py::arg("metrics") = "all", py::arg("budget") = "full", py::arg("seed") = 0,
         "Every metric (or a comma-separated subset) -> {name: value}. budget: full (the papers' "
         "sample counts) | quick | smoke.");
  mm.def("names", &scored_metric_names, "The metric names score() takes.");
  for (const RegistryEntry& e : metric_entries()) {
    const std::string name = e.name;
    auto scored = scored_metric_names();
    if (std::find(scored.begin(), scored.end(), name) == scored.end()) continue;  // needs a run
    mm.def(name.c_str(),
           [name](py::handle codes, py::handle factors, py::handle logvar, const std::string& budget,
                  uint64_t seed) { return score(codes, factors, logvar, name, budget, seed); },
           py::arg("codes"), py::arg("factors"), py::arg("logvar") = py::none(),
           py::arg("budget") = "full", py::arg("seed") = 0,
           fmt::format("{}: {} -> {{key: value}} (as score(metrics='{}')).", name, e.meaning, name)
               .c_str());
  }
}
