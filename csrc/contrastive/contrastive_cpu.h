// Fused pairwise contrastive loss, CPU kernels: what the forward (contrastive_cpu_forward.cpp),
// the backward (contrastive_cpu_backward.cpp) and the registration (contrastive_cpu.cpp) share.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace emofast {
namespace contrastive {

// The CPU kernels of emofast::contrastive_loss, contrastive_loss_forward and contrastive_loss_backward
// (schemas in csrc/ops.cpp).
at::Tensor contrastive_loss_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                const at::Tensor& lb, double margin, int64_t form, int64_t reduction,
                                bool upper);
std::tuple<at::Tensor, at::Tensor> contrastive_loss_forward_cpu(const at::Tensor& a, const at::Tensor& b,
                                                                const at::Tensor& la, const at::Tensor& lb,
                                                                double margin, int64_t form,
                                                                int64_t reduction, bool upper);
std::tuple<at::Tensor, at::Tensor> contrastive_loss_backward_cpu(const at::Tensor& grad,
                                                                 const at::Tensor& weights,
                                                                 const at::Tensor& a, const at::Tensor& b,
                                                                 const at::Tensor& la, const at::Tensor& lb,
                                                                 int64_t reduction, bool upper);

// ac = a - c, bc = b - c with c the mean of all rows of a and b (accumulated in double, in a fixed
// order: the result does not depend on the thread count), and, when na / nb are given, the squared
// norms of the centred rows. One parallel region for both inputs.
// Used by the GEMM forward and the dense backward; defined (float and double) in the forward file.
template <typename T>
void centre_on_joint_mean(const T* a, int64_t ka, const T* b, int64_t kb, int64_t d, T* ac, T* bc, T* na = nullptr,
                          T* nb = nullptr);
extern template void centre_on_joint_mean<float>(const float*, int64_t, const float*, int64_t, int64_t, float*,
                                                 float*, float*, float*);
extern template void centre_on_joint_mean<double>(const double*, int64_t, const double*, int64_t, int64_t, double*,
                                                  double*, double*, double*);

}  // namespace contrastive
}  // namespace emofast
