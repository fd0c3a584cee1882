// Device-generic pieces of the contrastive loss written with ATen operations, used by the CUDA glue
// (cuda/contrastive_cuda.cpp), where the GEMMs go to cuBLAS; the CPU backward has fused versions.
#pragma once

#include "contrastive/contrastive.h"

#include <ATen/Functions.h>

namespace emofast {
namespace contrastive {

// grad_a = 2 (diag(rowsum G) a - G b), grad_b = 2 (diag(colsum G) b - G^T a), G = scale * grad * w.
// Both are invariant to translating a and b together, so they are evaluated on features centred on
// their joint mean: with features far from the origin (ReLU outputs, say) the two terms would
// otherwise cancel. Used by the CUDA kernel; the CPU has a fused version (backward_large).
inline std::tuple<at::Tensor, at::Tensor> backward_gemm(const at::Tensor& grad, const at::Tensor& weights,
                                                        const at::Tensor& a, const at::Tensor& b,
                                                        int64_t reduction, double scale) {
  const at::Tensor centre = at::add(a.sum(0), b.sum(0)).div_(static_cast<double>(a.size(0) + b.size(0)));
  const at::Tensor ac = at::sub(a, centre), bc = at::sub(b, centre);
  const at::Tensor g = at::mul(weights, reduction == kNone ? grad : grad.reshape({}));
  const double c = 2.0 * scale;
  at::Tensor ga = at::addmm(at::mul(ac, g.sum(1, /*keepdim=*/true)), g, bc, /*beta=*/c, /*alpha=*/-c);
  at::Tensor gb = at::addmm(at::mul(bc, g.sum(0).unsqueeze(1)), g.t(), ac, /*beta=*/c, /*alpha=*/-c);
  return {ga, gb};
}

// Reduces a (Ka, Kb) matrix of per-pair losses.
inline at::Tensor reduce_pairs(const at::Tensor& pairs, int64_t reduction, int64_t npairs) {
  if (reduction == kNone) return pairs;
  at::Tensor total = pairs.sum();
  return reduction == kMean ? total.div_(static_cast<double>(npairs)) : total;
}

}  // namespace contrastive
}  // namespace emofast
