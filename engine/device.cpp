#include "engine/device.h"

#include "engine/check.h"

namespace unravel {

std::string Device::str() const {
  return kind == DeviceKind::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return kCPU;
  if (s == "cuda") return cuda_device(0);
  if (s.rfind("cuda:", 0) == 0) {
    std::string n = s.substr(5);
    bool digits = !n.empty() && n.find_first_not_of("0123456789") == std::string::npos;
    UNRAVEL_CHECK(digits, "device '{}': expected cuda:N with N a number", s);
    return cuda_device(std::stoi(n));
  }
  UNRAVEL_CHECK(false, "unknown device '{}' (expected cpu, cuda or cuda:N)", s);
  return kCPU;
}

}  // namespace unravel
