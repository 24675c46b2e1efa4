// The CPU backend. Memory and copies are defined in engine/cpu/cpu_backend.cpp; each kernel
// family is defined in ops/cpu/<family>_cpu.cpp (elementwise loops, reductions, OpenBLAS gemm,
// oneDNN convolution and batch norm, Philox fills, the multi-tensor optimiser loops, the
// blocked memory layouts and their conversions). Threads: OpenMP, used only when the work is
// large enough to pay for the fork (see ops/cpu/parallel.h). The loop families (everything but
// memory, gemm, convolution and layouts) are compiled once per instruction set and picked at run
// time (ops/cpu/dispatch_cpu.cpp): cpu_isa() below.
#pragma once
#include <string>
#include <vector>

#include "engine/backend.h"

namespace unravel {

/// Subnormal floats on the CPU: every thread that runs CPU kernels flushes subnormal results to
/// zero and reads subnormal operands as zero (x86 MXCSR FTZ + DAZ; a no-op elsewhere), as
/// TensorFlow and oneDNN's own benchmarks run. Without it a training run slows down as it
/// converges: collapsed latents and small Adam updates fill the convolutions with subnormals,
/// which cost microcode assists (a Burgess β-TCVAE step fell from 27 to 12 steps/s over 6 000
/// steps; the same late checkpoint ran 12.4 steps/s as before and 32.7 with FTZ + DAZ).
/// Called by backend(cpu) and backend(sim) (cheap after the first call in a thread): sets the
/// calling thread and, outside a parallel region, every OpenMP worker of its team (workers
/// created later inherit the caller's setting). Deterministic: the same inputs flush the same way.
void cpu_flush_denormals();

/// For a host program that calls the library from its own thread (the Python module): FTZ + DAZ
/// on the calling thread (and its OpenMP team, as above) for the scope's lifetime, then the
/// thread's previous floating-point control word back, so the caller's own arithmetic (NumPy's)
/// keeps IEEE subnormals. The OpenMP workers keep the flushing mode.
class DenormalsFlushedScope {
 public:
  DenormalsFlushedScope();
  ~DenormalsFlushedScope();
  DenormalsFlushedScope(const DenormalsFlushedScope&) = delete;
  DenormalsFlushedScope& operator=(const DenormalsFlushedScope&) = delete;

 private:
  unsigned saved_ = 0;
};

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::cpu; }
  std::string name() const override { return "cpu"; }
  std::string runtime_info() const override;
  int device_count(std::string* why = nullptr) const override;
  Allocator& allocator() override;
  void synchronize() override {}
  /// Every family; gemm_bf16 / conv2d_bf16 only on a CPU with AVX512-BF16 or AMX-BF16 (as
  /// oneDNN reports it), unless UNRAVEL_BF16=0 hides them (to test the refusal).
  bool supports(Kernel k) const override;

  void copy(const TensorView& src, const TensorView& dst) override;
  void copy_to_host(const void* src, void* host_dst, size_t nbytes) override;
  void copy_from_host(const void* host_src, void* dst, size_t nbytes) override;
  void fill(const TensorView& y, double value) override;
  void arange(const TensorView& y, double start, double step) override;

  // Layouts: oneDNN's blocked activation formats nChw8c / nChw16c (ops/cpu/layout_cpu.cpp).
  uint32_t find_layout(std::string_view name) const override;
  std::string layout_name(uint32_t format) const override;
  size_t layout_nbytes(uint32_t format, const Shape& shape, DType dtype) const override;
  int64_t layout_channel_block(uint32_t format) const override;
  uint32_t conv_chain_format(int64_t channels, DType dtype) const override;
  void convert_layout(const TensorView& src, const TensorView& dst) override;

  void unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha) override;
  void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
              double alpha) override;
  void where(const TensorView& cond, const TensorView& a, const TensorView& b,
             const TensorView& y) override;

  void reduce(ReduceOp op, const TensorView& x, const TensorView& y) override;
  void arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) override;

  void gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a, const TensorView& b,
            double beta, const TensorView& c, Precision precision = Precision::fp32) override;

  void gather(const TensorView& x, int axis, const TensorView& index, const TensorView& y) override;
  void scatter_add(const TensorView& src, int axis, const TensorView& index,
                   const TensorView& y) override;
  void index_select(const TensorView& x, int axis, const TensorView& index,
                    const TensorView& y) override;
  void index_add(const TensorView& src, int axis, const TensorView& index,
                 const TensorView& y) override;

  void conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                      const TensorView& y, const Conv2dParams& p) override;
  void conv2d_backward_data(const TensorView& dy, const TensorView& w, const TensorView& dx,
                            const Conv2dParams& p) override;
  void conv2d_backward_weights(const TensorView& x, const TensorView& dy, const TensorView& dw,
                               const TensorView& db, const Conv2dParams& p) override;
  void batch_norm_forward(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                          const TensorView& mean, const TensorView& var, bool training,
                          double eps, const TensorView& y, const TensorView& save_mean,
                          const TensorView& save_invstd) override;
  void batch_norm_backward(const TensorView& dy, const TensorView& x, const TensorView& gamma,
                           const TensorView& save_mean, const TensorView& save_invstd,
                           const TensorView& dx, const TensorView& dgamma,
                           const TensorView& dbeta) override;

  void pairwise_imq(ImqMode mode, const TensorView& a, const TensorView& b,
                    const std::vector<double>& c, const TensorView& y, const TensorView& ga,
                    const TensorView& gb) override;

  void random(RandomOp op, PhiloxState state, double a, double b, const TensorView& y) override;
  void random_permutation(PhiloxState state, const TensorView& y) override;

  void optimizer_step(const OptimStep& h, const std::vector<OptimSlot>& slots) override;
};

/// The instruction-set variant the CPU loops run: "base" (the build's baseline), "avx2"
/// (x86-64-v3: AVX2 + FMA) or "avx512" (x86-64-v4: AVX-512 F/BW/CD/DQ/VL). Chosen on first use:
/// the environment's UNRAVEL_CPU_ISA (base|avx2|avx512|auto) if set, else the most capable one
/// this CPU runs. Throws when UNRAVEL_CPU_ISA names a variant this build lacks or this CPU
/// cannot run. Results of a seeded run are reproducible on one variant (and one oneDNN ISA);
/// float32 exp/log1p/softplus/sigmoid and the float pairwise-kernel sums may differ between
/// variants in the last bits.
std::string cpu_isa();

/// The variants this build has and this CPU runs, least capable first ("base" always).
std::vector<std::string> cpu_isas();

/// Switches the CPU loops to variant `name` (or "auto"), with cpu_isa()'s checks; for tests and
/// benchmarks. Not to be called while kernels run on other threads.
void set_cpu_isa(const std::string& name);

}  // namespace unravel
