// Fused pairwise contrastive loss, CPU kernels (forward and backward).
//
// Forward: squared distances of all pairs are computed block-wise (4 rows of `a` against all of
// `b`, vectorised over D), turned into per-pair losses and into the weights
// w_ij = d loss_ij / d d2_ij on the fly. Memory is O(Ka*Kb) for the weights (and for the loss when
// reduction="none"), never O(Ka*Kb*D).
// Backward: grad_a = 2 (diag(rowsum G) a - G b), grad_b = 2 (diag(colsum G) b - G^T a), with
// G = grad * w (scaled by 1/num_pairs for the mean). Small problems use one fused loop, large ones
// ATen's GEMM.
#include "contrastive/contrastive.h"
#include "contrastive/contrastive_generic.h"
#include "common/cpu_features.h"

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/library.h>

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

// ac = a - c, bc = b - c with c the mean of all rows of a and b (accumulated in double, in a fixed
// order: the result does not depend on the thread count), and, when na / nb are given, the squared
// norms of the centred rows. One parallel region for both inputs.
template <typename T>
void centre_on_joint_mean(const T* a, int64_t ka, const T* b, int64_t kb, int64_t d, T* ac, T* bc, T* na = nullptr,
                          T* nb = nullptr) {
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

// Backward, one fused pass: used when Ka*Kb*D is small (dispatch overhead dominates).
template <typename T>
void backward_small(const T* g, bool g_is_matrix, const T* w, const T* a, const T* b, int64_t ka,
                    int64_t kb, int64_t d, T scale, T* ga, T* gb) {
  std::fill(ga, ga + ka * d, T(0));
  std::fill(gb, gb + kb * d, T(0));
  for (int64_t i = 0; i < ka; ++i) {
    const T* ai = a + i * d;
    T* gai = ga + i * d;
    for (int64_t j = 0; j < kb; ++j) {
      const T c = T(2) * scale * w[i * kb + j] * (g_is_matrix ? g[i * kb + j] : g[0]);
      if (c == T(0)) continue;
      const T* bj = b + j * d;
      T* gbj = gb + j * d;
#pragma omp simd
      for (int64_t k = 0; k < d; ++k) {
        const T t = c * (ai[k] - bj[k]);
        gai[k] += t;
        gbj[k] -= t;
      }
    }
  }
}

// Row and column sums of a (n, m) matrix G in one pass, accumulated in double; returns the largest
// magnitude in W (the weights, of the same shape; G itself for a reduced loss).
template <typename T>
T row_and_column_sums(const T* G, const T* W, int64_t n, int64_t m, double* rs, double* __restrict cs) {
  T wmax = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* gi = G + i * m;
    const T* wi = W + i * m;
    double s = 0.0;
#pragma omp simd reduction(+ : s) reduction(max : wmax)
    for (int64_t j = 0; j < m; ++j) {
      s += gi[j];
      cs[j] += gi[j];
      wmax = std::max(wmax, std::abs(wi[j]));
    }
    rs[i] = s;
  }
  return wmax;
}

// out = c * (diag(sums) xc - out), row by row (out holds G @ the other side's centred features).
template <typename T>
void finish_gradient(T* out, const T* xc, const double* sums, int64_t n, int64_t d, T c) {
  at::parallel_for(0, n, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, d)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T s = static_cast<T>(sums[r]);
      T* o = out + r * d;
      const T* x = xc + r * d;
#pragma omp simd
      for (int64_t k = 0; k < d; ++k) o[k] = c * (x[k] * s - o[k]);
    }
  });
}

// Backward of large problems on CPU: the maths of backward_gemm (centred features, see
// contrastive_generic.h) with everything but the two GEMMs in a few fused loops; a dozen small ATen
// calls around the GEMMs cost ~0.2 ms at K=256 (measured), as much as one of the GEMMs.
bool backward_large(const at::Tensor& grad, const at::Tensor& weights, const at::Tensor& a, const at::Tensor& b,
                    int64_t reduction, double scale, at::Tensor& ga, at::Tensor& gb) {
  const int64_t ka = a.size(0), kb = b.size(0), d = a.size(1);
  const auto opts = a.options().requires_grad(false);
  const at::Tensor ac = at::empty({ka, d}, opts), bc = at::empty({kb, d}, opts);
  const at::Tensor g = reduction == kNone ? at::mul(weights, grad).contiguous() : weights;
  const double c = 2.0 * scale * (reduction == kNone ? 1.0 : grad.item<double>());
  ga = at::empty({ka, d}, opts);
  gb = at::empty({kb, d}, opts);
  bool declined = false;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_backward_cpu", [&] {
    using T = scalar_t;
    std::vector<double> rs(ka), cs(kb, 0.0);
    if (row_and_column_sums(g.data_ptr<T>(), weights.data_ptr<T>(), ka, kb, rs.data(), cs.data()) > T(8)) {
      declined = true;
      return;
    }
    centre_on_joint_mean(a.data_ptr<T>(), ka, b.data_ptr<T>(), kb, d, ac.data_ptr<T>(), bc.data_ptr<T>());
    // The two gradients are independent: one single-threaded GEMM (and its scaling) per thread. BLAS's
    // own threading of one (K, K) x (K, D) product scales poorly at these sizes here.
    at::parallel_for(0, 2, 1, [&](int64_t t0, int64_t t1) {
      at::AutoDispatchBelowADInplaceOrView guard;
      for (int64_t t = t0; t < t1; ++t) {
        if (t == 0) {
          at::mm_out(ga, g, bc);
          finish_gradient(ga.data_ptr<T>(), ac.data_ptr<T>(), rs.data(), ka, d, static_cast<T>(c));
        } else {
          at::mm_out(gb, g.t(), ac);
          finish_gradient(gb.data_ptr<T>(), bc.data_ptr<T>(), cs.data(), kb, d, static_cast<T>(c));
        }
      }
    });
  });
  return !declined;
}

// ---- Backward of a reduced loss through per-class sums -------------------------------------------
//
// With a scalar upstream gradient every positive pair has the same weight (1/2), so the positive part
// of grad_a_i = 2c sum_j w_ij (a_i - b_j) is c (n_i a_i - S_i): n_i the number of b rows sharing a_i's
// label and S_i their sum. Per-class sums cost O((Ka + Kb) D), not a (Ka, Kb) x (Kb, D) product; for
// the in-batch variant (pairs i < j) running sums over the rows in order give the same. Only the active
// negative pairs (w < 0: inside the margin) remain, and they are usually few: each is applied exactly,
// pair by pair, so large Hadsell weights cannot cancel. When more than 1/kDenseNegatives of the pairs
// are active negatives the dense GEMM backward takes over (measured crossover: 12-17% at K=256 and
// K=1024, D=128, 2 threads).
constexpr int64_t kDenseNegatives = 10;

// Active negative pairs (negative weights) in one row of the weight matrix.
template <typename T>
EMOFAST_INLINE int32_t count_negative_row_impl(const T* __restrict w, int64_t m) {
  int32_t c = 0;
#pragma omp simd reduction(+ : c)
  for (int64_t j = 0; j < m; ++j) c += w[j] < T(0) ? 1 : 0;
  return c;
}
EMOFAST_CLONES int32_t count_negative_row(const float* w, int64_t m) { return count_negative_row_impl(w, m); }
EMOFAST_CLONES int32_t count_negative_row(const double* w, int64_t m) { return count_negative_row_impl(w, m); }

// Per-row counts of active negative pairs of the (n, m) weight matrix; returns their total.
template <typename T>
int64_t count_negatives(const T* w, int64_t n, int64_t m, int32_t* per_row) {
  std::atomic<int64_t> total{0};
  at::parallel_for(0, n, std::max<int64_t>(1, (int64_t(1) << 17) / std::max<int64_t>(1, m)),
                   [&](int64_t r0, int64_t r1) {
                     int64_t local = 0;
                     for (int64_t r = r0; r < r1; ++r) local += per_row[r] = count_negative_row(w + r * m, m);
                     total += local;
                   });
  return total.load();
}

// Dense class ids of two label vectors (one numbering for both): label - min when the labels span
// a small range (the usual 0..C-1), otherwise the rank among the distinct labels.
inline int64_t class_ids(const int64_t* la, int64_t ka, const int64_t* lb, int64_t kb, std::vector<int32_t>& ia,
                         std::vector<int32_t>& ib) {
  ia.resize(ka);
  ib.resize(kb);
  const auto [amin, amax] = std::minmax_element(la, la + ka);
  const auto [bmin, bmax] = std::minmax_element(lb, lb + kb);
  const int64_t lo = std::min(*amin, *bmin), hi = std::max(*amax, *bmax);
  // hi - lo may overflow for labels near both ends of int64: compare as unsigned.
  if (static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) < static_cast<uint64_t>(std::min<int64_t>(256, ka + kb))) {
    for (int64_t i = 0; i < ka; ++i) ia[i] = static_cast<int32_t>(la[i] - lo);
    for (int64_t j = 0; j < kb; ++j) ib[j] = static_cast<int32_t>(lb[j] - lo);
    return hi - lo + 1;
  }
  std::vector<int64_t> u(la, la + ka);
  u.insert(u.end(), lb, lb + kb);
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  const auto id = [&](int64_t v) { return static_cast<int32_t>(std::lower_bound(u.begin(), u.end(), v) - u.begin()); };
  for (int64_t i = 0; i < ka; ++i) ia[i] = id(la[i]);
  for (int64_t j = 0; j < kb; ++j) ib[j] = id(lb[j]);
  return static_cast<int64_t>(u.size());
}

// Gradient of the positive pairs of one side: out_i = c sum over partners p of i (x_i - y_p), the
// partners being the rows of y with i's class (all of them; in-batch only p > i, order +1, or p < i,
// order -1), as c (n_i x_i - S_i) from per-class sums S accumulated in double. Every row is first
// centred on `mu` (a row of the input, in its precision): for rows near mu the subtraction is exact,
// so the sums cancel no more than the pairwise differences would.
template <typename T>
EMOFAST_INLINE void positive_side_impl(T* out, const T* x, const int32_t* cx, int64_t nx, const T* y,
                                       const int32_t* cy, int64_t ny, int64_t d, const T* mu, double* sums,
                                       double* counts, double c, int order) {
  const auto add = [&](int64_t p) {
    double* __restrict s = sums + cy[p] * d;
    const T* __restrict yp = y + p * d;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) s[k] += static_cast<double>(yp[k] - mu[k]);
    counts[cy[p]] += 1.0;
  };
  const auto finish = [&](int64_t i) {
    const double* __restrict s = sums + cx[i] * d;
    const double n = counts[cx[i]];
    const T* __restrict xi = x + i * d;
    T* __restrict o = out + i * d;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) o[k] = static_cast<T>(c * (n * static_cast<double>(xi[k] - mu[k]) - s[k]));
  };
  if (order == 0) {
    for (int64_t p = 0; p < ny; ++p) add(p);
    for (int64_t i = 0; i < nx; ++i) finish(i);
    return;
  }
  // In-batch: walk the rows so that the sums hold exactly the partners of row i when it is finished.
  for (int64_t step = 0; step < nx; ++step) {
    const int64_t i = order > 0 ? nx - 1 - step : step;
    finish(i);
    if (i < ny) add(i);
  }
}
EMOFAST_CLONES void positive_side(float* out, const float* x, const int32_t* cx, int64_t nx, const float* y,
                                  const int32_t* cy, int64_t ny, int64_t d, const float* mu, double* sums,
                                  double* counts, double c, int order) {
  positive_side_impl(out, x, cx, nx, y, cy, ny, d, mu, sums, counts, c, order);
}
EMOFAST_CLONES void positive_side(double* out, const double* x, const int32_t* cx, int64_t nx, const double* y,
                                  const int32_t* cy, int64_t ny, int64_t d, const double* mu, double* sums,
                                  double* counts, double c, int order) {
  positive_side_impl(out, x, cx, nx, y, cy, ny, d, mu, sums, counts, c, order);
}

// Column indices of the active negatives (w < 0) of one row, in order; `buf` holds m + 16 entries.
// Blocks of 16 without a negative (most of them when negatives are sparse) are skipped after one
// vector compare; the others are scanned branch-free (the positions are data-dependent: a branch per
// entry mispredicts).
template <typename T>
EMOFAST_INLINE int32_t negative_columns_impl(const T* __restrict w, int64_t m, int32_t* __restrict buf) {
  int32_t n = 0;
  int64_t j0 = 0;
  for (; j0 + 16 <= m; j0 += 16) {
    int32_t any = 0;
#pragma omp simd reduction(+ : any)
    for (int64_t u = 0; u < 16; ++u) any += w[j0 + u] < T(0) ? 1 : 0;
    if (!any) continue;
    for (int64_t u = 0; u < 16; ++u) {
      buf[n] = static_cast<int32_t>(j0 + u);
      n += w[j0 + u] < T(0) ? 1 : 0;
    }
  }
  for (int64_t j = j0; j < m; ++j) {
    buf[n] = static_cast<int32_t>(j);
    n += w[j] < T(0) ? 1 : 0;
  }
  return n;
}
EMOFAST_CLONES int32_t negative_columns(const float* w, int64_t m, int32_t* buf) {
  return negative_columns_impl(w, m, buf);
}
EMOFAST_CLONES int32_t negative_columns(const double* w, int64_t m, int32_t* buf) {
  return negative_columns_impl(w, m, buf);
}

// The active negative pairs, listed per row (CSR: row_ptr, cols, their weights vals), exactly and
// in a fixed order:
// t = 2c w_ij (a_i - b_j) is added to grad_a_i (side 0) or subtracted from grad_b_j (side 1). The
// two sides run on two threads without sharing any output row, each recomputing the difference.
template <typename T>
EMOFAST_INLINE void negative_pairs_impl(T* ga, T* gb, const T* a, const T* b, const T* vals, const int64_t* row_ptr,
                                        const int32_t* cols, int64_t ka, int64_t kb, int64_t d, T t2c, int side) {
  for (int64_t i = 0; i < ka; ++i) {
    T* __restrict gai = ga + i * d;
    const T* __restrict ai = a + i * d;
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const int64_t j = cols[e];
      const T t = t2c * vals[e];
      const T* __restrict bj = b + j * d;
      if (side == 0) {
#pragma omp simd
        for (int64_t k = 0; k < d; ++k) gai[k] += t * (ai[k] - bj[k]);
      } else {
        T* __restrict gbj = gb + j * d;
#pragma omp simd
        for (int64_t k = 0; k < d; ++k) gbj[k] -= t * (ai[k] - bj[k]);
      }
    }
  }
}
EMOFAST_CLONES void negative_pairs(float* ga, float* gb, const float* a, const float* b, const float* vals,
                                   const int64_t* row_ptr, const int32_t* cols, int64_t ka, int64_t kb, int64_t d,
                                   float t2c, int side) {
  negative_pairs_impl(ga, gb, a, b, vals, row_ptr, cols, ka, kb, d, t2c, side);
}
EMOFAST_CLONES void negative_pairs(double* ga, double* gb, const double* a, const double* b, const double* vals,
                                   const int64_t* row_ptr, const int32_t* cols, int64_t ka, int64_t kb, int64_t d,
                                   double t2c, int side) {
  negative_pairs_impl(ga, gb, a, b, vals, row_ptr, cols, ka, kb, d, t2c, side);
}

// Returns false (and leaves ga, gb undefined) when the active negatives are too many and `force` is
// not set: the dense backward is faster then.
bool backward_classes(const at::Tensor& grad, const at::Tensor& weights, const at::Tensor& a, const at::Tensor& b,
                      const at::Tensor& la, const at::Tensor& lb, bool upper, double scale, bool force,
                      at::Tensor& ga, at::Tensor& gb) {
  const int64_t ka = a.size(0), kb = b.size(0), d = a.size(1);
  std::vector<int32_t> negs(ka);
  bool declined = false;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_backward_classes", [&] {
    using T = scalar_t;
    const T* w = weights.data_ptr<T>();
    const int64_t nneg = count_negatives(w, ka, kb, negs.data());
    if (!force && nneg * kDenseNegatives > ka * kb) {
      declined = true;
      return;
    }
    const double c = scale * grad.item<double>();
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    const T* mu = pa;  // centre on the first row of a (see positive_side_impl)
    std::vector<int32_t> ca, cb;
    const int64_t nclass = class_ids(la.data_ptr<int64_t>(), ka, lb.data_ptr<int64_t>(), kb, ca, cb);
    ga = at::empty({ka, d}, a.options().requires_grad(false));
    gb = at::empty({kb, d}, a.options().requires_grad(false));
    T* pga = ga.data_ptr<T>();
    T* pgb = gb.data_ptr<T>();
    // grad_a from the b rows of the same class (after i in-batch), grad_b from the a rows (before j),
    // one side per thread when the sides are big enough to pay for the second thread.
    std::vector<double> scratch(static_cast<size_t>(2 * nclass * (d + 1)), 0.0);
    const T t2c = static_cast<T>(2.0 * c);
    std::vector<int64_t> row_ptr(ka + 1, 0);
    for (int64_t i = 0; i < ka; ++i) row_ptr[i + 1] = row_ptr[i] + negs[i];
    std::vector<int32_t> cols(static_cast<size_t>(nneg));
    std::vector<T> vals(static_cast<size_t>(nneg));  // their weights, read in order (not from W)
    if (nneg > 0) {
      at::parallel_for(0, ka, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, kb)),
                       [&](int64_t r0, int64_t r1) {
                         std::vector<int32_t> buf(kb + 16);
                         for (int64_t r = r0; r < r1; ++r) {
                           if (negs[r] == 0) continue;
                           negative_columns(w + r * kb, kb, buf.data());
                           const T* wr = w + r * kb;
                           for (int64_t e = 0; e < negs[r]; ++e) {
                             cols[row_ptr[r] + e] = buf[e];
                             vals[row_ptr[r] + e] = wr[buf[e]];
                           }
                         }
                       });
    }
    at::parallel_for(0, 2, (ka + kb + nneg) * d >= (int64_t(1) << 15) ? 1 : 2, [&](int64_t s0, int64_t s1) {
      for (int64_t side = s0; side < s1; ++side) {
        double* sums = scratch.data() + side * nclass * (d + 1);
        double* counts = sums + nclass * d;
        if (side == 0) {
          positive_side(pga, pa, ca.data(), ka, pb, cb.data(), kb, d, mu, sums, counts, c, upper ? 1 : 0);
        } else {
          positive_side(pgb, pb, cb.data(), kb, pa, ca.data(), ka, d, mu, sums, counts, c, upper ? -1 : 0);
        }
        if (nneg > 0) {
          negative_pairs(pga, pgb, pa, pb, vals.data(), row_ptr.data(), cols.data(), ka, kb, d, t2c,
                             static_cast<int>(side));
        }
      }
    });
  });
  return !declined;
}

// Which backward to use: EMOFAST_CONTRASTIVE_BACKWARD=pairs|gemm|classes forces one (tests run all
// of them; "classes" applies to reduced losses only); otherwise it is chosen by size and density.
enum class BackwardPath { kAuto, kPairs, kGemm, kClasses };
inline BackwardPath forced_backward_path() {
  if (const char* path = std::getenv("EMOFAST_CONTRASTIVE_BACKWARD")) {
    if (std::strcmp(path, "pairs") == 0) return BackwardPath::kPairs;
    if (std::strcmp(path, "gemm") == 0) return BackwardPath::kGemm;
    if (std::strcmp(path, "classes") == 0) return BackwardPath::kClasses;
  }
  return BackwardPath::kAuto;
}

std::tuple<at::Tensor, at::Tensor> contrastive_loss_backward_cpu(const at::Tensor& grad_,
                                                                 const at::Tensor& weights_,
                                                                 const at::Tensor& a_, const at::Tensor& b_,
                                                                 const at::Tensor& la_, const at::Tensor& lb_,
                                                                 int64_t reduction, bool upper) {
  check_backward_inputs(grad_, weights_, a_, b_, la_, lb_, reduction);
  const at::Tensor a = a_.contiguous(), b = b_.contiguous();
  const at::Tensor grad = grad_.contiguous(), weights = weights_.contiguous();
  const int64_t ka = a.size(0), kb = b.size(0), d = a.size(1);
  const double scale = reduction == kMean ? 1.0 / static_cast<double>(num_pairs(ka, kb, upper)) : 1.0;
  const BackwardPath path = forced_backward_path();
  const bool large = ka * kb * d > (int64_t(1) << 17);
  at::Tensor ga, gb;
  if (reduction != kNone && (path == BackwardPath::kClasses || (path == BackwardPath::kAuto && large)) &&
      backward_classes(grad, weights, a, b, la_.contiguous(), lb_.contiguous(), upper, scale,
                       path == BackwardPath::kClasses, ga, gb)) {
    return {ga, gb};
  }
  // The GEMM form diag(rowsum G) a - G b cancels when some weights are huge (Hadsell negatives at
  // d << m: w = -(m - d) / 2d), while each pair's term w (a_i - b_j) stays bounded. Weights of the
  // paper form are at most 1/2 in magnitude; backward_large declines (returns false) when one
  // exceeds 8, and the exact per-pair loop runs instead.
  if ((path == BackwardPath::kGemm || (path != BackwardPath::kPairs && large)) &&
      backward_large(grad, weights, a, b, reduction, scale, ga, gb)) {
    return {ga, gb};
  }
  ga = at::empty_like(a);
  gb = at::empty_like(b);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "contrastive_loss_backward_cpu", [&] {
    backward_small<scalar_t>(grad.data_ptr<scalar_t>(), reduction == kNone, weights.data_ptr<scalar_t>(),
                             a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), ka, kb, d,
                             static_cast<scalar_t>(scale), ga.data_ptr<scalar_t>(), gb.data_ptr<scalar_t>());
  });
  return {ga, gb};
}

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

}  // namespace

TORCH_LIBRARY_IMPL(emofast, CPU, m) {
  m.impl("contrastive_loss", &contrastive_loss_cpu);
  m.impl("contrastive_loss_forward", &contrastive_loss_forward_cpu);
  m.impl("contrastive_loss_backward", &contrastive_loss_backward_cpu);
}

}  // namespace contrastive
}  // namespace emofast
