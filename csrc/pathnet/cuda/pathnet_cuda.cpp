// CUDA registration of the PathNet ops: the device-generic driver (pathnet.cpp; GEMMs in cuBLAS
// through ATen) with the element-wise kernels of pathnet_cuda_kernels.cu. Narrow per-pathway layers use
// the driver's default (stacked GEMM over the union's modules). Built only in CUDA builds.
#include "pathnet/pathnet.h"
#include "pathnet/cuda/pathnet_cuda_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>


namespace emofast {
namespace pathnet {
namespace {

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "pathnet: CUDA launch of ", what, " failed: ", cudaGetErrorString(err));
}

struct CudaBackend final : Backend {
  // Checks that x is on a CUDA device, then makes it the current device for the call.
  CudaBackend(const char* op, const at::Tensor& x) : guard_(cuda_device(op, x)) {}
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

 private:
  static c10::Device cuda_device(const char* op, const at::Tensor& x) {
    TORCH_CHECK_VALUE(x.is_cuda(), op, " (CUDA kernel): got a tensor on ", x.device());
    return x.device();
  }
  const c10::cuda::CUDAGuard guard_;
};

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CUDA, m) {
  Kernels<CudaBackend>::register_in(m);
}

}  // namespace pathnet
}  // namespace emofast
