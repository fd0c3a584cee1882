// PathNet element-wise CUDA kernels: bias + finiteness count, ReLU + per-pathway mean, and its
// backward. One thread per output element (grid-stride loops); the GEMMs run in cuBLAS via ATen
// (pathnet_cuda.cpp / pathnet.h).
#include "pathnet/cuda/pathnet_cuda_kernels.h"

#include <cuda_runtime.h>

namespace emofast {
namespace pathnet {
namespace cuda {
namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

template <typename T>
__device__ __forceinline__ bool finite_value(T v) {
  return isfinite(v);
}

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ z, const T* __restrict__ bias, const uint8_t* __restrict__ gmask,
                                int64_t G, int64_t R, int64_t M, int64_t H, bool broadcast,
                                int* __restrict__ nonfinite) {
  const int64_t total = G * R * M * H;
  int bad = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t col = i % (M * H);
    const int64_t m = col / H;
    const int64_t g = i / (R * M * H);
    if (!gmask[(broadcast ? 0 : g) * M + m]) continue;
    const T v = z[i] + bias[col];
    z[i] = v;
    bad += finite_value(v) ? 0 : 1;
  }
  if (bad) atomicAdd(nonfinite, bad);
}

template <typename T>
__global__ void relu_mix_kernel(const T* __restrict__ z, const uint8_t* __restrict__ mask, const T* __restrict__ inv_k,
                                T* __restrict__ out, int64_t P, int64_t G, int64_t R, int64_t M, int64_t H) {
  const int64_t total = P * R * H;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t h = i % H;
    const int64_t r = (i / H) % R;
    const int64_t p = i / (R * H);
    const T* zr = z + ((G == 1 ? 0 : p) * R + r) * M * H;
    const uint8_t* sel = mask + p * M;
    T acc = T(0);
    for (int64_t m = 0; m < M; ++m) {
      if (!sel[m]) continue;
      const T v = zr[m * H + h];
      acc += v > T(0) ? v : T(0);
    }
    out[i] = acc * inv_k[p];
  }
}

template <typename T>
__global__ void relu_mix_backward_kernel(const T* __restrict__ grad, const T* __restrict__ z,
                                         const uint8_t* __restrict__ mask, const T* __restrict__ inv_k,
                                         T* __restrict__ dz, int64_t P, int64_t G, int64_t R, int64_t M, int64_t H) {
  const int64_t total = P * R * M * H;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t h = i % H;
    const int64_t m = (i / H) % M;
    const int64_t r = (i / (M * H)) % R;
    const int64_t p = i / (R * M * H);
    if (!mask[p * M + m]) {
      dz[i] = T(0);
      continue;
    }
    const T v = z[((G == 1 ? 0 : p) * R + r) * M * H + m * H + h];
    dz[i] = v > T(0) ? grad[(p * R + r) * H + h] * inv_k[p] : T(0);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_add_bias(T* z, const T* bias, const uint8_t* gmask, int64_t G, int64_t R, int64_t M, int64_t H,
                            bool gmask_broadcast, int* nonfinite, cudaStream_t stream) {
  add_bias_kernel<T><<<blocks_for(G * R * M * H), kThreads, 0, stream>>>(z, bias, gmask, G, R, M, H, gmask_broadcast,
                                                                        nonfinite);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_relu_mix(const T* z, const uint8_t* mask, const T* inv_k, T* out, int64_t P, int64_t G, int64_t R,
                            int64_t M, int64_t H, cudaStream_t stream) {
  relu_mix_kernel<T><<<blocks_for(P * R * H), kThreads, 0, stream>>>(z, mask, inv_k, out, P, G, R, M, H);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_relu_mix_backward(const T* grad, const T* z, const uint8_t* mask, const T* inv_k, T* dz, int64_t P,
                                     int64_t G, int64_t R, int64_t M, int64_t H, cudaStream_t stream) {
  relu_mix_backward_kernel<T><<<blocks_for(P * R * M * H), kThreads, 0, stream>>>(grad, z, mask, inv_k, dz, P, G, R,
                                                                                 M, H);
  return cudaGetLastError();
}

#define EMOFAST_PATHNET_INSTANTIATE(T)                                                                              \
  template cudaError_t launch_add_bias<T>(T*, const T*, const uint8_t*, int64_t, int64_t, int64_t, int64_t, bool,  \
                                          int*, cudaStream_t);                                                      \
  template cudaError_t launch_relu_mix<T>(const T*, const uint8_t*, const T*, T*, int64_t, int64_t, int64_t,       \
                                          int64_t, int64_t, cudaStream_t);                                          \
  template cudaError_t launch_relu_mix_backward<T>(const T*, const T*, const uint8_t*, const T*, T*, int64_t,      \
                                                   int64_t, int64_t, int64_t, int64_t, cudaStream_t);
EMOFAST_PATHNET_INSTANTIATE(float)
EMOFAST_PATHNET_INSTANTIATE(double)
#undef EMOFAST_PATHNET_INSTANTIATE

}  // namespace cuda
}  // namespace pathnet
}  // namespace emofast
