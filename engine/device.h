// Where a tensor lives: the host, or CUDA device N.
#pragma once
#include <cstdint>
#include <string>

namespace unravel {

enum class DeviceKind : uint8_t { cpu = 0, cuda = 1 };
inline constexpr int kNumDeviceKinds = 2;

/// A device: kind plus index (index is 0 for the CPU).
struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  constexpr bool operator==(const Device&) const = default;
  bool is_cpu() const { return kind == DeviceKind::cpu; }
  bool is_cuda() const { return kind == DeviceKind::cuda; }
  /// "cpu" or "cuda:N".
  std::string str() const;
  /// Parses "cpu", "cuda", "cuda:N"; throws on anything else.
  static Device parse(const std::string& s);
};

inline constexpr Device kCPU{DeviceKind::cpu, 0};
inline Device cuda_device(int i = 0) { return Device{DeviceKind::cuda, i}; }

}  // namespace unravel
