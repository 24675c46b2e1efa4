// `import unravel`: runs, models and metrics on NumPy arrays (see README "Python").
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(unravel, m) {
  m.doc() = "unravel: disentangled-VAE runs, models and metrics from Python";
  m.attr("__version__") = "0.1.0";
}
