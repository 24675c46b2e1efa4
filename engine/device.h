// Where a tensor lives: the host, CUDA device N, or the stand-in device `sim:N` (engine/sim/):
// CPU kernels behind a device's rules (its own locked memory, a queue, counted host reads), so
// tests prove without a GPU that library code never touches device memory from the host.
#pragma once
#include <cstdint>
#include <string>

namespace unravel {

enum class DeviceKind : uint8_t { cpu = 0, cuda = 1, sim = 2 };
inline constexpr int kNumDeviceKinds = 3;
/// "cpu", "cuda" or "sim".
constexpr const char* device_kind_name(DeviceKind k) {
  return k == DeviceKind::cpu ? "cpu" : k == DeviceKind::cuda ? "cuda" : "sim";
}

/// A device: kind plus index (index is 0 for the CPU).
struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  constexpr bool operator==(const Device&) const = default;
  bool is_cpu() const { return kind == DeviceKind::cpu; }
  bool is_cuda() const { return kind == DeviceKind::cuda; }
  bool is_sim() const { return kind == DeviceKind::sim; }
  /// "cpu", "cuda:N" or "sim:N".
  std::string str() const;
  /// Parses "cpu", "cuda", "cuda:N", "sim", "sim:N"; throws on anything else.
  static Device parse(const std::string& s);
};

inline constexpr Device kCPU{DeviceKind::cpu, 0};
inline Device cuda_device(int i = 0) { return Device{DeviceKind::cuda, i}; }
inline Device sim_device(int i = 0) { return Device{DeviceKind::sim, i}; }

}  // namespace unravel
