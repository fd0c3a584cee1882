// Raw CUDA launchers of the PathNet element-wise kernels (see pathnet.h). No torch/ATen headers
// here or in pathnet_cuda_kernels.cu, so that nvcc compiles the kernels on machines whose torch has no CUDA.
// All arrays are contiguous and on the device; masks are uint8 (0/1).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace emofast {
namespace pathnet {
namespace cuda {

// z (G, R, M*H) += bias (M, H) on columns of modules with gmask[g or 0, m]; atomically adds the
// number of non-finite results to *nonfinite. gmask has G rows, or 1 when gmask_broadcast.
template <typename T>
cudaError_t launch_add_bias(T* z, const T* bias, const uint8_t* gmask, int64_t G, int64_t R, int64_t M, int64_t H,
                            bool gmask_broadcast, int* nonfinite, cudaStream_t stream);

// out (P, R, H) = inv_k[p] * sum_{m: mask[p, m]} relu(z[g, r, m*H + h]), g = (G == 1 ? 0 : p).
template <typename T>
cudaError_t launch_relu_mix(const T* z, const uint8_t* mask, const T* inv_k, T* out, int64_t P, int64_t G, int64_t R,
                            int64_t M, int64_t H, cudaStream_t stream);

// dz (P, R, M*H) = mask[p, m] ? grad[p, r, h] * inv_k[p] * (z[g, r, m*H + h] > 0) : 0.
template <typename T>
cudaError_t launch_relu_mix_backward(const T* grad, const T* z, const uint8_t* mask, const T* inv_k, T* dz, int64_t P,
                                     int64_t G, int64_t R, int64_t M, int64_t H, cudaStream_t stream);

}  // namespace cuda
}  // namespace pathnet
}  // namespace emofast
