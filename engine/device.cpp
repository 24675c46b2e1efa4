#include "engine/device.h"

#include "engine/check.h"

namespace unravel {

std::string Device::str() const {
  switch (kind) {
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::cuda: return "cuda:" + std::to_string(index);
    case DeviceKind::sim: return "sim:" + std::to_string(index);
  }
  return "?";
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return kCPU;
  for (DeviceKind k : {DeviceKind::cuda, DeviceKind::sim}) {
    const std::string name = k == DeviceKind::cuda ? "cuda" : "sim";
    if (s == name) return Device{k, 0};
    if (s.rfind(name + ":", 0) == 0) {
      std::string n = s.substr(name.size() + 1);
      bool digits = !n.empty() && n.size() < 6 && n.find_first_not_of("0123456789") == std::string::npos;
      UNRAVEL_CHECK(digits, "device '{}': expected {}:N with N a number", s, name);
      return Device{k, std::stoi(n)};
    }
  }
  UNRAVEL_CHECK(false, "unknown device '{}' (expected cpu, cuda, cuda:N, sim or sim:N)", s);
  return kCPU;
}

}  // namespace unravel
