// The per-device surface: memory, copies, and a dozen kernel families, each taking an op enum
// (engine/op_kinds.h) rather than one virtual per math function. Device-neutral op code in ops/
// validates and allocates, then calls backend(x.device()).<family>(...).
//
// Only memory, copies and fill are pure virtual. Every kernel family has a default body that
// throws "<family> has no <device> implementation", and `supports(Kernel)` says which families a
// backend implements, so a new backend runs as soon as it has what a program uses, and op code
// can take a composite fallback where a backend declines a fused family (ops/ does this for
// pairwise_imq and the fused convolution activation). engine/README.md has the device rules.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/op_kinds.h"
#include "engine/precision.h"
#include "engine/tensor_view.h"

namespace unravel {

namespace dist {
class Collectives;
class Communicator;
}  // namespace dist

/// Parameters of a 2-D convolution (NCHW activations, OIHW weights).
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  /// conv2d_forward only (the backward passes ignore it): when set, the output is
  /// v > 0 ? v : relu_slope · v of v = conv + bias, fused into the kernel (relu_slope >= 0).
  bool relu = false;
  double relu_slope = 0.0;
  /// The compute precision (engine/precision.h); bf16 needs supports(Kernel::conv2d_bf16).
  Precision precision = Precision::fp32;
};

/// Which pairwise kernel sum Backend::pairwise_imq computes (ops/kernel_sums.h): the additive
/// per-dimension IMQ kernel Σ_d k((a_id − b_jd)²), or the IMQ kernel of the whole vector
/// k(||a_i − b_j||²), with k(ρ) = Σ_s c_s/(c_s + ρ).
enum class ImqMode : uint8_t { per_dim, full };

/// Counter-based generator state handed to kernels: element i of a fill uses counter offset+i.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
  /// When set (recorded work, see RecordedWork): a device i64 that kernels add to `offset`
  /// when they run, so each replay draws new numbers.
  const int64_t* base = nullptr;
};

/// The kernel families of Backend, for supports() and the "has no implementation" errors.
enum class Kernel : uint8_t {
  unary, binary, where, reduce, arg_reduce, gemm, gather, scatter_add, index_select, index_add,
  conv2d_forward, conv2d_forward_relu, conv2d_backward_data, conv2d_backward_weights,
  batch_norm_forward, batch_norm_backward, pairwise_imq, random, random_permutation, arange,
  optimizer_step, layout_convert,
  gemm_bf16,    // gemm with Precision::bf16 (bf16 inputs, fp32 accumulation and output)
  conv2d_bf16,  // the three convolution passes with Precision::bf16
  graph,        // capture_begin / capture_end: recording work once and replaying it
  count
};
inline constexpr int kNumKernels = static_cast<int>(Kernel::count);
/// "unary", "conv2d_forward", ...
const char* kernel_name(Kernel k);

/// The update rule of Backend::optimizer_step (formulas in models/optim/adam.h and sgd.h; the
/// per-element code is ops/optim_functors.h, shared by every backend).
enum class OptimRule : uint8_t { sgd, adam };

/// Work recorded by Backend::capture_end (a CUDA graph; on sim, the recorded queue): replay()
/// runs it again — the same kernels with the same arguments on the same memory — with no host
/// work beyond the launch. Values that change between replays must therefore live in device
/// memory that the kernels read (the Philox base offset, the optimiser's step counts and lr).
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  virtual void replay() = 0;
  /// Kernels (nodes) recorded.
  virtual size_t size() const = 0;
};

/// Host scalars of one multi-tensor optimiser update. Per-step values (bias corrections) are
/// computed by the caller from the parameters' step count, which the host knows.
struct OptimStep {
  OptimRule rule = OptimRule::adam;
  double lr = 0;
  double weight_decay = 0;
  // Adam / AdamW / AMSGrad
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double step_size = 0;  ///< lr / (1 − β1^t)
  double bc2_sqrt = 1;   ///< sqrt(1 − β2^t)
  bool decoupled = false, amsgrad = false;
  // SGD
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  bool first = false;  ///< t == 1: the momentum buffer starts as the first gradient
  /// When set: a device f64 holding the learning rate, read when the kernel runs (so recorded
  /// work follows set_lr). lr, step_size, bc2_sqrt and first are then derived in the kernel
  /// (fn::derive_step) from it and each slot's step count, which the kernel also advances.
  const double* lr_device = nullptr;
};

/// One parameter of a multi-tensor update: dense views of the same shape and dtype. Adam:
/// s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq (AMSGrad); SGD: s0 = momentum buffer.
/// Unused states have data == nullptr.
struct OptimSlot {
  TensorView p, g, s0, s1, s2;
  /// With OptimStep::lr_device: the device f64 count of steps this parameter has taken; the
  /// update uses t = *steps + 1 and stores t back.
  double* steps = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;
  /// Library versions and the hardware this backend runs on ("oneDNN 2.6.3 (ISA avx512_core_amx),
  /// OpenBLAS 0.3.21 ..."), recorded in every run's provenance.json. Default: name().
  virtual std::string runtime_info() const { return name(); }
  /// Number of devices of this kind usable now (0 = none; `why` gets the reason).
  virtual int device_count(std::string* why = nullptr) const = 0;
  virtual Allocator& allocator() = 0;
  /// The allocator of memory on `device` (one of this backend's devices). Backends whose devices
  /// have memories of their own (CUDA: one caching allocator per GPU) override it.
  virtual Allocator& allocator_on(const Device& device) {
    (void)device;
    return allocator();
  }
  /// Waits for queued work (no-op on the CPU).
  virtual void synchronize() = 0;
  /// True when this backend implements kernel family `k` (the default: none).
  virtual bool supports(Kernel k) const;

  // --- memory movement ---------------------------------------------------------------------
  /// dst = src elementwise with dtype conversion; same shape; arbitrary strides on both. Both
  /// views are on this backend's devices (they may be two devices of it: a peer copy).
  virtual void copy(const TensorView& src, const TensorView& dst) = 0;
  /// Raw bytes from this device to the host: a blocking read (waits for queued work).
  virtual void copy_to_host(const void* src, void* host_dst, size_t nbytes) = 0;
  /// Raw bytes from the host: the host buffer may be reused as soon as this returns.
  virtual void copy_from_host(const void* host_src, void* dst, size_t nbytes) = 0;
  /// y[...] = value.
  virtual void fill(const TensorView& y, double value) = 0;
  /// y[i] = start + i·step for a contiguous 1-D y (any dtype).
  virtual void arange(const TensorView& y, double start, double step);

  // --- memory layouts (engine/layout.h) ------------------------------------------------------
  /// The id (> 0) of this backend's format `name` ("nChw8c"), or 0 when it has none by that
  /// name (the default: a backend without layouts).
  virtual uint32_t find_layout(std::string_view name) const;
  /// The name of format `format` (for desc() and messages); never throws.
  virtual std::string layout_name(uint32_t format) const;
  /// Storage bytes of a `shape` / `dtype` tensor in `format` (padding included); throws when the
  /// format cannot hold that shape or dtype. Default: unsupported(Kernel::layout_convert).
  virtual size_t layout_nbytes(uint32_t format, const Shape& shape, DType dtype) const;
  /// dst = src with the same shape and dtype, each side strided (any strides) or one of this
  /// backend's formats (Kernel::layout_convert). Bit-exact: values are moved, not recomputed;
  /// padding of a padded format is written as zeros.
  virtual void convert_layout(const TensorView& src, const TensorView& dst);
  /// b when `format` is channel-blocked: an (N, C, H, W) tensor in it is stored as the row-major
  /// (N, ceil(C / b), H, W, b) array, channel c at block c / b, lane c % b (the last block padded
  /// with zeros). Then, when b divides C, device-neutral code can run channel-wise elementwise
  /// ops and reductions on the storage through that rank-5 strided view. 0 otherwise (default).
  virtual int64_t layout_channel_block(uint32_t format) const;
  /// The format (id > 0) in which a chain of convolutions should hand `dtype` activations of
  /// `channels` channels from one layer to the next, so that they are reordered only at the
  /// chain's ends (ops/layout.h conv_chain_layout); 0 to hand them over strided (the default).
  virtual uint32_t conv_chain_format(int64_t channels, DType dtype) const;

  // --- elementwise ---------------------------------------------------------------------------
  /// y = op(x; alpha); x and y same shape (x may carry 0 strides), may alias.
  virtual void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha);
  /// y = op(a, b; alpha); a and b already broadcast to y's shape by strides. y may be a or b
  /// itself (the same data and strides: the fused activation's backward masks a gradient in
  /// place), so an implementation reads each element's operands before writing its result.
  virtual void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
                      double alpha);
  /// y = cond ? a : b (cond u8), all broadcast to y's shape.
  virtual void where(const TensorView& cond, const TensorView& a, const TensorView& b,
                     const TensorView& y);

  // --- reductions ----------------------------------------------------------------------------
  /// y = op over the axes where y's (keepdim) shape is 1 and x's is not; y has x's rank.
  virtual void reduce(ReduceOp op, const TensorView& x, const TensorView& y);
  /// Index (i64) of the max (or min) along `axis`; y has x's rank with shape[axis] = 1.
  virtual void arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y);

  // --- linear algebra ------------------------------------------------------------------------
  /// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] over a batch (rank-3 views; batch stride
  /// may be 0 for broadcasting). Each matrix must have unit stride in one of its two dims.
  /// With Precision::bf16 (needs supports(Kernel::gemm_bf16)): f32 operands rounded to bf16,
  /// products accumulated in f32.
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                    const TensorView& b, double beta, const TensorView& c,
                    Precision precision = Precision::fp32);

  // --- indexing ------------------------------------------------------------------------------
  /// y = x gathered along `axis` by i64 `index` (index has y's shape; torch.gather semantics).
  virtual void gather(const TensorView& x, int axis, const TensorView& index,
                      const TensorView& y);
  /// y += src scattered along `axis` at `index` (the adjoint of gather).
  virtual void scatter_add(const TensorView& src, int axis, const TensorView& index,
                           const TensorView& y);
  /// y = x.index_select(axis, index) with a 1-D i64 index.
  virtual void index_select(const TensorView& x, int axis, const TensorView& index,
                            const TensorView& y);
  /// y.index_add_(axis, index, src): the adjoint of index_select.
  virtual void index_add(const TensorView& src, int axis, const TensorView& index,
                         const TensorView& y);

  // --- library-backed neural-network kernels -------------------------------------------------
  /// y = conv2d(x, w) + b (b may be empty: data == nullptr), then p.relu's activation (only
  /// where supports(Kernel::conv2d_forward_relu); ops/conv.cpp applies it separately otherwise).
  /// A backend with layouts (Kernel::layout_convert) also accepts x and y in its formats; w and
  /// b are strided. Every other kernel family takes strided views only (elementwise kernels
  /// may be handed flat or layout_channel_block views of a format's storage by layout-aware code).
  virtual void conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                              const TensorView& y, const Conv2dParams& p);
  /// dx = conv2d backward-data(dy, w). A backend with layouts also accepts dy and dx in its
  /// formats (and conv2d_backward_weights x and dy); the weight-side operands are strided.
  virtual void conv2d_backward_data(const TensorView& dy, const TensorView& w,
                                    const TensorView& dx, const Conv2dParams& p);
  /// dw (and db when db.data != nullptr) = conv2d backward-weights(x, dy).
  virtual void conv2d_backward_weights(const TensorView& x, const TensorView& dy,
                                       const TensorView& dw, const TensorView& db,
                                       const Conv2dParams& p);

  /// Batch normalisation of x (N,C) or (N,C,H,W) per channel C. Training: batch statistics
  /// (biased variance) are written to save_mean / save_invstd = 1/sqrt(var+eps); eval: uses
  /// mean / var (running statistics). gamma/beta may be empty (data == nullptr).
  virtual void batch_norm_forward(const TensorView& x, const TensorView& gamma,
                                  const TensorView& beta, const TensorView& mean,
                                  const TensorView& var, bool training, double eps,
                                  const TensorView& y, const TensorView& save_mean,
                                  const TensorView& save_invstd);
  /// Training-mode backward: dx, and dgamma/dbeta where their data != nullptr.
  virtual void batch_norm_backward(const TensorView& dy, const TensorView& x,
                                   const TensorView& gamma, const TensorView& save_mean,
                                   const TensorView& save_invstd, const TensorView& dx,
                                   const TensorView& dgamma, const TensorView& dbeta);

  // --- fused kernel sums --------------------------------------------------------------------
  /// y (0-d) = Σ_{i,j} of the IMQ kernel (see ImqMode) between rows of a (Ba, D) and b (Bb, D)
  /// with scales c; where ga / gb have data (contiguous, a's / b's shape) also writes ∂y/∂a and
  /// ∂y/∂b. One fused pass, no (Ba, Bb, D) temporaries; the result must not depend on the
  /// thread count. ops/kernel_sums.cpp composes it from primitives where this is declined.
  virtual void pairwise_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                            const std::vector<double>& c, const TensorView& y,
                            const TensorView& ga, const TensorView& gb);

  // --- random --------------------------------------------------------------------------------
  /// Fills y from Philox4x32-10: uniform in [a, b), normal(a, b), or bernoulli(p = a).
  virtual void random(RandomOp op, PhiloxState state, double a, double b, const TensorView& y);
  /// y (R, n) i64 contiguous: row r is a uniformly random permutation of 0..n-1, the indices
  /// sorted by the 64-bit Philox keys of counters state.offset + r·n + i (ties by index), so R
  /// rows equal R successive single permutations.
  virtual void random_permutation(PhiloxState state, const TensorView& y);

  // --- optimisers ----------------------------------------------------------------------------
  /// One update of every slot by rule `h` (a multi-tensor launch).
  virtual void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots);

  // --- recording (Kernel::graph) -------------------------------------------------------------
  /// Starts recording the work issued to `device`: until capture_end nothing runs, memory
  /// comes from a private pool that the recording keeps (engine/allocator.h), and host reads
  /// and uploads are refused. Default: unsupported(Kernel::graph).
  virtual void capture_begin(Device device);
  /// Ends the recording started by capture_begin and returns it.
  virtual std::unique_ptr<RecordedWork> capture_end(Device device);

  // --- collectives (data-parallel training, engine/dist/collectives.h) ------------------------
  /// This backend's collectives on `device`'s memory between the processes of `world`, ordered
  /// with the device's queued work; nullptr (the default) when it has none, and then they go
  /// through the host.
  virtual std::unique_ptr<dist::Collectives> collectives(Device device, dist::Communicator& world);

 protected:
  /// Throws "<kernel> has no <name()> implementation".
  [[noreturn]] void unsupported(Kernel k) const;
};

/// The backend serving `device`; throws a clear error when that backend is not built in or the
/// device index does not exist.
Backend& backend(Device device);
/// True when this build contains a backend for `kind`.
bool backend_compiled(DeviceKind kind);
/// Why the backend for `kind` cannot be loaded in this process ("" when it can: always for the
/// CPU and sim; for CUDA, the plugin and its libraries loaded — devices may still be absent).
std::string backend_load_error(DeviceKind kind);

}  // namespace unravel
