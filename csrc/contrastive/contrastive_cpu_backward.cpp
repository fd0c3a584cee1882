// Fused pairwise contrastive loss, CPU backward kernels: grad_a = 2 (diag(rowsum G) a - G b),
// grad_b = 2 (diag(colsum G) b - G^T a), with G = grad * w (w the forward's weights, scaled by
// 1/num_pairs for the mean), in one of three forms chosen by size and data: one fused per-pair loop
// for small problems, two GEMMs on centred features for large ones, and for reduced losses the
// positive pairs through per-class feature sums plus the active negatives pair by pair.
// The forward is in contrastive_cpu_forward.cpp, the registration in contrastive_cpu.cpp.
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

}  // namespace

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

}  // namespace contrastive
}  // namespace emofast
