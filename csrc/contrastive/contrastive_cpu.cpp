// Fused pairwise contrastive loss: registration of the CPU kernels (forward in
// contrastive_cpu_forward.cpp, backward in contrastive_cpu_backward.cpp).
#include "contrastive/contrastive_cpu.h"

#include <torch/library.h>

namespace emofast {
namespace contrastive {

TORCH_LIBRARY_IMPL(emofast, CPU, m) {
  m.impl("contrastive_loss", &contrastive_loss_cpu);
  m.impl("contrastive_loss_forward", &contrastive_loss_forward_cpu);
  m.impl("contrastive_loss_backward", &contrastive_loss_backward_cpu);
}

}  // namespace contrastive
}  // namespace emofast
