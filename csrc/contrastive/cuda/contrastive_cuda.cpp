// CUDA registration of the contrastive loss: ATen glue around the raw kernel in
// contrastive_cuda_kernels.cu; the backward's GEMMs go to cuBLAS through ATen. Built only in CUDA builds.
#include "contrastive/contrastive.h"
#include "contrastive/cuda/contrastive_cuda_kernels.h"
#include "contrastive/contrastive_generic.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace emofast {
namespace contrastive {
namespace {

std::tuple<at::Tensor, at::Tensor> forward_cuda(const at::Tensor& a_, const at::Tensor& b_, const at::Tensor& la_,
                                                const at::Tensor& lb_, double margin, int64_t form,
                                                int64_t reduction, bool upper, bool need_weights) {
  check_forward_inputs(a_, b_, la_, lb_, margin, form, reduction, upper);
  TORCH_CHECK_VALUE(a_.is_cuda(), "contrastive_loss (CUDA kernel): got a tensor on ", a_.device());
  const c10::cuda::CUDAGuard guard(a_.device());
  const at::Tensor a = a_.contiguous(), b = b_.contiguous(), la = la_.contiguous(), lb = lb_.contiguous();
  const int64_t ka = a.size(0), kb = b.size(0), d = a.size(1);
  at::Tensor pairs = at::empty({ka, kb}, a.options());
  at::Tensor weights = need_weights ? at::empty({ka, kb}, a.options()) : at::empty({0}, a.options());
  at::Tensor flag = at::zeros({1}, a.options().dtype(at::kInt));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_cuda", [&] {
    const cudaError_t err = cuda::launch_pair_losses<scalar_t>(
        a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), la.data_ptr<int64_t>(), lb.data_ptr<int64_t>(), ka, kb, d,
        static_cast<scalar_t>(margin), form, upper, pairs.data_ptr<scalar_t>(),
        need_weights ? weights.data_ptr<scalar_t>() : nullptr, flag.data_ptr<int>(), stream);
    TORCH_CHECK(err == cudaSuccess, "contrastive_loss: CUDA launch failed: ", cudaGetErrorString(err));
  });
  // One device-to-host sync so that NaN/Inf features raise instead of silently propagating.
  TORCH_CHECK_VALUE(flag.item<int>() == 0,
                    "contrastive_loss: a pair has a non-finite squared distance: the features contain NaN or "
                    "Inf (or a distance overflows ",
                    a.scalar_type(), ")");
  return {reduce_pairs(pairs, reduction, num_pairs(ka, kb, upper)), weights};
}

at::Tensor contrastive_loss_cuda(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la, const at::Tensor& lb,
                                 double margin, int64_t form, int64_t reduction, bool upper) {
  return std::get<0>(forward_cuda(a, b, la, lb, margin, form, reduction, upper, false));
}

std::tuple<at::Tensor, at::Tensor> contrastive_loss_forward_cuda(const at::Tensor& a, const at::Tensor& b,
                                                                 const at::Tensor& la, const at::Tensor& lb,
                                                                 double margin, int64_t form, int64_t reduction,
                                                                 bool upper) {
  return forward_cuda(a, b, la, lb, margin, form, reduction, upper, true);
}

std::tuple<at::Tensor, at::Tensor> contrastive_loss_backward_cuda(const at::Tensor& grad, const at::Tensor& weights,
                                                                  const at::Tensor& a, const at::Tensor& b,
                                                                  const at::Tensor& la, const at::Tensor& lb,
                                                                  int64_t reduction, bool upper) {
  check_backward_inputs(grad, weights, a, b, la, lb, reduction);
  const c10::cuda::CUDAGuard guard(a.device());
  const int64_t ka = a.size(0), kb = b.size(0);
  const double scale = reduction == kMean ? 1.0 / static_cast<double>(num_pairs(ka, kb, upper)) : 1.0;
  return backward_gemm(grad, weights, a.contiguous(), b.contiguous(), reduction, scale);
}

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CUDA, m) {
  m.impl("contrastive_loss", &contrastive_loss_cuda);
  m.impl("contrastive_loss_forward", &contrastive_loss_forward_cuda);
  m.impl("contrastive_loss_backward", &contrastive_loss_backward_cuda);
}

}  // namespace contrastive
}  // namespace emofast
