// Fused pairwise contrastive loss: shared declarations and input checks (host side, ATen).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <tuple>

namespace emofast {
namespace contrastive {

enum Form : int64_t { kPaper = 0, kHadsell = 1 };
enum Reduction : int64_t { kNone = 0, kMean = 1, kSum = 2 };

// Number of pairs the mean divides by.
inline int64_t num_pairs(int64_t ka, int64_t kb, bool upper) {
  return upper ? ka * (ka - 1) / 2 : ka * kb;
}

// Argument checks shared by every device's kernels; messages name the offending value. Bad shapes,
// sizes, values and devices raise ValueError (TORCH_CHECK_VALUE), bad dtypes TypeError
// (TORCH_CHECK_TYPE), in the forward and the backward alike.
inline void check_forward_inputs(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                 const at::Tensor& lb, double margin, int64_t form,
                                 int64_t reduction, bool upper) {
  TORCH_CHECK_VALUE(a.dim() == 2, "contrastive_loss: a must be 2-D (Ka, D), got shape ", a.sizes());
  TORCH_CHECK_VALUE(b.dim() == 2, "contrastive_loss: b must be 2-D (Kb, D), got shape ", b.sizes());
  TORCH_CHECK_VALUE(a.size(1) == b.size(1), "contrastive_loss: feature sizes differ: a has D=", a.size(1),
              ", b has D=", b.size(1));
  TORCH_CHECK_VALUE(a.size(0) > 0 && b.size(0) > 0, "contrastive_loss: empty batch (Ka=", a.size(0),
              ", Kb=", b.size(0), ")");
  TORCH_CHECK_VALUE(a.size(1) > 0, "contrastive_loss: feature size D must be positive, got 0");
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), "contrastive_loss: a and b dtypes differ (",
              a.scalar_type(), " vs ", b.scalar_type(), ")");
  TORCH_CHECK_TYPE(a.scalar_type() == at::kFloat || a.scalar_type() == at::kDouble,
              "contrastive_loss: features must be float32 or float64, got ", a.scalar_type());
  TORCH_CHECK_VALUE(a.device() == b.device() && a.device() == la.device() && a.device() == lb.device(),
              "contrastive_loss: all inputs must be on one device (a: ", a.device(), ", b: ",
              b.device(), ", labels_a: ", la.device(), ", labels_b: ", lb.device(), ")");
  TORCH_CHECK_TYPE(la.scalar_type() == at::kLong && lb.scalar_type() == at::kLong,
              "contrastive_loss: labels must be int64, got ", la.scalar_type(), " and ",
              lb.scalar_type());
  TORCH_CHECK_VALUE(la.dim() == 1 && la.size(0) == a.size(0), "contrastive_loss: labels_a must have shape (",
              a.size(0), ",), got ", la.sizes());
  TORCH_CHECK_VALUE(lb.dim() == 1 && lb.size(0) == b.size(0), "contrastive_loss: labels_b must have shape (",
              b.size(0), ",), got ", lb.sizes());
  TORCH_CHECK_VALUE(margin >= 0.0, "contrastive_loss: margin must be >= 0, got ", margin);
  TORCH_CHECK_VALUE(form == kPaper || form == kHadsell, "contrastive_loss: unknown form ", form);
  TORCH_CHECK_VALUE(reduction == kNone || reduction == kMean || reduction == kSum,
              "contrastive_loss: unknown reduction ", reduction);
  if (upper) {
    TORCH_CHECK_VALUE(a.size(0) == b.size(0) && a.size(0) >= 2,
                "contrastive_loss: the in-batch variant needs one batch of at least 2 samples, got ",
                a.size(0));
  }
}

inline void check_backward_inputs(const at::Tensor& grad, const at::Tensor& weights, const at::Tensor& a,
                                  const at::Tensor& b, const at::Tensor& la, const at::Tensor& lb,
                                  int64_t reduction) {
  TORCH_CHECK_TYPE(la.scalar_type() == at::kLong && lb.scalar_type() == at::kLong,
                   "contrastive_loss_backward: labels must be int64 of shapes (", a.size(0), ",) and (", b.size(0),
                   ",), got ", la.scalar_type(), " ", la.sizes(), " and ", lb.scalar_type(), " ", lb.sizes());
  TORCH_CHECK_VALUE(la.dim() == 1 && lb.dim() == 1 && la.size(0) == a.size(0) && lb.size(0) == b.size(0),
                    "contrastive_loss_backward: labels must be int64 of shapes (", a.size(0), ",) and (", b.size(0),
                    ",), got ", la.scalar_type(), " ", la.sizes(), " and ", lb.scalar_type(), " ", lb.sizes());
  TORCH_CHECK_VALUE(weights.dim() == 2 && weights.size(0) == a.size(0) && weights.size(1) == b.size(0),
                    "contrastive_loss_backward: weights must have shape (Ka, Kb) = (", a.size(0), ", ", b.size(0),
                    "), got ", weights.sizes(), " (was the forward run with need_weights=True?)");
  if (reduction == kNone) {
    TORCH_CHECK_VALUE(grad.sizes() == weights.sizes(), "contrastive_loss_backward: grad must have shape ",
                      weights.sizes(), ", got ", grad.sizes());
  } else {
    TORCH_CHECK_VALUE(grad.numel() == 1,
                      "contrastive_loss_backward: grad of a reduced loss must be a scalar, got shape ", grad.sizes());
  }
  TORCH_CHECK_TYPE(grad.scalar_type() == a.scalar_type() && weights.scalar_type() == a.scalar_type() &&
                       b.scalar_type() == a.scalar_type(),
                   "contrastive_loss_backward: dtypes differ (grad ", grad.scalar_type(), ", weights ",
                   weights.scalar_type(), ", a ", a.scalar_type(), ", b ", b.scalar_type(), ")");
  TORCH_CHECK_VALUE(grad.device() == a.device() && weights.device() == a.device() && b.device() == a.device() &&
                        la.device() == a.device() && lb.device() == a.device(),
                    "contrastive_loss_backward: all inputs must be on one device (grad: ", grad.device(),
                    ", weights: ", weights.device(), ", a: ", a.device(), ", b: ", b.device(), ", labels_a: ",
                    la.device(), ", labels_b: ", lb.device(), ")");
}

}  // namespace contrastive
}  // namespace emofast
