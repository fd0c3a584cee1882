// Batched masked-module PathNet, CPU kernels: the element-wise parts of the driver in pathnet.h
// (bias + finiteness check, ReLU + per-pathway mean, its backward), OpenMP-parallel through
// at::parallel_for over rows, contiguous inner loops over the H units of a module. GEMMs are
// ATen's (MKL here), called by the driver.
#include "pathnet/pathnet.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

namespace emofast {
namespace pathnet {
namespace {

// Rows per task: ~16k scalars of work per task keeps tiny problems on the calling thread.
inline int64_t grain_rows(int64_t per_row) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, per_row)); }

template <typename T>
int64_t add_bias_kernel(T* z, const T* bias, const uint8_t* gmask, int64_t G, int64_t R, int64_t M, int64_t H,
                        bool gmask_broadcast) {
  std::atomic<int64_t> nbad{0};
  const T big = std::numeric_limits<T>::max();
  at::parallel_for(0, G * R, grain_rows(M * H), [&](int64_t r0, int64_t r1) {
    int64_t bad = 0;
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t grp = row / R;
      const uint8_t* sel = gmask + (gmask_broadcast ? 0 : grp * M);
      T* zr = z + row * M * H;
      for (int64_t m = 0; m < M; ++m) {
        if (!sel[m]) continue;
        T* zm = zr + m * H;
        const T* bm = bias + m * H;
#pragma omp simd reduction(+ : bad)
        for (int64_t h = 0; h < H; ++h) {
          const T v = zm[h] + bm[h];
          zm[h] = v;
          bad += !(std::abs(v) <= big);
        }
      }
    }
    if (bad) nbad += bad;
  });
  return nbad.load();
}

template <typename T>
void relu_mix_kernel(const T* z, const uint8_t* mask, const T* inv_k, T* out, int64_t P, int64_t G, int64_t R,
                     int64_t M, int64_t H) {
  at::parallel_for(0, P * R, grain_rows(M * H), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t p = row / R, r = row % R;
      const T* zr = z + ((G == 1 ? 0 : p) * R + r) * M * H;
      const uint8_t* sel = mask + p * M;
      T* o = out + row * H;
      for (int64_t h = 0; h < H; ++h) o[h] = T(0);
      for (int64_t m = 0; m < M; ++m) {
        if (!sel[m]) continue;
        const T* zm = zr + m * H;
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) o[h] += zm[h] > T(0) ? zm[h] : T(0);
      }
      const T k = inv_k[p];
#pragma omp simd
      for (int64_t h = 0; h < H; ++h) o[h] *= k;
    }
  });
}

template <typename T>
void relu_mix_backward_kernel(const T* grad, const T* z, const uint8_t* mask, const T* inv_k, T* dz, int64_t P,
                              int64_t G, int64_t R, int64_t M, int64_t H) {
  at::parallel_for(0, P * R, grain_rows(M * H), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t p = row / R, r = row % R;
      const T* zr = z + ((G == 1 ? 0 : p) * R + r) * M * H;
      const T* gr = grad + row * H;
      const uint8_t* sel = mask + p * M;
      const T k = inv_k[p];
      T* d = dz + row * M * H;
      for (int64_t m = 0; m < M; ++m) {
        T* dm = d + m * H;
        if (!sel[m]) {
          for (int64_t h = 0; h < H; ++h) dm[h] = T(0);
          continue;
        }
        const T* zm = zr + m * H;
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) dm[h] = zm[h] > T(0) ? gr[h] * k : T(0);
      }
    }
  });
}

// Narrow per-pathway layer, fused: for every (pathway, row) and active module m,
// z = bias_m + a_row @ W[m] (W contiguous (M, in, H)), optionally stored, ReLU'd and averaged
// into out. Only active (pathway, module) pairs are computed: ~N/|union| of the stacked GEMM.
template <typename T>
int64_t narrow_layer_kernel(const T* a, const T* w, const T* bias, const uint8_t* mask, const T* inv_k, T* z, T* out,
                            int64_t P, int64_t R, int64_t in, int64_t M, int64_t H) {
  std::atomic<int64_t> nbad{0};
  const T big = std::numeric_limits<T>::max();
  at::parallel_for(0, P * R, grain_rows(in * H * 4), [&](int64_t r0, int64_t r1) {
    std::vector<T> acc(H);
    int64_t bad = 0;
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t p = row / R;
      const T* ar = a + row * in;
      const uint8_t* sel = mask + p * M;
      T* o = out + row * H;
      for (int64_t h = 0; h < H; ++h) o[h] = T(0);
      for (int64_t m = 0; m < M; ++m) {
        if (!sel[m]) continue;
        T* __restrict c = acc.data();
        const T* bm = bias + m * H;
        for (int64_t h = 0; h < H; ++h) c[h] = bm[h];
        const T* wm = w + m * in * H;
        for (int64_t k = 0; k < in; ++k) {
          const T ak = ar[k];
          const T* __restrict wk = wm + k * H;
#pragma omp simd
          for (int64_t h = 0; h < H; ++h) c[h] += ak * wk[h];
        }
        if (z) {
          T* zm = z + row * M * H + m * H;
          for (int64_t h = 0; h < H; ++h) zm[h] = c[h];
        }
#pragma omp simd reduction(+ : bad)
        for (int64_t h = 0; h < H; ++h) {
          bad += !(std::abs(c[h]) <= big);
          o[h] += c[h] > T(0) ? c[h] : T(0);
        }
      }
      const T k = inv_k[p];
      for (int64_t h = 0; h < H; ++h) o[h] *= k;
    }
    if (bad) nbad += bad;
  });
  return nbad.load();
}

struct CpuBackend final : Backend {
  int64_t add_bias(at::Tensor& Z, const at::Tensor& bias, const at::Tensor& gmask) override {
    const int64_t G = Z.size(0), R = Z.size(1), M = bias.size(0), H = bias.size(1);
    const at::Tensor gm = gmask.contiguous();
    int64_t nbad = 0;
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_add_bias_cpu", [&] {
      nbad = add_bias_kernel<scalar_t>(Z.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(), gm.data_ptr<uint8_t>(), G,
                                       R, M, H, gm.size(0) == 1);
    });
    return nbad;
  }
  void relu_mix(const at::Tensor& Z, const at::Tensor& mask, const at::Tensor& inv_k, at::Tensor& out) override {
    const int64_t P = out.size(0), G = Z.size(0), R = Z.size(1), H = out.size(2), M = Z.size(2) / H;
    const at::Tensor mk = mask.contiguous(), ik = inv_k.contiguous();
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_relu_mix_cpu", [&] {
      relu_mix_kernel<scalar_t>(Z.data_ptr<scalar_t>(), mk.data_ptr<uint8_t>(), ik.data_ptr<scalar_t>(),
                                out.data_ptr<scalar_t>(), P, G, R, M, H);
    });
  }
  void relu_mix_backward(const at::Tensor& grad, const at::Tensor& Z, const at::Tensor& mask,
                         const at::Tensor& inv_k, at::Tensor& dZ) override {
    const int64_t P = dZ.size(0), G = Z.size(0), R = Z.size(1), H = grad.size(2), M = Z.size(2) / H;
    const at::Tensor mk = mask.contiguous(), ik = inv_k.contiguous(), zc = Z.contiguous();
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "pathnet_relu_mix_backward_cpu", [&] {
      relu_mix_backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), zc.data_ptr<scalar_t>(), mk.data_ptr<uint8_t>(),
                                         ik.data_ptr<scalar_t>(), dZ.data_ptr<scalar_t>(), P, G, R, M, H);
    });
  }
  int64_t narrow_layer(const at::Tensor& A, const at::Tensor& w, const at::Tensor& bias, const at::Tensor& mask,
                       const at::Tensor& union_mask, const uint8_t* uni, const at::Tensor& inv_k, at::Tensor Z,
                       at::Tensor& out) override {
    const int64_t P = A.size(0), R = A.size(1), in = A.size(2), M = w.size(0), H = w.size(2);
    const at::Tensor ac = A.contiguous(), wc = w.contiguous(), mk = mask.contiguous(), ik = inv_k.contiguous();
    int64_t nbad = 0;
    AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "pathnet_narrow_layer_cpu", [&] {
      nbad = narrow_layer_kernel<scalar_t>(ac.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(),
                                           mk.data_ptr<uint8_t>(), ik.data_ptr<scalar_t>(),
                                           Z.defined() ? Z.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(), P,
                                           R, in, M, H);
    });
    return nbad;
  }
};

void check_cpu(const char* op, const at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu(), op, " (CPU kernel): got a tensor on ", x.device());
}

at::Tensor pathnet_cpu(const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
                       const at::Tensor& frozen) {
  check_cpu("pathnet", x);
  check_layers("pathnet", x, weights, biases);
  check_frozen("pathnet", frozen, x, static_cast<int64_t>(weights.size()), weights[0].size(0));
  CpuBackend be;
  return forward_impl(be, "pathnet", x, weights, biases, path, nullptr);
}

std::tuple<at::Tensor, std::vector<at::Tensor>> pathnet_forward_train_cpu(const at::Tensor& x, at::TensorList weights,
                                                                         at::TensorList biases, const at::Tensor& path) {
  check_cpu("pathnet_forward_train", x);
  CpuBackend be;
  std::vector<at::Tensor> saved;
  at::Tensor out = forward_impl(be, "pathnet_forward_train", x, weights, biases, path, &saved);
  return {out, saved};
}

std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> pathnet_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
    const at::Tensor& frozen, at::TensorList saved, bool need_grad_x) {
  check_cpu("pathnet_backward", x);
  CpuBackend be;
  std::vector<at::Tensor> gw, gb;
  at::Tensor gx = backward_impl(be, "pathnet_backward", grad, x, weights, biases, path, frozen, saved, need_grad_x,
                                nullptr, &gw, &gb);
  return {gx, gw, gb};
}

void pathnet_sgd_cpu(const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                     const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, double lr) {
  check_cpu("pathnet_sgd_", x);
  TORCH_CHECK(std::isfinite(lr), "pathnet_sgd_: lr must be finite, got ", lr);
  CpuBackend be;
  backward_impl(be, "pathnet_sgd_", grad, x, weights, biases, path, frozen, saved, false, &lr, nullptr, nullptr);
}

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CPU, m) {
  m.impl("pathnet", &pathnet_cpu);
  m.impl("pathnet_forward_train", &pathnet_forward_train_cpu);
  m.impl("pathnet_backward", &pathnet_backward_cpu);
  m.impl("pathnet_sgd_", &pathnet_sgd_cpu);
}

}  // namespace pathnet
}  // namespace emofast
