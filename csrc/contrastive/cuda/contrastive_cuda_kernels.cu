// Fused pairwise contrastive loss, CUDA kernel: one thread per pair (i, j), shared-memory tiles of
// a and b over D (as in a tiled GEMM), the squared distance summed from exact differences, and the
// per-pair loss and weight written in the same pass. Memory O(Ka*Kb), never O(Ka*Kb*D).
// Compiled by nvcc in CI; not run on the development machine (no GPU there).
#include "contrastive/cuda/contrastive_cuda_kernels.h"

#include <cuda_runtime.h>

#include <cfloat>

namespace emofast {
namespace contrastive {
namespace cuda {
namespace {

constexpr int kTile = 16;

template <typename T>
__device__ __forceinline__ T max_finite();
template <>
__device__ __forceinline__ float max_finite<float>() { return FLT_MAX; }
template <>
__device__ __forceinline__ double max_finite<double>() { return DBL_MAX; }

template <typename T>
__global__ void pair_losses_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                   const int64_t* __restrict__ la, const int64_t* __restrict__ lb, int64_t ka,
                                   int64_t kb, int64_t d, T margin, int64_t form, bool upper,
                                   T* __restrict__ loss, T* __restrict__ weights, int* __restrict__ nonfinite) {
  __shared__ T as[kTile][kTile + 1];
  __shared__ T bs[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t i = row0 + ty, j = col0 + tx;
  T acc = 0;
  for (int64_t k0 = 0; k0 < d; k0 += kTile) {
    const int64_t k = k0 + tx;
    as[ty][tx] = (row0 + ty < ka && k < d) ? a[(row0 + ty) * d + k] : T(0);
    bs[ty][tx] = (col0 + ty < kb && k < d) ? b[(col0 + ty) * d + k] : T(0);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTile; ++kk) {
      const T t = as[ty][kk] - bs[tx][kk];
      acc += t * t;
    }
    __syncthreads();
  }
  if (i >= ka || j >= kb) return;
  const int64_t p = i * kb + j;
  if (upper && j <= i) {
    loss[p] = 0;
    if (weights) weights[p] = 0;
    return;
  }
  if (!(acc <= max_finite<T>())) atomicOr(nonfinite, 1);
  T l, w;
  if (la[i] == lb[j]) {
    l = T(0.5) * acc;
    w = T(0.5);
  } else if (form == 0) {
    const bool act = acc < margin;
    l = act ? T(0.5) * (margin - acc) : T(0);
    w = act ? T(-0.5) : T(0);
  } else {
    const T dist = sqrt(acc);
    const T h = margin - dist;
    const bool act = dist < margin;
    l = act ? T(0.5) * h * h : T(0);
    w = (act && dist > T(0)) ? -h / (T(2) * dist) : T(0);
  }
  loss[p] = l;
  if (weights) weights[p] = w;
}

}  // namespace

template <typename T>
cudaError_t launch_pair_losses(const T* a, const T* b, const int64_t* labels_a, const int64_t* labels_b,
                               int64_t ka, int64_t kb, int64_t d, T margin, int64_t form, bool upper,
                               T* loss, T* weights, int* nonfinite, cudaStream_t stream) {
  const dim3 block(kTile, kTile);
  const dim3 grid(static_cast<unsigned>((kb + kTile - 1) / kTile), static_cast<unsigned>((ka + kTile - 1) / kTile));
  pair_losses_kernel<T><<<grid, block, 0, stream>>>(a, b, labels_a, labels_b, ka, kb, d, margin, form, upper, loss,
                                                    weights, nonfinite);
  return cudaGetLastError();
}

template cudaError_t launch_pair_losses<float>(const float*, const float*, const int64_t*, const int64_t*, int64_t,
                                               int64_t, int64_t, float, int64_t, bool, float*, float*, int*,
                                               cudaStream_t);
template cudaError_t launch_pair_losses<double>(const double*, const double*, const int64_t*, const int64_t*,
                                                int64_t, int64_t, int64_t, double, int64_t, bool, double*, double*,
                                                int*, cudaStream_t);

}  // namespace cuda
}  // namespace contrastive
}  // namespace emofast
