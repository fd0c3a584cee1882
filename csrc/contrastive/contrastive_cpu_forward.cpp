// Fused pairwise contrastive loss, CPU forward kernels.
//
// Squared distances of all pairs are computed block-wise (4 rows of `a` against all of `b`,
// vectorised over D), turned into per-pair losses and into the weights w_ij = d loss_ij / d d2_ij
// on the fly. Memory is O(Ka*Kb) for the weights (and for the loss when reduction="none"), never
// O(Ka*Kb*D). Large problems take d2 from a GEMM instead, exact where it matters (see below).
// The backward is in contrastive_cpu_backward.cpp, the registration in contrastive_cpu.cpp.
#include "contrastive/contrastive.h"
#include "contrastive/contrastive_cpu.h"
#include "common/cpu_features.h"

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <ATen/core/LegacyTypeDispatch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

namespace emofast {
namespace contrastive {
namespace {

// out[r * ldo + j] = ||a_r - b_j||^2 for r < na (na <= 4) and j in [j0, kb), from b transposed
// (bt is D x kb). Vectorised across j (lanes = different b rows), 4 rows of a at a time, so there
// is no horizontal reduction at all, and each d2 is summed over k in order: exact differences, no
// |a|^2 + |b|^2 - 2ab cancellation.
template <typename T>
EMOFAST_INLINE void sqdist_rows_impl(const T* __restrict a, int64_t na, const T* __restrict bt, int64_t j0,
                                int64_t kb, int64_t d, T* __restrict out, int64_t ldo) {
  // 512-bit generic vectors (GCC/Clang vector extension): each target clone lowers them to its own
  // registers (one zmm, two ymm or four xmm); 4 rows x 2 vectors = 8 accumulators kept in registers.
  // (common/cpu_vec.h's Vec<T>::V; spelled out, with memcpy loads and stores, because routing them
  // through vload/vstore changes this kernel's register allocation: same results, other code.)
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t L = 64 / sizeof(T);
  constexpr int64_t JB = 2 * L;
  int64_t jb = j0;
  if (na == 4) {
    for (; jb + JB <= kb; jb += JB) {
      V s00 = {}, s01 = {}, s10 = {}, s11 = {}, s20 = {}, s21 = {}, s30 = {}, s31 = {};
      for (int64_t k = 0; k < d; ++k) {
        V y0, y1;
        __builtin_memcpy(&y0, bt + k * kb + jb, sizeof(V));
        __builtin_memcpy(&y1, bt + k * kb + jb + L, sizeof(V));
        V t;
        t = a[k] - y0; s00 += t * t;
        t = a[k] - y1; s01 += t * t;
        t = a[d + k] - y0; s10 += t * t;
        t = a[d + k] - y1; s11 += t * t;
        t = a[2 * d + k] - y0; s20 += t * t;
        t = a[2 * d + k] - y1; s21 += t * t;
        t = a[3 * d + k] - y0; s30 += t * t;
        t = a[3 * d + k] - y1; s31 += t * t;
      }
      __builtin_memcpy(out + jb, &s00, sizeof(V));
      __builtin_memcpy(out + jb + L, &s01, sizeof(V));
      __builtin_memcpy(out + ldo + jb, &s10, sizeof(V));
      __builtin_memcpy(out + ldo + jb + L, &s11, sizeof(V));
      __builtin_memcpy(out + 2 * ldo + jb, &s20, sizeof(V));
      __builtin_memcpy(out + 2 * ldo + jb + L, &s21, sizeof(V));
      __builtin_memcpy(out + 3 * ldo + jb, &s30, sizeof(V));
      __builtin_memcpy(out + 3 * ldo + jb + L, &s31, sizeof(V));
    }
  }
  // Remaining columns (and blocks of fewer than 4 rows): one row at a time, vectorised across j.
  if (jb < kb) {
    const int64_t nj = kb - jb;
    for (int64_t r = 0; r < na; ++r) {
      T* o = out + r * ldo + jb;
      for (int64_t jj = 0; jj < nj; ++jj) o[jj] = T(0);
      const T* ar = a + r * d;
      for (int64_t k = 0; k < d; ++k) {
        const T x = ar[k];
        const T* __restrict y = bt + k * kb + jb;
#pragma omp simd
        for (int64_t jj = 0; jj < nj; ++jj) {
          const T t = x - y[jj];
          o[jj] += t * t;
        }
      }
    }
  }
}

EMOFAST_CLONES void sqdist_rows(const float* a, int64_t na, const float* bt, int64_t j0, int64_t kb,
                                    int64_t d, float* out, int64_t ldo) {
  sqdist_rows_impl<float>(a, na, bt, j0, kb, d, out, ldo);
}
EMOFAST_CLONES void sqdist_rows(const double* a, int64_t na, const double* bt, int64_t j0,
                                    int64_t kb, int64_t d, double* out, int64_t ldo) {
  sqdist_rows_impl<double>(a, na, bt, j0, kb, d, out, ldo);
}

// Losses (and weights w = d loss / d d2) of one row of pairs, in place of the squared distances.
// Branch-free, with what is stored fixed at compile time, so that it vectorises (counters are of
// type T: no mixed-width lanes). Returns the row's loss sum; counts non-finite distances.
template <typename T, int64_t kForm, bool kStoreLoss, bool kStoreW>
EMOFAST_INLINE T row_losses_t(T* __restrict d2w, T* __restrict lr, const int64_t* __restrict lb, int64_t li,
                              int64_t j0, int64_t kb, T margin, int64_t& nbad) {
  T acc = 0, bad = 0;
  const T big = std::numeric_limits<T>::max();
#pragma omp simd reduction(+ : acc, bad)
  for (int64_t j = j0; j < kb; ++j) {
    const T v = d2w[j];
    bad += (v <= big) ? T(0) : T(1);  // NaN or +Inf
    const bool pos = lb[j] == li;
    T ln, wn;
    if (kForm == kPaper) {
      const bool act = v < margin;
      ln = act ? T(0.5) * (margin - v) : T(0);
      wn = act ? T(-0.5) : T(0);
    } else {
      const T dist = std::sqrt(v);
      const T h = margin - dist;
      const bool act = dist < margin;
      ln = act ? T(0.5) * h * h : T(0);
      wn = (act && dist > T(0)) ? -h / (T(2) * dist) : T(0);
    }
    const T l = pos ? T(0.5) * v : ln;
    if (kStoreLoss) lr[j] = l;
    if (kStoreW) d2w[j] = pos ? T(0.5) : wn;
    acc += l;
  }
  nbad += static_cast<int64_t>(bad);
  return acc;
}

template <typename T, int64_t kForm>
EMOFAST_INLINE T row_losses(T* d2w, T* lr, const int64_t* lb, int64_t li, int64_t j0, int64_t kb, T margin,
                            bool want_w, int64_t& nbad) {
  if (lr) {
    return want_w ? row_losses_t<T, kForm, true, true>(d2w, lr, lb, li, j0, kb, margin, nbad)
                  : row_losses_t<T, kForm, true, false>(d2w, lr, lb, li, j0, kb, margin, nbad);
  }
  return want_w ? row_losses_t<T, kForm, false, true>(d2w, lr, lb, li, j0, kb, margin, nbad)
                : row_losses_t<T, kForm, false, false>(d2w, lr, lb, li, j0, kb, margin, nbad);
}

// Squared distance of two contiguous rows, vectorised over the features.
template <typename T>
EMOFAST_INLINE T sqdist_exact(const T* __restrict x, const T* __restrict y, int64_t d) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < d; ++k) {
    const T t = x[k] - y[k];
    s += t * t;
  }
  return s;
}

// In-batch variant: pairs j <= i do not exist; zero their weights (and losses when stored).
template <typename T>
inline void clear_lower_triangle(T* d2r, T* lr, int64_t jstart) {
  std::fill(d2r, d2r + jstart, T(0));
  if (lr) std::fill(lr, lr + jstart, T(0));
}

template <typename T>
void forward_kernel(const T* a, const T* b, const T* bt, const int64_t* la, const int64_t* lb, int64_t ka, int64_t kb,
                    int64_t d, T margin, int64_t form, bool upper, T* loss_pairs, T* weights,
                    double* row_loss, std::atomic<int64_t>& nbad) {
  constexpr int64_t kRows = 4;
  const int64_t nblocks = (ka + kRows - 1) / kRows;
  // Grain: about 64k pair-features per task so that tiny problems stay on the calling thread.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, kb * d * kRows));
  at::parallel_for(0, nblocks, grain, [&](int64_t blk0, int64_t blk1) {
    std::vector<T> buf(weights ? 0 : kRows * kb);
    int64_t bad = 0;
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      const int64_t i0 = blk * kRows;
      const int64_t na = std::min(kRows, ka - i0);
      const int64_t j0 = upper ? i0 + 1 : 0;
      T* d2 = weights ? weights + i0 * kb : buf.data();
      if (j0 < kb && bt) {
        sqdist_rows(a + i0 * d, na, bt, j0, kb, d, d2, kb);
      } else {  // few columns (no transposed copy of b): one pair at a time, vectorised over D
        for (int64_t r = 0; r < na; ++r) {
          for (int64_t j = j0; j < kb; ++j) d2[r * kb + j] = sqdist_exact(a + (i0 + r) * d, b + j * d, d);
        }
      }
      for (int64_t r = 0; r < na; ++r) {
        const int64_t i = i0 + r;
        const int64_t jstart = upper ? i + 1 : 0;
        T* d2r = d2 + r * kb;
        T* lr = loss_pairs ? loss_pairs + i * kb : nullptr;
        clear_lower_triangle(d2r, lr, jstart);
        const T acc = form == kPaper
                          ? row_losses<T, kPaper>(d2r, lr, lb, la[i], jstart, kb, margin, weights != nullptr, bad)
                          : row_losses<T, kHadsell>(d2r, lr, lb, la[i], jstart, kb, margin, weights != nullptr, bad);
        row_loss[i] = static_cast<double>(acc);
      }
    }
    if (bad) nbad += bad;
  });
}

// ---- Large problems: squared distances from a GEMM, exact where it matters ------------------------
//
// d2_ij = |a_i|^2 + |b_j|^2 - 2 a_i.b_j costs one FMA per pair-feature in a GEMM (against a
// subtraction and an FMA for exact differences), but cancels when d2 is small against the norms.
// Its error is bounded by about (D + 4) eps (|a_i|^2 + |b_j|^2), so a pair is recomputed from exact
// differences when the GEMM value is (a) within twice that bound of the hinge (the branch taken, and
// so the gradient, must not depend on rounding) or (b) below 1/32 of the norms (where the relative
// error of d2, and of the Hadsell 1/d factor, could exceed ~1e-5 in float32). Random or spread-out
// features need no recomputation; tightly clustered ones fall back to exact differences pair by pair.
// The GEMM runs per fixed block of rows (sequential BLAS inside the parallel loop), so the result is
// independent of the thread count, and each block is turned into losses while it is still in cache.

// Rows per GEMM block: the block's (rows, Kb) slice of the Gram matrix stays within ~512 KB of L2,
// enough rows that BLAS amortises packing b, and at least two blocks for two threads. It depends on
// the shapes only (never on the thread count), so the blocks and their results are reproducible.
inline int64_t gemm_block_rows(int64_t ka, int64_t kb) {
  const int64_t rows = std::clamp<int64_t>((int64_t(1) << 17) / std::max<int64_t>(1, kb), 32, 256);
  return std::min(rows, std::max<int64_t>(16, (ka + 1) / 2));
}

// Whether the GEMM formulation pays: enough pair-features and a feature size where the GEMM is
// efficient (measured here: from K=256 at D=128 on; equal at K=128). EMOFAST_CONTRASTIVE_PATH=exact|gemm forces one path (tests run both on every shape;
// benchmarks compare them); anything else, or unset, chooses by size.
inline bool use_gemm(int64_t ka, int64_t kb, int64_t d) {
  if (const char* path = std::getenv("EMOFAST_CONTRASTIVE_PATH")) {
    if (std::strcmp(path, "gemm") == 0) return true;
    if (std::strcmp(path, "exact") == 0) return false;
  }
  return d >= 16 && kb >= 16 && ka * kb * d >= (int64_t(1) << 22);
}

// Column sums of n rows (accumulated in double, in row order) and centred copies with their squared
// norms, compiled per instruction set.
template <typename T>
EMOFAST_INLINE void add_rows_impl(const T* __restrict x, int64_t n, int64_t d, double* __restrict acc) {
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict xr = x + r * d;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) acc[k] += static_cast<double>(xr[k]);
  }
}
template <typename T>
EMOFAST_INLINE void centre_rows_impl(const T* __restrict x, int64_t n, int64_t d, const T* __restrict c,
                                     T* __restrict out, T* __restrict norms) {
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict xr = x + r * d;
    T* __restrict o = out + r * d;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < d; ++k) {
      const T v = xr[k] - c[k];
      o[k] = v;
      s += v * v;
    }
    if (norms) norms[r] = s;
  }
}
EMOFAST_CLONES void add_rows(const float* x, int64_t n, int64_t d, double* acc) { add_rows_impl(x, n, d, acc); }
EMOFAST_CLONES void add_rows(const double* x, int64_t n, int64_t d, double* acc) { add_rows_impl(x, n, d, acc); }
EMOFAST_CLONES void centre_rows(const float* x, int64_t n, int64_t d, const float* c, float* out, float* norms) {
  centre_rows_impl(x, n, d, c, out, norms);
}
EMOFAST_CLONES void centre_rows(const double* x, int64_t n, int64_t d, const double* c, double* out,
                                double* norms) {
  centre_rows_impl(x, n, d, c, out, norms);
}

}  // namespace

// See contrastive_cpu.h.
template <typename T>
void centre_on_joint_mean(const T* a, int64_t ka, const T* b, int64_t kb, int64_t d, T* ac, T* bc, T* na, T* nb) {
  std::vector<double> sum(d, 0.0);
  add_rows(a, ka, d, sum.data());
  add_rows(b, kb, d, sum.data());
  std::vector<T> ct(d);
  for (int64_t k = 0; k < d; ++k) ct[k] = static_cast<T>(sum[k] / static_cast<double>(ka + kb));
  at::parallel_for(0, ka + kb, std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, d)),
                   [&](int64_t r0, int64_t r1) {
                     // rows [r0, r1) of the stacked (a; b)
                     if (r0 < ka) {
                       const int64_t e = std::min(r1, ka);
                       centre_rows(a + r0 * d, e - r0, d, ct.data(), ac + r0 * d, na ? na + r0 : nullptr);
                     }
                     if (r1 > ka) {
                       const int64_t s0 = std::max(r0, ka) - ka, e = r1 - ka;
                       centre_rows(b + s0 * d, e - s0, d, ct.data(), bc + s0 * d, nb ? nb + s0 : nullptr);
                     }
                   });
}
template void centre_on_joint_mean<float>(const float*, int64_t, const float*, int64_t, int64_t, float*, float*,
                                          float*, float*);
template void centre_on_joint_mean<double>(const double*, int64_t, const double*, int64_t, int64_t, double*,
                                           double*, double*, double*);

namespace {

// One row: a_i.b_j (from the GEMM) -> d2_ij in place, exact differences for the flagged pairs.
template <typename T>
EMOFAST_INLINE void gram_row_to_sqdist(T* __restrict row, T nai, const T* __restrict nb, const T* ai, const T* b,
                                       int64_t j0, int64_t kb, int64_t d, T mcmp, T tol, T rho) {
  T flagged = 0;
#pragma omp simd reduction(+ : flagged)
  for (int64_t j = j0; j < kb; ++j) {
    const T s = nai + nb[j];
    const T v = s - T(2) * row[j];
    row[j] = v;
    flagged += (v > rho * s && std::abs(v - mcmp) > tol * s) ? T(0) : T(1);
  }
  if (!flagged) return;
  for (int64_t j = j0; j < kb; ++j) {
    const T s = nai + nb[j];
    const T v = row[j];
    if (!(v > rho * s) || !(std::abs(v - mcmp) > tol * s)) row[j] = sqdist_exact(ai, b + j * d, d);
  }
}

// A row of the Gram matrix -> squared distances -> losses and weights (see row_losses), compiled
// per instruction set like sqdist_rows.
template <typename T>
EMOFAST_INLINE T gram_row_losses_impl(T* d2r, T* lr, T nai, const T* nb, const T* ai, const T* b,
                                      const int64_t* lb, int64_t li, int64_t j0, int64_t kb, int64_t d, T mcmp,
                                      T tol, T rho, T margin, int64_t form, int64_t& bad) {
  gram_row_to_sqdist(d2r, nai, nb, ai, b, j0, kb, d, mcmp, tol, rho);
  return form == kPaper ? row_losses<T, kPaper>(d2r, lr, lb, li, j0, kb, margin, true, bad)
                        : row_losses<T, kHadsell>(d2r, lr, lb, li, j0, kb, margin, true, bad);
}
EMOFAST_CLONES float gram_row_losses(float* d2r, float* lr, float nai, const float* nb, const float* ai,
                                     const float* b, const int64_t* lb, int64_t li, int64_t j0, int64_t kb,
                                     int64_t d, float mcmp, float tol, float rho, float margin, int64_t form,
                                     int64_t& bad) {
  return gram_row_losses_impl<float>(d2r, lr, nai, nb, ai, b, lb, li, j0, kb, d, mcmp, tol, rho, margin, form, bad);
}
EMOFAST_CLONES double gram_row_losses(double* d2r, double* lr, double nai, const double* nb, const double* ai,
                                      const double* b, const int64_t* lb, int64_t li, int64_t j0, int64_t kb,
                                      int64_t d, double mcmp, double tol, double rho, double margin, int64_t form,
                                      int64_t& bad) {
  return gram_row_losses_impl<double>(d2r, lr, nai, nb, ai, b, lb, li, j0, kb, d, mcmp, tol, rho, margin, form,
                                      bad);
}

template <typename T>
void forward_gemm_kernel(const at::Tensor& a_t, const at::Tensor& b_t, const int64_t* la, const int64_t* lb,
                         T margin, int64_t form, bool upper, T* loss_pairs, T* d2w, double* row_loss,
                         std::atomic<int64_t>& nbad) {
  const int64_t ka = a_t.size(0), kb = b_t.size(0), d = a_t.size(1);
  const T* a = a_t.data_ptr<T>();
  const T* b = b_t.data_ptr<T>();
  // Distances are translation invariant: the GEMM runs on features centred on their joint mean,
  // which keeps the norms (and so the cancellation) at the scale of the spread, not of the offset.
  const at::Tensor ac = at::empty({ka, d}, a_t.options().requires_grad(false));
  const at::Tensor bc = at::empty({kb, d}, a_t.options().requires_grad(false));
  std::vector<T> na(ka), nb(kb);
  centre_on_joint_mean(a, ka, b, kb, d, ac.data_ptr<T>(), bc.data_ptr<T>(), na.data(), nb.data());
  const T mcmp = form == kPaper ? margin : margin * margin;
  const T tol = T(2) * T(d + 4) * std::numeric_limits<T>::epsilon();
  const T rho = T(1) / T(32);
  // Plain (detached) aliases: the GEMMs below run on worker threads, outside autograd.
  const at::Tensor ad = ac, bt = bc.t();
  const at::Tensor gram = at::from_blob(d2w, {ka, kb}, a_t.options().requires_grad(false));
  const int64_t block_rows = gemm_block_rows(ka, kb);
  const int64_t nblocks = (ka + block_rows - 1) / block_rows;
  at::parallel_for(0, nblocks, 1, [&](int64_t blk0, int64_t blk1) {
    at::AutoDispatchBelowADInplaceOrView guard;
    int64_t bad = 0;
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      const int64_t i0 = blk * block_rows, nr = std::min(block_rows, ka - i0);
      at::Tensor dst = gram.narrow(0, i0, nr);
      at::mm_out(dst, ad.narrow(0, i0, nr), bt);
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t i = i0 + r;
        const int64_t jstart = upper ? i + 1 : 0;
        T* d2r = d2w + i * kb;
        T* lr = loss_pairs ? loss_pairs + i * kb : nullptr;
        clear_lower_triangle(d2r, lr, jstart);
        row_loss[i] = static_cast<double>(gram_row_losses(d2r, lr, na[i], nb.data(), a + i * d, b, lb, la[i], jstart,
                                                         kb, d, mcmp, tol, rho, margin, form, bad));
      }
    }
    if (bad) nbad += bad;
  });
}

std::tuple<at::Tensor, at::Tensor> forward_cpu(const at::Tensor& a_, const at::Tensor& b_,
                                               const at::Tensor& la_, const at::Tensor& lb_, double margin,
                                               int64_t form, int64_t reduction, bool upper,
                                               bool need_weights) {
  check_forward_inputs(a_, b_, la_, lb_, margin, form, reduction, upper);
  TORCH_CHECK_VALUE(a_.device().is_cpu(), "contrastive_loss (CPU kernel): got a tensor on ", a_.device());
  const at::Tensor a = a_.contiguous(), b = b_.contiguous();
  const at::Tensor la = la_.contiguous(), lb = lb_.contiguous();
  const int64_t ka = a.size(0), kb = b.size(0), d = a.size(1);
  at::Tensor weights = need_weights ? at::empty({ka, kb}, a.options()) : at::empty({0}, a.options());
  at::Tensor loss_pairs = reduction == kNone ? at::empty({ka, kb}, a.options()) : at::Tensor();
  std::vector<double> row_loss(ka, 0.0);
  std::atomic<int64_t> nbad{0};
  if (use_gemm(ka, kb, d)) {
    // The (Ka, Kb) buffer holds a.b, then d2, then the weights (or is scratch without weights).
    at::Tensor buf = need_weights ? weights : at::empty({ka, kb}, a.options());
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_cpu_gemm", [&] {
      forward_gemm_kernel<scalar_t>(a, b, la.data_ptr<int64_t>(), lb.data_ptr<int64_t>(),
                                    static_cast<scalar_t>(margin), form, upper,
                                    reduction == kNone ? loss_pairs.data_ptr<scalar_t>() : nullptr,
                                    buf.data_ptr<scalar_t>(), row_loss.data(), nbad);
    });
  } else {
    // b transposed (D, Kb) feeds the vector kernel; with few columns (the papers' K=2) the copy
    // would cost more than it saves.
    const at::Tensor bt = kb >= 16 ? b.t().contiguous() : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_cpu", [&] {
      forward_kernel<scalar_t>(a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(),
                               bt.defined() ? bt.data_ptr<scalar_t>() : nullptr, la.data_ptr<int64_t>(),
                               lb.data_ptr<int64_t>(), ka, kb, d, static_cast<scalar_t>(margin), form,
                               upper, reduction == kNone ? loss_pairs.data_ptr<scalar_t>() : nullptr,
                               need_weights ? weights.data_ptr<scalar_t>() : nullptr, row_loss.data(),
                               nbad);
    });
  }
  TORCH_CHECK_VALUE(nbad.load() == 0, "contrastive_loss: ", nbad.load(),
              " pair(s) have a non-finite squared distance: the features contain NaN or Inf (or a "
              "distance overflows ", a.scalar_type(), ")");
  if (reduction == kNone) return {loss_pairs, weights};
  // Row sums were accumulated per row; summing them in a fixed order keeps the result
  // independent of the thread count.
  double total = 0.0;
  for (int64_t i = 0; i < ka; ++i) total += row_loss[i];  // fixed order: deterministic
  if (reduction == kMean) total /= static_cast<double>(num_pairs(ka, kb, upper));
  return {at::scalar_tensor(total, a.options()), weights};
}

}  // namespace

at::Tensor contrastive_loss_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                const at::Tensor& lb, double margin, int64_t form, int64_t reduction,
                                bool upper) {
  return std::get<0>(forward_cpu(a, b, la, lb, margin, form, reduction, upper, false));
}

std::tuple<at::Tensor, at::Tensor> contrastive_loss_forward_cpu(const at::Tensor& a, const at::Tensor& b,
                                                                const at::Tensor& la, const at::Tensor& lb,
                                                                double margin, int64_t form,
                                                                int64_t reduction, bool upper) {
  return forward_cpu(a, b, la, lb, margin, form, reduction, upper, true);
}

}  // namespace contrastive
}  // namespace emofast
