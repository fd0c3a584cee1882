// Device-generic pieces of the contrastive loss written with ATen operations (used by the CPU
// kernel for large problems and by the CUDA kernel, where the GEMMs go to cuBLAS).
#pragma once

#include "contrastive/contrastive.h"

#include <ATen/Functions.h>

namespace emofast {
namespace contrastive {

// grad_a = 2 (diag(rowsum G) a - G b), grad_b = 2 (diag(colsum G) b - G^T a), G = scale * grad * w.
inline std::tuple<at::Tensor, at::Tensor> backward_gemm(const at::Tensor& grad, const at::Tensor& weights,
                                                        const at::Tensor& a, const at::Tensor& b,
                                                        int64_t reduction, double scale) {
  at::Tensor g = at::mul(weights, reduction == kNone ? grad : grad.reshape({}));
  g.mul_(2.0 * scale);
  at::Tensor ga = at::addmm(at::mul(a, g.sum(1, /*keepdim=*/true)), g, b, /*beta=*/1, /*alpha=*/-1);
  at::Tensor gb = at::addmm(at::mul(b, g.sum(0).unsqueeze(1)), g.t(), a, /*beta=*/1, /*alpha=*/-1);
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
