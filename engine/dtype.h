// Element types a tensor can hold, and their sizes and names. bf16 (bfloat16: the upper half of
// an IEEE float) is a storage type for mixed precision (engine/bf16.h): tensors of it can be made,
// copied, cast, saved and loaded, and the mixed-precision convolutions and GEMMs read bf16; the
// generic kernels do not take it (dispatch_dtype refuses it with a message), so arithmetic on
// bf16 values means converting to f32 first.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace unravel {

/// Element type of a tensor.
enum class DType : uint8_t { f32, f64, i32, i64, u8, bf16 };
inline constexpr int kNumDTypes = 6;

/// Bytes per element.
constexpr size_t size_of(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
  }
  return 0;
}

/// Lower-case name ("f32", ...), as used in error messages and checkpoints.
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
  }
  return "?";
}

/// f32, f64 (and bf16, a floating storage type: see above).
constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16;
}

/// Maps a C++ type to its DType.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

/// Throws "... has no bf16 implementation ..." (dispatch_dtype on a bf16 tensor).
[[noreturn]] void refuse_bf16();

/// Calls f(T{}) with T the C++ type of `t`; refuses bf16 (a storage type the generic kernels do
/// not compute in).
template <class F> decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::bf16: refuse_bf16();
  }
  return f(float{});
}

}  // namespace unravel
