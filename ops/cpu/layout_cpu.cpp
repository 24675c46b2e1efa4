// The CPU backend's memory layouts (engine/layout.h): a registry of oneDNN blocked activation
// formats and the conversions between them and strided tensors.
//
// Formats: nChw8c and nChw16c, oneDNN's blocked layouts for (N, C, H, W) activations. Memory
// order (N, ⌈C/B⌉, H, W, B): element (n, c, h, w) lives at
// ((n·⌈C/B⌉ + c/B)·H + h)·W + w)·B + c%B, and the channels past C in the last block are zeros.
// These are the layouts oneDNN's direct convolution kernels pick on AVX2 (8) / AVX-512 (16)
// machines, so a conv2d reading or writing one of them skips a reorder (ops/cpu/conv_cpu.cpp).
//
// Conversions (CpuBackend::convert_layout) move values, never compute them, so every direction
// is bit-exact: f32 through cached oneDNN reorders (which write the padding as zeros), other
// dtypes (f64 for gradient checks, integers) through the index formula above, a loop moving
// elements by size. A strided side with gaps or broadcast strides is first gathered into (or
// scattered from) a dense buffer by the ordinary copy kernel.
#include "ops/cpu/layout_cpu.h"

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/storage.h"

namespace unravel {

namespace cpu {

namespace {

using Tag = dnnl::memory::format_tag;

constexpr CpuFormat kFormats[] = {
    {"nChw8c", 8, Tag::nChw8c},
    {"nChw16c", 16, Tag::nChw16c},
};
constexpr uint32_t kNumFormats = sizeof(kFormats) / sizeof(kFormats[0]);

bool known(uint32_t format) { return format >= 1 && format <= kNumFormats; }

/// Elements of the padded physical buffer of a rank-4 shape in format `f`.
int64_t padded_numel(const CpuFormat& f, const Shape& s) {
  return s[0] * ((s[1] + f.block - 1) / f.block * f.block) * s[2] * s[3];
}

/// dense (contiguous NCHW) <-> blocked copy of elements of type E (only its size matters).
template <class E>
void blocked_copy(const TensorView& dense, const TensorView& blk, int64_t B, bool to_blocked) {
  const int64_t N = dense.shape[0], C = dense.shape[1], HW = dense.shape[2] * dense.shape[3];
  const int64_t CB = (C + B - 1) / B;
  E* d = static_cast<E*>(dense.data);
  E* b = static_cast<E*>(blk.data);
  if (to_blocked && C % B != 0) std::memset(b, 0, static_cast<size_t>(N * CB * B * HW) * sizeof(E));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t cb = 0; cb < CB; ++cb) {
      const int64_t nc = std::min(B, C - cb * B);
      E* bp = b + (n * CB + cb) * HW * B;
      E* dp = d + (n * C + cb * B) * HW;
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t ci = 0; ci < nc; ++ci) {
          if (to_blocked) bp[i * B + ci] = dp[ci * HW + i];
          else dp[ci * HW + i] = bp[i * B + ci];
        }
    }
}

/// A dense contiguous buffer with v's shape and dtype (owned by `hold`).
TensorView dense_buffer(const TensorView& v, std::unique_ptr<Storage>& hold) {
  hold = std::make_unique<Storage>(static_cast<size_t>(v.numel()) * size_of(v.dtype), kCPU);
  return TensorView{hold->data(), v.shape, contiguous_strides(v.shape), v.dtype, v.device,
                    kStrided};
}

/// The oneDNN reorder between two rank-4 f32 layouts (cached: creating one costs ~10 µs).
dnnl::reorder& reorder_for(uint32_t from, uint32_t to, const Shape& s) {
  static std::mutex mu;
  static std::map<std::array<int64_t, 6>, std::unique_ptr<dnnl::reorder>> cache;
  const std::array<int64_t, 6> key{from, to, s[0], s[1], s[2], s[3]};
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[key];
  if (!slot) {
    const dnnl::memory::dims d{s[0], s[1], s[2], s[3]};
    const auto f32 = dnnl::memory::data_type::f32;
    dnnl::reorder::primitive_desc pd(dnnl_engine(), format_desc(from, d, f32), dnnl_engine(),
                                     format_desc(to, d, f32));
    slot = std::make_unique<dnnl::reorder>(pd);
  }
  return *slot;
}

/// src -> dst, both dense: contiguous strided (format 0) or a CPU format, at least one a format.
void convert_dense(const TensorView& src, const TensorView& dst) {
  const uint32_t from = src.strided() ? 0 : src.layout.format;
  const uint32_t to = dst.strided() ? 0 : dst.layout.format;
  if (src.dtype == DType::f32) {
    const dnnl::memory::dims d{src.shape[0], src.shape[1], src.shape[2], src.shape[3]};
    const auto f32 = dnnl::memory::data_type::f32;
    dnnl::memory m_src(format_desc(from, d, f32), dnnl_engine(), src.data);
    dnnl::memory m_dst(format_desc(to, d, f32), dnnl_engine(), dst.data);
    // One stream per thread: conv_cpu.cpp's stream is used under its own mutex.
    thread_local dnnl::stream stream(dnnl_engine());
    reorder_for(from, to, src.shape).execute(stream, m_src, m_dst);
    stream.wait();
    return;
  }
  if (from != 0 && to != 0) {  // between two formats, other dtypes: through a dense buffer
    std::unique_ptr<Storage> hold;
    const TensorView mid = dense_buffer(src, hold);
    convert_dense(src, mid);
    convert_dense(mid, dst);
    return;
  }
  const bool to_blocked = to != 0;
  const TensorView& dense = to_blocked ? src : dst;
  const TensorView& blk = to_blocked ? dst : src;
  const int64_t B = cpu_format(to_blocked ? to : from).block;
  switch (size_of(src.dtype)) {
    case 1: return blocked_copy<uint8_t>(dense, blk, B, to_blocked);
    case 4: return blocked_copy<uint32_t>(dense, blk, B, to_blocked);
    case 8: return blocked_copy<uint64_t>(dense, blk, B, to_blocked);
    default:
      UNRAVEL_CHECK(false, "convert_layout: no conversion for dtype {}", dtype_name(src.dtype));
  }
}

}  // namespace

const CpuFormat& cpu_format(uint32_t format) {
  UNRAVEL_CHECK(known(format), "cpu: no memory layout with id {} (the CPU has ids 1..{})", format,
                kNumFormats);
  return kFormats[format - 1];
}

void check_cpu_layout(const TensorView& v, const char* fn, const char* what) {
  UNRAVEL_CHECK(v.layout.backend == DeviceKind::cpu && known(v.layout.format),
                "{}: {} has layout format {} of the {} backend, which the CPU does not have", fn,
                what, v.layout.format, device_kind_name(v.layout.backend));
  UNRAVEL_CHECK(v.rank() == 4, "{}: {} in layout {} must have rank 4 (N, C, H, W), got {}", fn,
                what, cpu_format(v.layout.format).name, v.shape.str());
}

dnnl::memory::desc format_desc(uint32_t format, const dnnl::memory::dims& d,
                               dnnl::memory::data_type dt) {
  return dnnl::memory::desc(d, dt, format == 0 ? Tag::abcd : cpu_format(format).tag);
}

dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

}  // namespace cpu

uint32_t CpuBackend::find_layout(std::string_view name) const {
  for (uint32_t i = 0; i < cpu::kNumFormats; ++i)
    if (name == cpu::kFormats[i].name) return i + 1;
  return 0;
}

std::string CpuBackend::layout_name(uint32_t format) const {
  return cpu::known(format) ? cpu::kFormats[format - 1].name : fmt::format("format {}?", format);
}

size_t CpuBackend::layout_nbytes(uint32_t format, const Shape& shape, DType dtype) const {
  const cpu::CpuFormat& f = cpu::cpu_format(format);
  UNRAVEL_CHECK(shape.size() == 4, "cpu layout {} holds rank-4 (N, C, H, W) tensors, got shape {}",
                f.name, shape.str());
  return static_cast<size_t>(cpu::padded_numel(f, shape)) * size_of(dtype);
}

int64_t CpuBackend::layout_channel_block(uint32_t format) const {
  return cpu::known(format) ? cpu::kFormats[format - 1].block : 0;
}

void CpuBackend::convert_layout(const TensorView& src, const TensorView& dst) {
  const char* fn = "convert_layout";
  UNRAVEL_CHECK(src.shape == dst.shape && src.dtype == dst.dtype,
                "{}: source {}{} and destination {}{} differ in shape or dtype", fn,
                dtype_name(src.dtype), src.shape.str(), dtype_name(dst.dtype), dst.shape.str());
  if (src.strided() && dst.strided()) return copy(src, dst);
  if (!src.strided()) cpu::check_cpu_layout(src, fn, "the source");
  if (!dst.strided()) cpu::check_cpu_layout(dst, fn, "the destination");
  if (src.numel() == 0) return;
  std::unique_ptr<Storage> hold;
  if (src.strided() && !src.contiguous()) {  // gather, then convert the dense copy
    const TensorView dense = cpu::dense_buffer(src, hold);
    copy(src, dense);
    return cpu::convert_dense(dense, dst);
  }
  if (dst.strided() && !dst.contiguous()) {  // convert into a dense buffer, then scatter
    const TensorView dense = cpu::dense_buffer(dst, hold);
    cpu::convert_dense(src, dense);
    return copy(dense, dst);
  }
  if (src.layout == dst.layout)  // the same format: the bytes, padding included
    return static_cast<void>(std::memcpy(dst.data, src.data,
                                         layout_nbytes(src.layout.format, src.shape, src.dtype)));
  cpu::convert_dense(src, dst);
}

}  // namespace unravel
