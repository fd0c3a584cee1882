// CUDA registration of the PathNet ops: the device-generic driver of pathnet.h (GEMMs in cuBLAS
// through ATen) with the element-wise kernels of pathnet_cuda_kernels.cu. Narrow per-pathway layers use
// the driver's default (stacked GEMM over the union's modules). Built only in CUDA builds.
#include "pathnet/pathnet.h"
#include "pathnet/cuda/pathnet_cuda_kernels.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cmath>

namespace emofast {
namespace pathnet {
namespace {

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "pathnet: CUDA launch of ", what, " failed: ", cudaGetErrorString(err));
}

struct CudaBackend final : Backend {
  int64_t add_bias(at::Tensor& Z, const at::Tensor& bias, const at::Tensor& gmask) override {
    const int64_t G = Z.size(0), R = Z.size(1), M = bias.size(0), H = bias.size(1);
    const at::Tensor gm = gmask.contiguous();
    at::Tensor flag = at::zeros({1}, Z.options().dtype(at::kInt));
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_add_bias_cuda", [&] {
      check_launch(cuda::launch_add_bias<scalar_t>(Z.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(),
                                                   gm.data_ptr<uint8_t>(), G, R, M, H, gm.size(0) == 1,
                                                   flag.data_ptr<int>(), stream),
                   "add_bias");
    });
    return flag.item<int>();  // one sync so that NaN/Inf raise instead of propagating
  }
  void relu_mix(const at::Tensor& Z, const at::Tensor& mask, const at::Tensor& inv_k, at::Tensor& out) override {
    const int64_t P = out.size(0), G = Z.size(0), R = Z.size(1), H = out.size(2), M = Z.size(2) / H;
    const at::Tensor mk = mask.contiguous(), ik = inv_k.contiguous();
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_relu_mix_cuda", [&] {
      check_launch(cuda::launch_relu_mix<scalar_t>(Z.data_ptr<scalar_t>(), mk.data_ptr<uint8_t>(),
                                                   ik.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), P, G, R, M, H,
                                                   stream),
                   "relu_mix");
    });
  }
  void relu_mix_backward(const at::Tensor& grad, const at::Tensor& Z, const at::Tensor& mask, const at::Tensor& inv_k,
                         at::Tensor& dZ) override {
    const int64_t P = dZ.size(0), G = Z.size(0), R = Z.size(1), H = grad.size(2), M = Z.size(2) / H;
    const at::Tensor mk = mask.contiguous(), ik = inv_k.contiguous(), zc = Z.contiguous();
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_relu_mix_backward_cuda", [&] {
      check_launch(cuda::launch_relu_mix_backward<scalar_t>(grad.data_ptr<scalar_t>(), zc.data_ptr<scalar_t>(),
                                                            mk.data_ptr<uint8_t>(), ik.data_ptr<scalar_t>(),
                                                            dZ.data_ptr<scalar_t>(), P, G, R, M, H, stream),
                   "relu_mix_backward");
    });
  }
};

void check_cuda(const char* op, const at::Tensor& x) {
  TORCH_CHECK_VALUE(x.is_cuda(), op, " (CUDA kernel): got a tensor on ", x.device());
}

at::Tensor pathnet_cuda(const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
                        const at::Tensor& frozen) {
  check_cuda("pathnet", x);
  const c10::cuda::CUDAGuard guard(x.device());
  check_layers("pathnet", x, weights, biases);
  check_frozen("pathnet", frozen, x, static_cast<int64_t>(weights.size()), weights[0].size(0));
  CudaBackend be;
  return forward_impl(be, "pathnet", x, weights, biases, path, nullptr);
}

std::tuple<at::Tensor, std::vector<at::Tensor>> pathnet_forward_train_cuda(const at::Tensor& x, at::TensorList weights,
                                                                          at::TensorList biases,
                                                                          const at::Tensor& path) {
  check_cuda("pathnet_forward_train", x);
  const c10::cuda::CUDAGuard guard(x.device());
  CudaBackend be;
  std::vector<at::Tensor> saved;
  at::Tensor out = forward_impl(be, "pathnet_forward_train", x, weights, biases, path, &saved);
  return {out, saved};
}

std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> pathnet_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
    const at::Tensor& frozen, at::TensorList saved, bool need_grad_x) {
  check_cuda("pathnet_backward", x);
  const c10::cuda::CUDAGuard guard(x.device());
  CudaBackend be;
  std::vector<at::Tensor> gw, gb;
  at::Tensor gx = backward_impl(be, "pathnet_backward", grad, x, weights, biases, path, frozen, saved, need_grad_x,
                                nullptr, &gw, &gb);
  return {gx, gw, gb};
}

void pathnet_sgd_cuda(const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                      const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, double lr) {
  check_cuda("pathnet_sgd_", x);
  TORCH_CHECK_VALUE(std::isfinite(lr), "pathnet_sgd_: lr must be finite, got ", lr);
  const c10::cuda::CUDAGuard guard(x.device());
  CudaBackend be;
  backward_impl(be, "pathnet_sgd_", grad, x, weights, biases, path, frozen, saved, false, &lr, nullptr, nullptr);
}

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CUDA, m) {
  m.impl("pathnet", &pathnet_cuda);
  m.impl("pathnet_forward_train", &pathnet_forward_train_cuda);
  m.impl("pathnet_backward", &pathnet_backward_cuda);
  m.impl("pathnet_sgd_", &pathnet_sgd_cuda);
}

}  // namespace pathnet
}  // namespace emofast
