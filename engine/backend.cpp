// Default bodies of the Backend kernel families: each throws naming the family and the device,
// so a backend needs only what a program uses, and supports() tells op code what it has.
#include "engine/backend.h"

#include "engine/check.h"
#include "engine/dist/collectives.h"

namespace unravel {

const char* kernel_name(Kernel k) {
  static constexpr const char* kNames[] = {
      "unary", "binary", "where", "reduce", "arg_reduce", "gemm", "gather", "scatter_add",
      "index_select", "index_add", "conv2d_forward", "conv2d_forward_relu", "conv2d_backward_data",
      "conv2d_backward_weights", "batch_norm_forward", "batch_norm_backward", "pairwise_imq",
      "random", "random_permutation", "arange", "optimizer_step", "layout_convert", "gemm_bf16",
      "conv2d_bf16", "graph"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == kNumKernels,
                "kernel_name: one name per Kernel value");
  const int i = static_cast<int>(k);
  return i >= 0 && i < kNumKernels ? kNames[i] : "?";
}

bool Backend::supports(Kernel) const { return false; }

void Backend::unsupported(Kernel k) const {
  throw_error(fmt::format("{} has no {} implementation", kernel_name(k), name()));
}

void Backend::arange(const TensorView&, double, double) { unsupported(Kernel::arange); }
void Backend::capture_begin(Device) { unsupported(Kernel::graph); }
std::unique_ptr<RecordedWork> Backend::capture_end(Device) { unsupported(Kernel::graph); }
std::unique_ptr<dist::Collectives> Backend::collectives(Device, dist::Communicator&) {
  return nullptr;
}
uint32_t Backend::find_layout(std::string_view) const { return 0; }
int64_t Backend::layout_channel_block(uint32_t) const { return 0; }
uint32_t Backend::conv_chain_format(int64_t, DType) const { return 0; }
std::string Backend::layout_name(uint32_t format) const { return fmt::format("format {}", format); }
size_t Backend::layout_nbytes(uint32_t, const Shape&, DType) const {
  unsupported(Kernel::layout_convert);
}
void Backend::convert_layout(const TensorView&, const TensorView&) {
  unsupported(Kernel::layout_convert);
}
void Backend::unary(UnaryOp, const TensorView&, const TensorView&, double) {
  unsupported(Kernel::unary);
}
void Backend::binary(BinaryOp, const TensorView&, const TensorView&, const TensorView&, double) {
  unsupported(Kernel::binary);
}
void Backend::where(const TensorView&, const TensorView&, const TensorView&, const TensorView&) {
  unsupported(Kernel::where);
}
void Backend::reduce(ReduceOp, const TensorView&, const TensorView&) { unsupported(Kernel::reduce); }
void Backend::arg_reduce(bool, const TensorView&, int, const TensorView&) {
  unsupported(Kernel::arg_reduce);
}
void Backend::gemm(bool, bool, double, const TensorView&, const TensorView&, double,
                   const TensorView&, Precision p) {
  unsupported(p == Precision::bf16 ? Kernel::gemm_bf16 : Kernel::gemm);
}
void Backend::gather(const TensorView&, int, const TensorView&, const TensorView&) {
  unsupported(Kernel::gather);
}
void Backend::scatter_add(const TensorView&, int, const TensorView&, const TensorView&) {
  unsupported(Kernel::scatter_add);
}
void Backend::index_select(const TensorView&, int, const TensorView&, const TensorView&) {
  unsupported(Kernel::index_select);
}
void Backend::index_add(const TensorView&, int, const TensorView&, const TensorView&) {
  unsupported(Kernel::index_add);
}
void Backend::conv2d_forward(const TensorView&, const TensorView&, const TensorView&,
                             const TensorView&, const Conv2dParams& p) {
  unsupported(p.precision == Precision::bf16 ? Kernel::conv2d_bf16
              : p.relu                          ? Kernel::conv2d_forward_relu
                                                : Kernel::conv2d_forward);
}
void Backend::conv2d_backward_data(const TensorView&, const TensorView&, const TensorView&,
                                   const Conv2dParams&) {
  unsupported(Kernel::conv2d_backward_data);
}
void Backend::conv2d_backward_weights(const TensorView&, const TensorView&, const TensorView&,
                                      const TensorView&, const Conv2dParams&) {
  unsupported(Kernel::conv2d_backward_weights);
}
void Backend::batch_norm_forward(const TensorView&, const TensorView&, const TensorView&,
                                 const TensorView&, const TensorView&, bool, double,
                                 const TensorView&, const TensorView&, const TensorView&) {
  unsupported(Kernel::batch_norm_forward);
}
void Backend::batch_norm_backward(const TensorView&, const TensorView&, const TensorView&,
                                  const TensorView&, const TensorView&, const TensorView&,
                                  const TensorView&, const TensorView&) {
  unsupported(Kernel::batch_norm_backward);
}
void Backend::pairwise_imq(ImqMode, const TensorView&, const TensorView&,
                           const std::vector<double>&, const TensorView&, const TensorView&,
                           const TensorView&) {
  unsupported(Kernel::pairwise_imq);
}
void Backend::random(RandomOp, PhiloxState, double, double, const TensorView&) {
  unsupported(Kernel::random);
}
void Backend::random_permutation(PhiloxState, const TensorView&) {
  unsupported(Kernel::random_permutation);
}
void Backend::optimizer_step(const OptimStep&, const std::vector<OptimSlot>&) {
  unsupported(Kernel::optimizer_step);
}

}  // namespace unravel
