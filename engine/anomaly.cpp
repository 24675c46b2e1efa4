#include "engine/anomaly.h"

#include <cmath>
#include <vector>

#include "engine/tensor.h"

namespace unravel {

namespace {
thread_local bool g_anomaly = false;
thread_local std::vector<std::string> g_scope;
}  // namespace

bool anomaly_mode() { return g_anomaly; }
void set_anomaly_mode(bool on) { g_anomaly = on; }

AnomalyScope::AnomalyScope(const std::string& name) {
  if (!g_anomaly || name.empty()) return;
  g_scope.push_back(name);
  pushed_ = true;
}

AnomalyScope::~AnomalyScope() {
  if (pushed_) g_scope.pop_back();
}

std::string anomaly_where() {
  std::string out;
  for (const std::string& s : g_scope) out += (out.empty() ? "" : ".") + s;
  return out;
}

std::string nonfinite_kind(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return "";
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64) return "";  // (bf16: storage only)
  // Logical values on the host, any device or layout (to_vector copies through the backend).
  bool inf = false;
  for (double v : t.to_vector<double>()) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) inf = true;
  }
  return inf ? "Inf" : "";
}

}  // namespace unravel
