// Autograd kernel of emofast::contrastive_loss, device-generic (dispatches below autograd to the
// CPU or CUDA kernels of contrastive_loss_forward / contrastive_loss_backward).
//
// Why C++ and not torch.library.register_autograd: at the papers' mini-batch of 2 per corpus the
// whole op costs a few microseconds of arithmetic, and a Python autograd kernel adds ~80 us per call
// on a 2-core machine (measured), more than the naive broadcast reference it replaces.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace emofast {
namespace contrastive {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor> call_forward(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                                const at::Tensor& lb, double margin, int64_t form,
                                                int64_t reduction, bool upper) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("emofast::contrastive_loss_forward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, const at::Tensor&, double,
                                                                 int64_t, int64_t, bool)>();
  return op.call(a, b, la, lb, margin, form, reduction, upper);
}

std::tuple<at::Tensor, at::Tensor> call_backward(const at::Tensor& grad, const at::Tensor& weights,
                                                 const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                                 const at::Tensor& lb, int64_t reduction, bool upper) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("emofast::contrastive_loss_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, const at::Tensor&, int64_t,
                                                                 bool)>();
  return op.call(grad, weights, a, b, la, lb, reduction, upper);
}

class ContrastiveLossFunction : public torch::autograd::Function<ContrastiveLossFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            const at::Tensor& la, const at::Tensor& lb, double margin, int64_t form,
                            int64_t reduction, bool upper) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [loss, weights] = call_forward(a, b, la, lb, margin, form, reduction, upper);
    ctx->save_for_backward({a, b, weights, la, lb});
    ctx->saved_data["reduction"] = reduction;
    ctx->saved_data["upper"] = upper;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [ga, gb] = call_backward(grads[0], saved[2], saved[0], saved[1], saved[3], saved[4], ctx->saved_data["reduction"].toInt(),
                                  ctx->saved_data["upper"].toBool());
    return {ga, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor contrastive_loss_autograd(const at::Tensor& a, const at::Tensor& b, const at::Tensor& la,
                                     const at::Tensor& lb, double margin, int64_t form, int64_t reduction,
                                     bool upper) {
  if (!(at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()))) {
    // Nothing to differentiate: skip the weights and call the plain kernel.
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("emofast::contrastive_loss", "")
                         .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                           const at::Tensor&, double, int64_t, int64_t, bool)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    return op.call(a, b, la, lb, margin, form, reduction, upper);
  }
  return ContrastiveLossFunction::apply(a, b, la, lb, margin, form, reduction, upper);
}

}  // namespace

TORCH_LIBRARY_IMPL(emofast, Autograd, m) {
  m.impl("contrastive_loss", &contrastive_loss_autograd);
}

}  // namespace contrastive
}  // namespace emofast
