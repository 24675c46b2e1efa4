// The CUDA backend: one stream per device, a stream-ordered caching allocator (cudaMalloc only on
// a cache miss), cuBLAS GEMMs, cuDNN convolutions, and our own kernels for everything else, built
// from the same functors as the CPU (ops/functors.h, ops/optim_functors.h, engine/philox.h).
// Memory and copies: engine/cuda/cuda_backend.cu; kernel families: ops/cuda/*.cu.
//
// It is built into the plugin libunravel_cuda.so (see engine/cuda/plugin.cpp) and loaded with
// dlopen the first time a CUDA device is asked for, so binaries run where no CUDA library is
// installed. Every call runs on the device of its views (cudaSetDevice) and is asynchronous on
// that device's stream; copy_to_host and synchronize() wait.
#pragma once
#include <string>

#include "engine/backend.h"

namespace unravel {

class CudaBackend final : public Backend {
 public:
  CudaBackend();
  ~CudaBackend() override;
  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override { return "cuda"; }
  std::string runtime_info() const override;
  int device_count(std::string* why = nullptr) const override;
  /// The current device's caching allocator (allocator_on: that device's).
  Allocator& allocator() override;
  Allocator& allocator_on(const Device& device) override;
  void synchronize() override;
  bool supports(Kernel k) const override;

  void copy(const TensorView& src, const TensorView& dst) override;
  void copy_to_host(const void* src, void* host_dst, size_t nbytes) override;
  void copy_from_host(const void* host_src, void* dst, size_t nbytes) override;
  void fill(const TensorView& y, double value) override;
  void arange(const TensorView& y, double start, double step) override;

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

  /// CUDA graphs: stream capture (relaxed mode) of the device's stream into a private pool of
  /// the caching allocator; replay is one cudaGraphLaunch.
  void capture_begin(Device device) override;
  std::unique_ptr<RecordedWork> capture_end(Device device) override;

  /// NCCL on this device when the build found NCCL (engine/cuda/nccl_collectives.cpp), else
  /// nullptr: through the host.
  std::unique_ptr<dist::Collectives> collectives(Device device, dist::Communicator& world) override;

 private:
  uint64_t pool_ = 0;
};

/// "NCCL 2.28.9" (the library loaded), or "no NCCL (gradients through the host)" in a build
/// without it (engine/cuda/nccl_collectives.cpp).
std::string nccl_version();

/// The process's CUDA backend (created by the plugin's factory).
CudaBackend& cuda_backend_instance();

}  // namespace unravel
