// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets":
// [begin, end]}, ..., "__metadata__": {"key": "value"}} (space-padded to a multiple of 8), then
// the tensors' bytes (offsets relative to the end of the header). Files written here are
// readable by the Python safetensors / PyTorch tools; writes are atomic; reads validate
// everything and name the file and tensor in every error.
#pragma once
#include <cstddef>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace unravel {

/// The tensors (on the CPU, contiguous) and string metadata of one safetensors file.
struct SafetensorsData {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Writes tensors (any device/layout; dtypes f32 f64 i32 i64 u8) plus optional metadata to
/// `path` atomically: "<path>.tmp.<pid>", fsync, rename over the target, fsync the directory.
/// Data are ordered by element size (largest first) then name, so every tensor is aligned.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads and validates a safetensors file (dtypes F32 F64 I32 I64 U8, and BOOL as u8).
SafetensorsData load_safetensors(const std::string& path);
/// Validates what load_safetensors does short of reading the tensors' bytes (the header, every
/// tensor's dtype, shape and place against the file's size): a cut or corrupt file fails here.
void check_safetensors(const std::string& path);
/// The same as load_safetensors from `size` bytes in memory; `name` stands for the file in error messages.
SafetensorsData load_safetensors_buffer(const void* data, size_t size, const std::string& name);

}  // namespace unravel
