// Batched masked-module PathNet, CPU kernels: the element-wise parts of the driver (pathnet.cpp;
// interface in pathnet.h): bias + finiteness check, ReLU + per-pathway mean, its backward, and the
// narrow per-pathway layers, OpenMP-parallel through at::parallel_for over rows, contiguous inner
// loops over the H units of a module. GEMMs are ATen's (MKL here), called by the driver.
#include "pathnet/pathnet.h"
#include "common/cpu_features.h"
#include "common/cpu_vec.h"

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

namespace emofast {
namespace pathnet {
namespace {


// Element-wise work (scalar operations) below which a kernel stays on the calling thread. These
// passes take tens of microseconds on this problem's shapes; an OpenMP region around them costs a
// fork/join, and on a loaded machine a join can wait a scheduler slice (ms) for a descheduled
// worker, so only large passes are split.
constexpr int64_t kSerialWork = int64_t(1) << 24;

// Rows per task for a pass of `per_row` scalar operations per row over `rows` rows: the whole
// range (one task, no OpenMP region) when the pass is small.
inline int64_t grain_rows(int64_t rows, int64_t per_row) {
  per_row = std::max<int64_t>(1, per_row);
  if (rows * per_row <= kSerialWork) return std::max<int64_t>(1, rows);
  return std::max<int64_t>(1, (int64_t(1) << 16) / per_row);
}

// z[h] += b[h] over n values; returns the number of non-finite results.
template <typename T>
EMOFAST_INLINE int64_t add_bias_row_impl(T* __restrict z, const T* __restrict b, int64_t n) {
  const T big = std::numeric_limits<T>::max();
  int64_t bad = 0;
#pragma omp simd reduction(+ : bad)
  for (int64_t h = 0; h < n; ++h) {
    const T v = z[h] + b[h];
    z[h] = v;
    bad += !(std::abs(v) <= big);
  }
  return bad;
}
EMOFAST_CLONES int64_t add_bias_row(float* z, const float* b, int64_t n) { return add_bias_row_impl(z, b, n); }
EMOFAST_CLONES int64_t add_bias_row(double* z, const double* b, int64_t n) { return add_bias_row_impl(z, b, n); }

// o[h] = k * sum over the active modules act[0..n) of relu(z[m*H + h]), h < H.
template <typename T>
EMOFAST_INLINE void relu_mix_row_impl(const T* __restrict z, const int64_t* __restrict act, int64_t n, T k,
                                 T* __restrict o, int64_t H) {
  for (int64_t h = 0; h < H; ++h) o[h] = T(0);
  for (int64_t i = 0; i < n; ++i) {
    const T* __restrict zm = z + act[i] * H;
#pragma omp simd
    for (int64_t h = 0; h < H; ++h) o[h] += zm[h] > T(0) ? zm[h] : T(0);
  }
#pragma omp simd
  for (int64_t h = 0; h < H; ++h) o[h] *= k;
}
EMOFAST_CLONES void relu_mix_row(const float* z, const int64_t* act, int64_t n, float k, float* o, int64_t H) {
  relu_mix_row_impl(z, act, n, k, o, H);
}
EMOFAST_CLONES void relu_mix_row(const double* z, const int64_t* act, int64_t n, double k, double* o,
                                     int64_t H) {
  relu_mix_row_impl(z, act, n, k, o, H);
}

// Indices of the selected modules of sel[0..M), in order (the kernels loop over these rather than
// branching on every module: the masks are random, so those branches mispredict).
inline void active_list(const uint8_t* sel, int64_t M, std::vector<int64_t>& act) {
  act.clear();
  for (int64_t m = 0; m < M; ++m)
    if (sel[m]) act.push_back(m);
}

// d[m*H + h] = g[h] * k * (z[m*H + h] > 0) for the active modules act[0..n), 0 for the others.
template <typename T>
EMOFAST_INLINE void relu_mix_backward_row_impl(const T* __restrict g, const T* __restrict z, const int64_t* __restrict act,
                                          int64_t n, T k, T* __restrict d, int64_t M, int64_t H) {
  std::fill(d, d + M * H, T(0));
  for (int64_t i = 0; i < n; ++i) {
    T* __restrict dm = d + act[i] * H;
    const T* __restrict zm = z + act[i] * H;
#pragma omp simd
    for (int64_t h = 0; h < H; ++h) dm[h] = zm[h] > T(0) ? g[h] * k : T(0);
  }
}
EMOFAST_CLONES void relu_mix_backward_row(const float* g, const float* z, const int64_t* act, int64_t n, float k,
                                              float* d, int64_t M, int64_t H) {
  relu_mix_backward_row_impl(g, z, act, n, k, d, M, H);
}
EMOFAST_CLONES void relu_mix_backward_row(const double* g, const double* z, const int64_t* act, int64_t n,
                                              double k, double* d, int64_t M, int64_t H) {
  relu_mix_backward_row_impl(g, z, act, n, k, d, M, H);
}

template <typename T>
int64_t add_bias_kernel(T* z, const T* bias, const uint8_t* gmask, int64_t G, int64_t R, int64_t M, int64_t H,
                        bool gmask_broadcast) {
  std::atomic<int64_t> nbad{0};
  at::parallel_for(0, G * R, grain_rows(G * R, M * H), [&](int64_t r0, int64_t r1) {
    int64_t bad = 0;
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t grp = row / R;
      const uint8_t* sel = gmask + (gmask_broadcast ? 0 : grp * M);
      T* zr = z + row * M * H;
      // Runs of consecutive selected modules are one contiguous stretch of columns.
      for (int64_t m = 0; m < M;) {
        if (!sel[m]) {
          ++m;
          continue;
        }
        int64_t e = m + 1;
        while (e < M && sel[e]) ++e;
        bad += add_bias_row(zr + m * H, bias + m * H, (e - m) * H);
        m = e;
      }
    }
    if (bad) nbad += bad;
  });
  return nbad.load();
}

template <typename T>
void relu_mix_kernel(const T* z, const uint8_t* mask, const T* inv_k, T* out, int64_t P, int64_t G, int64_t R,
                     int64_t M, int64_t H) {
  at::parallel_for(0, P * R, grain_rows(P * R, M * H), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> act;
    act.reserve(M);
    int64_t cur = -1;
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t p = row / R, r = row % R;
      if (p != cur) {
        active_list(mask + p * M, M, act);
        cur = p;
      }
      relu_mix_row(z + ((G == 1 ? 0 : p) * R + r) * M * H, act.data(), static_cast<int64_t>(act.size()),
                       inv_k[p], out + row * H, H);
    }
  });
}

template <typename T>
void relu_mix_backward_kernel(const T* grad, const T* z, const uint8_t* mask, const T* inv_k, T* dz, int64_t P,
                              int64_t G, int64_t R, int64_t M, int64_t H) {
  at::parallel_for(0, P * R, grain_rows(P * R, M * H), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> act;
    act.reserve(M);
    int64_t cur = -1;
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t p = row / R, r = row % R;
      if (p != cur) {
        active_list(mask + p * M, M, act);
        cur = p;
      }
      relu_mix_backward_row(grad + row * H, z + ((G == 1 ? 0 : p) * R + r) * M * H, act.data(),
                                static_cast<int64_t>(act.size()), inv_k[p], dz + row * M * H, M, H);
    }
  });
}

// ---- narrow per-pathway layer ---------------------------------------------------------------
// For every (pathway, row) and active module m: z = bias_m + a_row @ W[m], optionally stored,
// ReLU'd and averaged into out. Only active (pathway, module) pairs are computed: ~N/|union| of
// the stacked GEMM. Register-blocked: RB rows x NV vectors of output columns stay in registers
// while k runs over the inputs; W and the bias are padded to HP = a multiple of the vector length
// (zeros), so every weight load is a full, aligned vector.

// Accumulates the ReLU of z for RB rows (a: RB x in, row stride lda) and one module into o; the
// columns [c0, c0 + NV*L) of the padded (in, HP) weight wp. Stores z's valid columns when z.
template <typename T, int RB, int NV>
EMOFAST_INLINE void narrow_module(const T* __restrict a, int64_t lda, int64_t in, const T* __restrict wp,
                                  int64_t HP, const T* __restrict bp, typename Vec<T>::V (&o)[RB][NV],
                                  typename Vec<T>::V& chk, T* __restrict z, int64_t ldz, int64_t nvalid) {
  typedef typename Vec<T>::V V;
  constexpr int64_t L = Vec<T>::L;
  V acc[RB][NV];
#pragma GCC unroll 16
  for (int j = 0; j < NV; ++j) {
    const V b = vload(bp + j * L);
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i) acc[i][j] = b;
  }
  for (int64_t k = 0; k < in; ++k) {
    V w[NV];
#pragma GCC unroll 16
    for (int j = 0; j < NV; ++j) w[j] = vload(wp + k * HP + j * L);
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i) {
      const T av = a[i * lda + k];
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) acc[i][j] += av * w[j];
    }
  }
  const V zero = {};
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < NV; ++j) {
      const V v = acc[i][j];
      chk += v - v;  // 0 for finite lanes, NaN otherwise (padding lanes are 0 for finite inputs)
      if (z) vstore(z + i * ldz + j * L, v, nvalid - j * L);
      o[i][j] += v > zero ? v : zero;
    }
  }
}

// Rows [r0, r1) of pathway p, output columns [c0, c0 + NV*L) (NV*L >= the valid ones).
template <typename T, int RB, int NV>
EMOFAST_INLINE void narrow_rows(const T* a, const T* wp, const T* bp, const int64_t* act, int64_t nact, T k, T* z,
                                T* out, int64_t r0, int64_t r1, int64_t in, int64_t M, int64_t H, int64_t HP,
                                int64_t c0, typename Vec<T>::V& chk) {
  typedef typename Vec<T>::V V;
  constexpr int64_t L = Vec<T>::L;
  const int64_t nvalid = H - c0;
  for (int64_t r = r0; r + RB <= r1; r += RB) {
    V o[RB][NV];
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) o[i][j] = V{};
    for (int64_t ia = 0; ia < nact; ++ia) {
      const int64_t m = act[ia];
      narrow_module<T, RB, NV>(a + r * in, in, in, wp + m * in * HP + c0, HP, bp + m * HP + c0, o, chk,
                               z ? z + r * M * H + m * H + c0 : nullptr, M * H, nvalid);
    }
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) vstore(out + (r + i) * H + c0 + j * L, o[i][j] * k, nvalid - j * L);
  }
}

// One pathway's rows [r0, r1) (a, z, out point at the pathway's first row); returns false when a
// pre-activation is not finite.
template <typename T>
EMOFAST_INLINE bool narrow_pathway_impl(const T* a, const T* wp, const T* bp, const uint8_t* sel, T k, T* z, T* out,
                                   int64_t r0, int64_t r1, int64_t in, int64_t M, int64_t H, int64_t HP) {
  typedef typename Vec<T>::V V;
  constexpr int64_t L = Vec<T>::L;
  int64_t small[64];
  std::vector<int64_t> big;
  int64_t* act = small;
  if (M > 64) {
    big.resize(M);
    act = big.data();
  }
  int64_t nact = 0;
  for (int64_t m = 0; m < M; ++m)
    if (sel[m]) act[nact++] = m;
  V chk = {};
  for (int64_t c0 = 0; c0 < H; c0 += 4 * L) {
    const int64_t nv = std::min<int64_t>(4, (HP - c0) / L);
    const int64_t rb = r0 + (r1 - r0) / 4 * 4;
    switch (nv) {
      case 1:
        narrow_rows<T, 4, 1>(a, wp, bp, act, nact, k, z, out, r0, rb, in, M, H, HP, c0, chk);
        narrow_rows<T, 1, 1>(a, wp, bp, act, nact, k, z, out, rb, r1, in, M, H, HP, c0, chk);
        break;
      case 2:
        narrow_rows<T, 4, 2>(a, wp, bp, act, nact, k, z, out, r0, rb, in, M, H, HP, c0, chk);
        narrow_rows<T, 1, 2>(a, wp, bp, act, nact, k, z, out, rb, r1, in, M, H, HP, c0, chk);
        break;
      case 3:
        narrow_rows<T, 4, 3>(a, wp, bp, act, nact, k, z, out, r0, rb, in, M, H, HP, c0, chk);
        narrow_rows<T, 1, 3>(a, wp, bp, act, nact, k, z, out, rb, r1, in, M, H, HP, c0, chk);
        break;
      default:
        narrow_rows<T, 4, 4>(a, wp, bp, act, nact, k, z, out, r0, rb, in, M, H, HP, c0, chk);
        narrow_rows<T, 1, 4>(a, wp, bp, act, nact, k, z, out, rb, r1, in, M, H, HP, c0, chk);
        break;
    }
  }
  bool ok = true;
  for (int64_t i = 0; i < L; ++i) ok = ok && chk[i] == T(0);
  return ok;
}
EMOFAST_CLONES bool narrow_pathway(const float* a, const float* wp, const float* bp, const uint8_t* sel, float k,
                                       float* z, float* out, int64_t r0, int64_t r1, int64_t in, int64_t M, int64_t H,
                                       int64_t HP) {
  return narrow_pathway_impl<float>(a, wp, bp, sel, k, z, out, r0, r1, in, M, H, HP);
}
EMOFAST_CLONES bool narrow_pathway(const double* a, const double* wp, const double* bp, const uint8_t* sel,
                                       double k, double* z, double* out, int64_t r0, int64_t r1, int64_t in,
                                       int64_t M, int64_t H, int64_t HP) {
  return narrow_pathway_impl<double>(a, wp, bp, sel, k, z, out, r0, r1, in, M, H, HP);
}

// The number of non-finite values among the active pre-activations, recomputed one by one (only
// called after the vector kernel reported one: the count goes into the error message).
template <typename T>
int64_t narrow_count_nonfinite(const T* a, const T* wp, const T* bp, const uint8_t* mask, int64_t P, int64_t R,
                               int64_t in, int64_t M, int64_t H, int64_t HP) {
  const T big = std::numeric_limits<T>::max();
  int64_t bad = 0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t m = 0; m < M; ++m) {
        if (!mask[p * M + m]) continue;
        for (int64_t h = 0; h < H; ++h) {
          T v = bp[m * HP + h];
          for (int64_t k = 0; k < in; ++k) v += a[(p * R + r) * in + k] * wp[(m * in + k) * HP + h];
          bad += !(std::abs(v) <= big);
        }
      }
  return bad;
}

template <typename T>
int64_t narrow_layer_kernel(const T* a, const T* wp, const T* bp, const uint8_t* mask, const T* inv_k, T* z, T* out,
                            int64_t P, int64_t R, int64_t in, int64_t M, int64_t H, int64_t HP, int64_t nact) {
  // Work items: (pathway, block of rows); one task unless the layer is large.
  constexpr int64_t kRowsPerItem = 16;
  const int64_t nblk = (R + kRowsPerItem - 1) / kRowsPerItem;
  const int64_t per_item = std::max<int64_t>(1, nact / std::max<int64_t>(1, P)) * kRowsPerItem * in * HP;
  std::atomic<bool> ok{true};
  at::parallel_for(0, P * nblk, grain_rows(P * nblk, per_item), [&](int64_t i0, int64_t i1) {
    bool good = true;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t p = it / nblk, r0 = (it % nblk) * kRowsPerItem, r1 = std::min(R, r0 + kRowsPerItem);
      const int64_t off = p * R;
      good &= narrow_pathway(a + off * in, wp, bp, mask + p * M, inv_k[p], z ? z + off * M * H : nullptr,
                                 out + off * H, r0, r1, in, M, H, HP);
    }
    if (!good) ok = false;
  });
  return ok.load() ? 0 : std::max<int64_t>(1, narrow_count_nonfinite(a, wp, bp, mask, P, R, in, M, H, HP));
}

struct CpuBackend final : Backend {
  CpuBackend(const char* op, const at::Tensor& x) {
    TORCH_CHECK_VALUE(x.device().is_cpu(), op, " (CPU kernel): got a tensor on ", x.device());
  }
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
    const at::Tensor ac = A.contiguous(), mk = mask.contiguous(), ik = inv_k.contiguous();
    int64_t nbad = 0;
    AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "pathnet_narrow_layer_cpu", [&] {
      // Weights (M, in, HP) and biases (M, HP) of the union's modules, zero-padded to whole vectors
      // (any source layout; at most M * 256 * HP values).
      constexpr int64_t VL = Vec<scalar_t>::L;
      const int64_t HP = (H + VL - 1) / VL * VL;
      at::Tensor wp = at::zeros({M, in, HP}, A.options());
      at::Tensor bp = at::zeros({M, HP}, A.options());
      const at::Tensor bc = bias.contiguous();
      scalar_t* wpp = wp.data_ptr<scalar_t>();
      scalar_t* bpp = bp.data_ptr<scalar_t>();
      const scalar_t* ws = w.data_ptr<scalar_t>();
      const scalar_t* bs = bc.data_ptr<scalar_t>();
      const int64_t s0 = w.stride(0), s1 = w.stride(1), s2 = w.stride(2);
      int64_t nact = 0;
      for (int64_t m = 0; m < M; ++m) {
        if (!uni[m]) continue;
        for (int64_t k = 0; k < in; ++k)
          for (int64_t h = 0; h < H; ++h) wpp[(m * in + k) * HP + h] = ws[m * s0 + k * s1 + h * s2];
        for (int64_t h = 0; h < H; ++h) bpp[m * HP + h] = bs[m * H + h];
      }
      const uint8_t* mp = mk.data_ptr<uint8_t>();
      for (int64_t i = 0; i < P * M; ++i) nact += mp[i];
      nbad = narrow_layer_kernel<scalar_t>(ac.data_ptr<scalar_t>(), wpp, bpp, mp, ik.data_ptr<scalar_t>(),
                                           Z.defined() ? Z.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(), P,
                                           R, in, M, H, HP, nact);
    });
    return nbad;
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CPU, m) {
  Kernels<CpuBackend>::register_in(m);
}

}  // namespace pathnet
}  // namespace emofast
