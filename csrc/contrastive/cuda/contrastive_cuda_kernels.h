// Raw CUDA launchers of the contrastive loss. No torch/ATen headers here or in the .cu file, so
// that nvcc compiles the kernels on machines whose torch has no CUDA (the CI compile check).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace emofast {
namespace contrastive {
namespace cuda {

// For every pair (i, j): loss[i * kb + j] and, when weights != nullptr, weights[i * kb + j] =
// d loss_ij / d d2_ij; pairs with j <= i are zero when `upper`. Sets *nonfinite to 1 when a squared
// distance is NaN or Inf. a (ka x d), b (kb x d), labels int64, all contiguous, on the device.
template <typename T>
cudaError_t launch_pair_losses(const T* a, const T* b, const int64_t* labels_a, const int64_t* labels_b,
                               int64_t ka, int64_t kb, int64_t d, T margin, int64_t form, bool upper,
                               T* loss, T* weights, int* nonfinite, cudaStream_t stream);

}  // namespace cuda
}  // namespace contrastive
}  // namespace emofast
