// CPU convolution: float32 on oneDNN 2.6 primitives, float64 on the direct reference loops of
// ops/cpu/conv_ref_cpu.cpp.
//
// oneDNN path. The caller hands plain NCHW activations and OIHW weights (possibly as strided
// views); the activations of all three passes (x / dx, y / dy) may instead be in one of the
// CPU's blocked formats (ops/cpu/layout_cpu.h, engine/layout.h), which then is the argument's
// caller layout below:
// when the primitive runs in that same layout there is no reorder, otherwise the reorder is the
// exact copy a strided caller would have made, and the primitive is the one a strided call gets
// (the layout rule reads only the geometry), so the results are bit-identical to a strided call.
// For each (kind, shapes, params, bias, caller formats) a ConvPlan is built once and cached:
//  - the primitive, with a user-mode scratchpad;
//  - for every argument, the caller-layout memory (its handle is set per call) and, when the
//    primitive prefers another layout (blocked nChw8c, OIhw8i8o, ...), a memory in that layout
//    plus the reorder between them.
// The scratchpad and the blocked-layout buffers live only during one call, so every plan takes
// them from one shared arena (grown to the largest plan's need, never freed) at fixed offsets:
// memory is touched once for the whole network instead of once per layer and pass, which on
// these VMs (~12 µs per freshly touched 4 KiB page) halves the first step and the peak RSS. Inputs are reordered in before and outputs out after
//    the primitive, so the caller's tensors are always read and written in their own layout;
//  - a staging buffer for caller views that are not contiguous (copied in / out densely).
// Two layouts are candidates: plain activations (no reorders; oneDNN then usually runs its
// gemm-based kernel) and library-chosen activations (`format_tag::any`; direct JIT kernels on
// blocked layouts plus reorders at the edges). The choice is a fixed rule of the geometry, never
// a timing, so two runs with the same seed compute bit-identical results (layouts change the
// summation order). The rule (layout_rule) keeps what timing both on every conv of the bench
// models measured (bench_train_step, 1 thread, AVX2 Zen; blocked including its reorders vs
// plain): blocked wins forward and backward-data everywhere (1.2-2.3x) and backward-weights
// whenever the conv input has >= 8 channels (1.4-2.3x); with 1-7 input channels (first encoder
// layer, last decoder layer) blocked backward-weights is 2.5-4x slower, so plain is used there.
// AVX-512 reverses both 1-7-channel cases (blocks of 16 channels; measurements at layout_rule):
// there such backward-weights run blocked and such backward-data plain. Below kPlainMaxMacs the
// JIT set-up and reorders cannot pay off, so plain. The ISA is the machine's, so a run's
// results are reproducible on one machine and equal to fp32 tolerance across machines. Weights always use `any`: they
// are small, and are reordered into the plan's buffer each call (values change every step, so
// they cannot be cached across calls; the buffer is).
// Forward plans with p.relu carry a oneDNN eltwise post-op (ReLU, or leaky ReLU via its alpha),
// so bias and activation are applied inside the convolution kernel, before the output reorder.
// UNRAVEL_CONV_VERBOSE=1 prints each plan decision to stderr.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/storage.h"
#include "ops/cpu/conv_ref.h"
#include "ops/cpu/layout_cpu.h"
#include "ops/cpu/parallel.h"

namespace unravel {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

using cpu::dnnl_engine;
dnnl::stream& dnnl_stream() {
  static dnnl::stream s(dnnl_engine());
  return s;
}

enum class ConvKind : int64_t { fwd = 0, bwd_data = 1, bwd_weights = 2 };
const char* kind_name(ConvKind k) {
  switch (k) {
    case ConvKind::fwd: return "conv2d_forward";
    case ConvKind::bwd_data: return "conv2d_backward_data";
    default: return "conv2d_backward_weights";
  }
}

// Geometry of one convolution, in the forward sense: x (N,C,H,W), w (O,C,KH,KW), y (N,O,OH,OW).
struct Geometry {
  int64_t n, c, h, w, o, kh, kw, oh, ow;
  Conv2dParams p;
  bool bias;
  uint32_t x_fmt = 0, y_fmt = 0;  // the caller's CPU formats of x / dx and y / dy (0: strided)
  std::array<int64_t, 23> key(ConvKind kind, int64_t mode) const {
    int64_t slope_bits = 0;
    static_assert(sizeof(slope_bits) == sizeof(p.relu_slope));
    std::memcpy(&slope_bits, &p.relu_slope, sizeof(slope_bits));
    return {static_cast<int64_t>(kind), mode, n, c, h, w, o, kh, kw, oh, ow, p.stride_h, p.stride_w,
            p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, bias ? 1 : 0, p.relu ? 1 : 0,
            p.relu ? slope_bits : 0, x_fmt, y_fmt, static_cast<int64_t>(p.precision)};
  }
  memory::dims x_dims() const { return {n, c, h, w}; }
  memory::dims w_dims() const { return {o, c, kh, kw}; }
  memory::dims y_dims() const { return {n, o, oh, ow}; }
  memory::dims strides() const { return {p.stride_h, p.stride_w}; }
  // oneDNN counts dilation from 0 (0 = dense kernel).
  memory::dims dilation() const { return {p.dilation_h - 1, p.dilation_w - 1}; }
  memory::dims pad_l() const { return {p.pad_h, p.pad_w}; }
  // Right/bottom padding that makes the given output extent exact (may be below pad_l, even
  // negative, when the input has rows the last window does not reach).
  memory::dims pad_r() const {
    return {(oh - 1) * p.stride_h + (kh - 1) * p.dilation_h + 1 - h - p.pad_h,
            (ow - 1) * p.stride_w + (kw - 1) * p.dilation_w + 1 - w - p.pad_w};
  }
};

// One argument of a cached primitive (see the file comment).
struct ConvArg {
  int id = 0;
  bool output = false;
  memory user;             // caller layout; handle set per call
  memory prim;             // primitive layout (same object as `user` when no reorder)
  bool reorder_needed = false;
  size_t arena_offset = 0;  // where `prim` lives in the shared arena when reorder_needed
  dnnl::reorder reorder;   // user -> prim for inputs, prim -> user for outputs
  std::vector<float> staging;  // dense copy of a non-contiguous caller view
};

struct ConvPlan {
  dnnl::primitive prim;
  std::vector<ConvArg> args;
  memory scratchpad;
  size_t scratchpad_offset = 0;
  size_t arena_bytes = 0;  // this plan's share of the arena: reorder buffers + scratchpad
  std::unordered_map<int, memory> exec_args;
  std::string impl;
  bool blocked = false;
};

/// Offset of a new `bytes`-sized region in a plan's arena share (64-byte aligned).
size_t reserve(ConvPlan& plan, size_t bytes) {
  const size_t off = plan.arena_bytes;
  plan.arena_bytes += (bytes + 63) / 64 * 64;
  return off;
}

/// The arena shared by all plans (the caller holds the conv mutex); grows, never shrinks.
char* arena(size_t bytes) {
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  static std::unique_ptr<char, Free> buf;
  static size_t size = 0;
  if (bytes > size) {
    buf.reset();
    size = (bytes + 4095) / 4096 * 4096;
    buf.reset(static_cast<char*>(std::aligned_alloc(4096, size)));
    UNRAVEL_CHECK(buf != nullptr, "conv2d: cannot allocate a {}-byte oneDNN work arena", size);
  }
  return buf.get();
}

memory::desc plain_md(const memory::dims& d, Tag t, memory::data_type dt = memory::data_type::f32) {
  return memory::desc(d, dt, t);
}

// Adds argument `id` with caller layout `user_md` and primitive layout `prim_md`.
void add_arg(ConvPlan& plan, int id, bool output, const memory::desc& user_md,
             const memory::desc& prim_md) {
  auto& eng = dnnl_engine();
  ConvArg a;
  a.id = id;
  a.output = output;
  a.user = memory(user_md, eng, DNNL_MEMORY_NONE);
  if (prim_md == user_md) {
    a.prim = a.user;
  } else {
    a.reorder_needed = true;
    a.prim = memory(prim_md, eng, DNNL_MEMORY_NONE);
    a.arena_offset = reserve(plan, prim_md.get_size());
    a.reorder = output ? dnnl::reorder(a.prim, a.user) : dnnl::reorder(a.user, a.prim);
  }
  plan.exec_args[id] = a.prim;
  plan.args.push_back(std::move(a));
}

// Builds the plan for `kind`; `blocked` lets oneDNN pick the activation layouts.
std::unique_ptr<ConvPlan> build_plan(ConvKind kind, const Geometry& g, bool blocked) {
  auto& eng = dnnl_engine();
  const auto alg = dnnl::algorithm::convolution_direct;
  const Tag act = blocked ? Tag::any : Tag::nchw;
  // Precision::bf16: the operands a pass reads are bf16 (rounded by the input reorders from the
  // caller's f32), what it writes and the bias stay f32; oneDNN accumulates in f32 (AMX /
  // AVX512-BF16 kernels). fwd reads x, w; backward-data dy, w; backward-weights x, dy.
  const bool bf = g.p.precision == Precision::bf16;
  const auto in_t = bf ? memory::data_type::bf16 : memory::data_type::f32;
  const auto x_t = bf && kind != ConvKind::bwd_data ? in_t : memory::data_type::f32;
  const auto y_t = bf && kind != ConvKind::fwd ? in_t : memory::data_type::f32;
  const auto w_t = bf && kind != ConvKind::bwd_weights ? in_t : memory::data_type::f32;
  const memory::desc x_md = plain_md(g.x_dims(), act, x_t), y_md = plain_md(g.y_dims(), act, y_t);
  const memory::desc w_any = plain_md(g.w_dims(), Tag::any, w_t);
  const memory::desc b_md = g.bias ? plain_md({g.o}, Tag::x) : memory::desc();
  const auto f32 = memory::data_type::f32;
  const memory::desc x_user = cpu::format_desc(g.x_fmt, g.x_dims(), f32);
  const memory::desc y_user = cpu::format_desc(g.y_fmt, g.y_dims(), f32);
  const memory::desc w_user = plain_md(g.w_dims(), Tag::oihw), b_user = plain_md({g.o}, Tag::x);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (kind == ConvKind::fwd && g.p.relu) {
    // eltwise_relu with alpha is leaky ReLU: v > 0 ? v : alpha · v.
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, static_cast<float>(g.p.relu_slope),
                       0.0f);
    attr.set_post_ops(ops);
  }

  auto plan = std::make_unique<ConvPlan>();
  plan->blocked = blocked;
  dnnl::convolution_forward::desc fwd_desc(dnnl::prop_kind::forward_training, alg, x_md, w_any,
                                           b_md, y_md, g.strides(), g.dilation(), g.pad_l(),
                                           g.pad_r());
  memory::desc scratch_md;
  if (kind == ConvKind::fwd) {
    dnnl::convolution_forward::primitive_desc pd(fwd_desc, attr, eng);
    plan->prim = dnnl::convolution_forward(pd);
    plan->impl = pd.impl_info_str();
    scratch_md = pd.scratchpad_desc();
    add_arg(*plan, DNNL_ARG_SRC, false, x_user, pd.src_desc());
    add_arg(*plan, DNNL_ARG_WEIGHTS, false, w_user, pd.weights_desc());
    if (g.bias) add_arg(*plan, DNNL_ARG_BIAS, false, b_user, pd.bias_desc());
    add_arg(*plan, DNNL_ARG_DST, true, y_user, pd.dst_desc());
  } else {
    // The forward hint in the forward pass's own types (bf16 x, w; f32 y under bf16).
    dnnl::convolution_forward::desc hint_desc(
        dnnl::prop_kind::forward_training, alg, plain_md(g.x_dims(), act, in_t),
        plain_md(g.w_dims(), Tag::any, in_t), b_md, plain_md(g.y_dims(), act), g.strides(),
        g.dilation(), g.pad_l(), g.pad_r());
    dnnl::convolution_forward::primitive_desc hint(hint_desc, eng);
    if (kind == ConvKind::bwd_data) {
      dnnl::convolution_backward_data::desc d(alg, x_md, w_any, y_md, g.strides(), g.dilation(),
                                              g.pad_l(), g.pad_r());
      dnnl::convolution_backward_data::primitive_desc pd(d, attr, eng, hint);
      plan->prim = dnnl::convolution_backward_data(pd);
      plan->impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
      add_arg(*plan, DNNL_ARG_DIFF_DST, false, y_user, pd.diff_dst_desc());
      add_arg(*plan, DNNL_ARG_WEIGHTS, false, w_user, pd.weights_desc());
      add_arg(*plan, DNNL_ARG_DIFF_SRC, true, x_user, pd.diff_src_desc());
    } else {
      dnnl::convolution_backward_weights::desc d(alg, x_md, w_any, b_md, y_md, g.strides(),
                                                 g.dilation(), g.pad_l(), g.pad_r());
      dnnl::convolution_backward_weights::primitive_desc pd(d, attr, eng, hint);
      plan->prim = dnnl::convolution_backward_weights(pd);
      plan->impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
      add_arg(*plan, DNNL_ARG_SRC, false, x_user, pd.src_desc());
      add_arg(*plan, DNNL_ARG_DIFF_DST, false, y_user, pd.diff_dst_desc());
      add_arg(*plan, DNNL_ARG_DIFF_WEIGHTS, true, w_user, pd.diff_weights_desc());
      if (g.bias) add_arg(*plan, DNNL_ARG_DIFF_BIAS, true, b_user, pd.diff_bias_desc());
    }
  }
  plan->scratchpad = memory(scratch_md, eng, DNNL_MEMORY_NONE);
  plan->scratchpad_offset = reserve(*plan, scratch_md.get_size());
  plan->exec_args[DNNL_ARG_SCRATCHPAD] = plan->scratchpad;
  return plan;
}

// The caller's tensors for one call, by DNNL_ARG id.
struct CallArgs {
  std::vector<std::pair<int, const TensorView*>> views;
  const TensorView* find(int id) const {
    for (const auto& [k, v] : views)
      if (k == id) return v;
    return nullptr;
  }
};

/// Multiply-adds of the convolution (the same for its three passes).
double conv_macs(const Geometry& g) {
  return static_cast<double>(g.n) * g.o * g.oh * g.ow * g.c * g.kh * g.kw;
}

// Runs `plan` on the caller's views: stage / reorder inputs, execute, reorder / stage outputs.
void execute(ConvPlan& plan, const CallArgs& call, CpuBackend& be) {
  auto& s = dnnl_stream();
  char* work = arena(plan.arena_bytes);
  plan.scratchpad.set_data_handle(work + plan.scratchpad_offset);
  for (ConvArg& a : plan.args) {
    if (a.reorder_needed) a.prim.set_data_handle(work + a.arena_offset);
    const TensorView* v = call.find(a.id);
    void* handle = v->data;
    if (v->strided() && !v->contiguous()) {
      a.staging.resize(static_cast<size_t>(v->numel()));
      handle = a.staging.data();
      if (!a.output) {
        TensorView dense{handle, v->shape, contiguous_strides(v->shape), DType::f32, v->device,
                         kStrided};
        be.copy(*v, dense);
      }
    }
    a.user.set_data_handle(handle);
    if (!a.output && a.reorder_needed) a.reorder.execute(s, a.user, a.prim);
  }
  plan.prim.execute(s, plan.exec_args);
  for (ConvArg& a : plan.args) {
    if (!a.output) continue;
    if (a.reorder_needed) a.reorder.execute(s, a.prim, a.user);
    const TensorView* v = call.find(a.id);
    if (v->strided() && !v->contiguous()) {
      s.wait();
      TensorView dense{a.staging.data(), v->shape, contiguous_strides(v->shape), DType::f32,
                       v->device, kStrided};
      be.copy(dense, *v);
    }
  }
  s.wait();
}

// Below this many multiply-adds the plain layout is used.
constexpr double kPlainMaxMacs = 4e6;
// Backward-weights with fewer conv-input channels than this uses the plain layout.
constexpr int64_t kBlockedBwdWeightsMinChannels = 8;

/// True when oneDNN runs its AVX-512 kernels here (blocked activations in blocks of 16
/// channels rather than AVX2's 8). Read once; part of no result beyond the layout choice.
bool onednn_avx512() {
  static const bool v = [] {
    const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    const auto need = static_cast<unsigned>(dnnl_cpu_isa_avx512_core);
    return (isa & need) == need;
  }();
  return v;
}

/// The layout rule of the file comment: true when the blocked (library-chosen) layout is used.
bool layout_rule(ConvKind kind, const Geometry& g) {
  if (g.p.precision == Precision::bf16) return true;  // the AMX / BF16 kernels run blocked
  if (conv_macs(g) < kPlainMaxMacs) return false;
  // 1-7 conv-input channels (an encoder's first layer, a decoder's last transposed one) on
  // AVX-512 (bench_conv, batch 64, 2 threads, Xeon with AVX-512, reorders included): blocked
  // backward-weights took 0.64-0.66 ms where plain took 1.75-2.08 (the reverse of AVX2 Zen
  // above), and blocked backward-data 4.7 ms where plain took 0.9 (the blocked kernel pads the
  // channels to 16).
  if (g.c < kBlockedBwdWeightsMinChannels) {
    if (kind == ConvKind::bwd_weights) return onednn_avx512();
    if (kind == ConvKind::bwd_data) return !onednn_avx512();
  }
  return true;
}

/// The CPU's conv_chain_format: f32 activations whose channels fill whole blocks travel between
/// convolutions in the blocked format oneDNN's direct kernels run in here (nChw16c with AVX-512,
/// nChw8c otherwise), so the reorders in and out of every layer vanish; other channel counts
/// (an image's 1 or 3 channels) and dtypes travel strided. Whatever a layer's own plan prefers,
/// the values are bit-identical to a strided chain (the plan is the same; only where the
/// reorder runs differs). UNRAVEL_CONV_CHAIN=strided turns carrying off (for A/B benchmarks).
int64_t chain_block(int64_t channels, DType dtype) {
  static const bool off = [] {
    const char* v = std::getenv("UNRAVEL_CONV_CHAIN");
    const std::string mode = v ? v : "auto";
    UNRAVEL_CHECK(mode == "auto" || mode == "strided",
                  "UNRAVEL_CONV_CHAIN must be auto or strided, got '{}'", mode);
    return mode == "strided";
  }();
  if (off || dtype != DType::f32) return 0;
  const int64_t block = onednn_avx512() ? 16 : 8;
  return channels % block == 0 ? block : 0;
}

bool uses_reorder_on_activations(const ConvPlan& plan) {
  for (const ConvArg& a : plan.args)
    if (a.reorder_needed && a.id != DNNL_ARG_WEIGHTS && a.id != DNNL_ARG_DIFF_WEIGHTS) return true;
  return false;
}

// Returns the cached plan for (kind, g), building it on first use. The caller holds the cache
// mutex.
ConvPlan& get_plan(ConvKind kind, const Geometry& g) {
  static std::map<std::array<int64_t, 23>, std::unique_ptr<ConvPlan>> cache;
  // UNRAVEL_CONV_LAYOUT=plain|blocked forces one layout; auto (default) applies layout_rule.
  const char* forced = std::getenv("UNRAVEL_CONV_LAYOUT");
  const std::string mode = forced ? forced : "auto";
  UNRAVEL_CHECK(mode == "auto" || mode == "plain" || mode == "blocked",
                "UNRAVEL_CONV_LAYOUT must be auto, plain or blocked, got '{}'", mode);
  // oneDNN fixes a primitive's thread partition when it is created, so the thread count
  // (capped per call by ThreadCap) is part of the key.
  const auto key = g.key(kind, (mode == "auto" ? 0 : mode == "plain" ? 1 : 2) +
                                   4 * static_cast<int64_t>(omp_get_max_threads()));
  if (auto it = cache.find(key); it != cache.end()) return *it->second;
  const bool want_blocked = mode == "blocked" || (mode == "auto" && layout_rule(kind, g));
  auto build = [&](bool blocked_layout) {
    try {
      return build_plan(kind, g, blocked_layout);
    } catch (const dnnl::error& e) {
      UNRAVEL_CHECK(false, "{}: oneDNN rejected x [{}, {}, {}, {}], w [{}, {}, {}, {}], y [{}, {}, "
                    "{}, {}], stride ({}, {}), padding ({}, {}), dilation ({}, {}): {}",
                    kind_name(kind), g.n, g.c, g.h, g.w, g.o, g.c, g.kh, g.kw, g.n, g.o, g.oh,
                    g.ow, g.p.stride_h, g.p.stride_w, g.p.pad_h, g.p.pad_w, g.p.dilation_h,
                    g.p.dilation_w, e.what());
    }
    return std::unique_ptr<ConvPlan>();
  };
  std::unique_ptr<ConvPlan> chosen;
  if (want_blocked) {
    try {
      chosen = build(true);
    } catch (const Error&) {
      if (mode == "blocked") throw;  // in auto mode the plain layout remains (deterministic too)
    }
  }
  if (!chosen) chosen = build(false);
  if (const char* v = std::getenv("UNRAVEL_CONV_VERBOSE"); v && v[0] == '1')
    std::fprintf(stderr, "[unravel conv] %s x[%ld,%ld,%ld,%ld]%s%s w[%ld,%ld,%ld,%ld]%s%s%s -> %s "
                 "(%s%s)\n", kind_name(kind), (long)g.n, (long)g.c, (long)g.h, (long)g.w,
                 g.x_fmt ? ":" : "", g.x_fmt ? cpu::cpu_format(g.x_fmt).name : "", (long)g.o,
                 (long)g.c, (long)g.kh, (long)g.kw, g.p.relu ? " +relu" : "",
                 g.y_fmt ? " y:" : "", g.y_fmt ? cpu::cpu_format(g.y_fmt).name : "",
                 chosen->blocked ? "blocked" : "plain", chosen->impl.c_str(),
                 uses_reorder_on_activations(*chosen) ? ", reorders" : "");
  ConvPlan& ref = *chosen;
  cache.emplace(key, std::move(chosen));
  return ref;
}

std::mutex& conv_mutex() {
  static std::mutex m;
  return m;
}

// `layouts`: v may be in a CPU format (the activation-side operands); else it must be strided.
void check_view(const TensorView& v, int rank, DType dt, const char* fn, const char* what,
                bool layouts = false) {
  UNRAVEL_CHECK(v.rank() == rank, "{}: {} must have rank {}, got {}", fn, what, rank,
                v.shape.str());
  if (!v.strided()) {
    UNRAVEL_CHECK(layouts, "{}: {} is in a backend layout ({}); this kernel reads strided "
                  "tensors only", fn, what, cpu::cpu_format(v.layout.format).name);
    cpu::check_cpu_layout(v, fn, what);
  }
  UNRAVEL_CHECK(v.dtype == dt, "{}: {} is {} but the operation runs in {}", fn, what,
                dtype_name(v.dtype), dtype_name(dt));
  UNRAVEL_CHECK(v.numel() > 0, "{}: {} {} is empty", fn, what, v.shape.str());
}

// True when the conv input has trailing rows/cols that no window reaches (pad_r < 0).
bool has_unreached(const Geometry& g) {
  const auto pr = g.pad_r();
  return (pr[0] < 0 && g.h + pr[0] >= 1) || (pr[1] < 0 && g.w + pr[1] >= 1);
}

// Drops trailing input rows/cols that no window reaches (pad_r < 0): oneDNN rejects some such
// geometries. Returns the view of the conv input (x or dx) that the primitive should see.
TensorView crop_unreached(const TensorView& v, Geometry& g) {
  TensorView c = v;
  const auto pr = g.pad_r();
  if (pr[0] < 0 && g.h + pr[0] >= 1) c.shape[2] = g.h += pr[0];
  if (pr[1] < 0 && g.w + pr[1] >= 1) c.shape[3] = g.w += pr[1];
  return c;
}

// A dense strided stand-in for a view in a CPU format (the view itself when strided); its
// storage lives as long as the holder. `read`: fill it with the view's values.
struct StridedCopy {
  std::unique_ptr<Storage> buf;
  TensorView v;
  StridedCopy(const TensorView& src, CpuBackend& be, bool read) : v(src) {
    if (src.strided()) return;
    buf = std::make_unique<Storage>(static_cast<size_t>(src.numel()) * size_of(src.dtype), kCPU);
    v = TensorView{buf->data(), src.shape, contiguous_strides(src.shape), src.dtype, src.device,
                   kStrided};
    if (read) be.convert_layout(src, v);
  }
};

constexpr int64_t kBf16MinChannels = 8;

Geometry geometry(const TensorView& x, const TensorView& w, const TensorView& y,
                  const Conv2dParams& p, bool bias, const char* fn) {
  UNRAVEL_CHECK(p.groups == 1, "{}: groups = {} is not supported (only 1)", fn, p.groups);
  Geometry g{x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], w.shape[2],
             w.shape[3], y.shape[2], y.shape[3], p, bias};
  UNRAVEL_CHECK(!p.relu || (p.relu_slope >= 0.0 && std::isfinite(p.relu_slope)),
                "{}: fused ReLU slope must be finite and >= 0, got {}", fn, p.relu_slope);
  UNRAVEL_CHECK(w.shape[1] == g.c && y.shape[0] == g.n && y.shape[1] == g.o,
                "{}: inconsistent shapes: input {}, weight {}, output {}", fn, x.shape.str(),
                w.shape.str(), y.shape.str());
  // Precision::bf16 is a request for speed: a convolution with fewer than kBf16MinChannels
  // input or output channels (an image's first or last layer) gains nothing from the bf16
  // kernels and pays for the reorders (measured: the 1-channel conv64 layers' AMX
  // backward-weights were slower than f32's gemm path), so it runs in f32 — a fixed rule of the
  // geometry, so runs stay reproducible.
  if (g.p.precision == Precision::bf16 && (g.c < kBf16MinChannels || g.o < kBf16MinChannels))
    g.p.precision = Precision::fp32;
  return g;
}

}  // namespace

uint32_t CpuBackend::conv_chain_format(int64_t channels, DType dtype) const {
  const int64_t block = chain_block(channels, dtype);
  return block == 0 ? 0 : find_layout(block == 16 ? "nChw16c" : "nChw8c");
}

void CpuBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                                const TensorView& y, const Conv2dParams& p) {
  const char* fn = "conv2d_forward";
  check_view(x, 4, x.dtype, fn, "input", true);
  check_view(w, 4, x.dtype, fn, "weight");
  check_view(y, 4, x.dtype, fn, "output", true);
  const bool bias = b.data != nullptr;
  if (bias) check_view(b, 1, x.dtype, fn, "bias");
  Geometry g = geometry(x, w, y, p, bias, fn);
  if ((!x.strided() || !y.strided()) &&
      (x.dtype != DType::f32 || (!x.strided() && has_unreached(g)))) {
    // The reference loops and the input crop read strided tensors: go through strided copies.
    StridedCopy xs(x, *this, true), ys(y, *this, false);
    conv2d_forward(xs.v, w, b, ys.v, p);
    if (!y.strided()) convert_layout(ys.v, y);
    return;
  }
  g.x_fmt = x.strided() ? 0 : x.layout.format;
  g.y_fmt = y.strided() ? 0 : y.layout.format;
  if (x.dtype == DType::f64) {
    cpu::conv2d_forward_ref(x, w, b, y, p);
    if (p.relu) unary(p.relu_slope == 0.0 ? UnaryOp::relu : UnaryOp::leaky_relu, y, y, p.relu_slope);
    return;
  }
  UNRAVEL_CHECK(x.dtype == DType::f32, "{}: dtype {} is not supported (f32, f64)", fn,
                dtype_name(x.dtype));
  std::lock_guard<std::mutex> lock(conv_mutex());
  const TensorView xc = crop_unreached(x, g);
  CallArgs call{{{DNNL_ARG_SRC, &xc}, {DNNL_ARG_WEIGHTS, &w}, {DNNL_ARG_BIAS, &b},
                 {DNNL_ARG_DST, &y}}};
  cpu::ThreadCap cap(conv_macs(g));
  execute(get_plan(ConvKind::fwd, g), call, *this);
}

void CpuBackend::conv2d_backward_data(const TensorView& dy, const TensorView& w,
                                      const TensorView& dx, const Conv2dParams& p) {
  const char* fn = "conv2d_backward_data";
  check_view(dy, 4, dy.dtype, fn, "output gradient", true);
  check_view(w, 4, dy.dtype, fn, "weight");
  check_view(dx, 4, dy.dtype, fn, "input gradient", true);
  Conv2dParams q = p;
  q.relu = false;  // forward only
  Geometry g = geometry(dx, w, dy, q, false, fn);
  if ((!dy.strided() || !dx.strided()) &&
      (dy.dtype != DType::f32 || (!dx.strided() && has_unreached(g)))) {
    StridedCopy dys(dy, *this, true), dxs(dx, *this, false);
    conv2d_backward_data(dys.v, w, dxs.v, p);
    if (!dx.strided()) convert_layout(dxs.v, dx);
    return;
  }
  g.x_fmt = dx.strided() ? 0 : dx.layout.format;
  g.y_fmt = dy.strided() ? 0 : dy.layout.format;
  if (dy.dtype == DType::f64) return cpu::conv2d_backward_data_ref(dy, w, dx, p);
  UNRAVEL_CHECK(dy.dtype == DType::f32, "{}: dtype {} is not supported (f32, f64)", fn,
                dtype_name(dy.dtype));
  std::lock_guard<std::mutex> lock(conv_mutex());
  const TensorView dxc = crop_unreached(dx, g);
  if (dxc.shape != dx.shape) fill(dx, 0.0);  // rows no window reaches get no gradient
  CallArgs call{{{DNNL_ARG_DIFF_DST, &dy}, {DNNL_ARG_WEIGHTS, &w}, {DNNL_ARG_DIFF_SRC, &dxc}}};
  cpu::ThreadCap cap(conv_macs(g));
  execute(get_plan(ConvKind::bwd_data, g), call, *this);
}

void CpuBackend::conv2d_backward_weights(const TensorView& x, const TensorView& dy,
                                         const TensorView& dw, const TensorView& db,
                                         const Conv2dParams& p) {
  const char* fn = "conv2d_backward_weights";
  check_view(x, 4, x.dtype, fn, "input", true);
  check_view(dy, 4, x.dtype, fn, "output gradient", true);
  check_view(dw, 4, x.dtype, fn, "weight gradient");
  const bool bias = db.data != nullptr;
  if (bias) check_view(db, 1, x.dtype, fn, "bias gradient");
  Conv2dParams q = p;
  q.relu = false;  // forward only
  Geometry g = geometry(x, dw, dy, q, bias, fn);
  if ((!x.strided() || !dy.strided()) &&
      (x.dtype != DType::f32 || (!x.strided() && has_unreached(g)))) {
    StridedCopy xs(x, *this, true), dys(dy, *this, true);
    return conv2d_backward_weights(xs.v, dys.v, dw, db, p);
  }
  g.x_fmt = x.strided() ? 0 : x.layout.format;
  g.y_fmt = dy.strided() ? 0 : dy.layout.format;
  if (x.dtype == DType::f64) return cpu::conv2d_backward_weights_ref(x, dy, dw, db, p);
  UNRAVEL_CHECK(x.dtype == DType::f32, "{}: dtype {} is not supported (f32, f64)", fn,
                dtype_name(x.dtype));
  std::lock_guard<std::mutex> lock(conv_mutex());
  const TensorView xc = crop_unreached(x, g);
  CallArgs call{{{DNNL_ARG_SRC, &xc}, {DNNL_ARG_DIFF_DST, &dy}, {DNNL_ARG_DIFF_WEIGHTS, &dw},
                 {DNNL_ARG_DIFF_BIAS, &db}}};
  cpu::ThreadCap cap(conv_macs(g));
  execute(get_plan(ConvKind::bwd_weights, g), call, *this);
}

}  // namespace unravel
