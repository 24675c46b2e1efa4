// A reference-counted raw buffer on one device. It knows its size and device but no shape.
// It also carries the version counter shared by every view of the buffer, which the tape uses
// to detect in-place modification of tensors saved for backward.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "engine/device.h"

namespace unravel {

class Allocator;

class Storage {
 public:
  /// Allocates nbytes on `device` through that device's allocator.
  Storage(size_t nbytes, Device device);
  /// Wraps memory owned elsewhere; `deleter` (may be empty) runs on destruction.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  /// Incremented by every in-place write through any view.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace unravel
