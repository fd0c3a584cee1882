// Autograd kernel of emofast::pathnet, device-generic: dispatches below autograd to the CPU or
// CUDA kernels of pathnet_forward_train / pathnet_backward.
//
// C++ rather than torch.library.register_autograd for the same reason as the contrastive loss:
// a Python autograd kernel costs ~80 us per call here, a sizeable share of a PathNet training
// step on the papers' shapes.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <vector>

namespace emofast {
namespace pathnet {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, std::vector<at::Tensor>> call_forward_train(const at::Tensor& x, at::TensorList weights,
                                                                  at::TensorList biases, const at::Tensor& path) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("emofast::pathnet_forward_train", "")
                       .typed<std::tuple<at::Tensor, std::vector<at::Tensor>>(
                           const at::Tensor&, at::TensorList, at::TensorList, const at::Tensor&)>();
  return op.call(x, weights, biases, path);
}

std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> call_backward(
    const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
    const at::Tensor& frozen, at::TensorList saved, bool need_grad_x) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("emofast::pathnet_backward", "")
                       .typed<std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>>(
                           const at::Tensor&, const at::Tensor&, at::TensorList, at::TensorList, const at::Tensor&,
                           const at::Tensor&, at::TensorList, bool)>();
  return op.call(grad, x, weights, biases, path, frozen, saved, need_grad_x);
}

class PathNetFunction : public torch::autograd::Function<PathNetFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                            const at::Tensor& path, const at::Tensor& frozen) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, saved] = call_forward_train(x, weights, biases, path);
    const int64_t L = static_cast<int64_t>(weights.size());
    variable_list keep;
    keep.push_back(x);
    keep.push_back(path);
    keep.push_back(frozen);
    for (const auto& w : weights) keep.push_back(w);
    for (const auto& b : biases) keep.push_back(b);
    for (const auto& s : saved) keep.push_back(s);
    ctx->save_for_backward(keep);
    ctx->saved_data["L"] = L;
    ctx->saved_data["need_grad_x"] = x.requires_grad();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const int64_t L = ctx->saved_data["L"].toInt();
    const bool need_grad_x = ctx->saved_data["need_grad_x"].toBool();
    const std::vector<at::Tensor> weights(s.begin() + 3, s.begin() + 3 + L);
    const std::vector<at::Tensor> biases(s.begin() + 3 + L, s.begin() + 3 + 2 * L);
    const std::vector<at::Tensor> saved(s.begin() + 3 + 2 * L, s.end());
    auto [gx, gw, gb] = call_backward(grads[0], s[0], weights, biases, s[1], s[2], saved, need_grad_x);
    variable_list out;
    out.push_back(need_grad_x ? gx : at::Tensor());
    for (auto& t : gw) out.push_back(t);
    for (auto& t : gb) out.push_back(t);
    out.push_back(at::Tensor());  // path
    out.push_back(at::Tensor());  // frozen
    return out;
  }
};

at::Tensor pathnet_autograd(const at::Tensor& x, at::TensorList weights, at::TensorList biases, const at::Tensor& path,
                            const at::Tensor& frozen) {
  bool any = x.requires_grad();
  for (const auto& w : weights) any = any || w.requires_grad();
  for (const auto& b : biases) any = any || b.requires_grad();
  if (!(at::GradMode::is_enabled() && any)) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("emofast::pathnet", "")
                         .typed<at::Tensor(const at::Tensor&, at::TensorList, at::TensorList, const at::Tensor&,
                                           const at::Tensor&)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    return op.call(x, weights, biases, path, frozen);
  }
  return PathNetFunction::apply(x, weights, biases, path, frozen);
}

}  // namespace

TORCH_LIBRARY_IMPL(emofast, Autograd, m) {
  m.impl("pathnet", &pathnet_autograd);
}

}  // namespace pathnet
}  // namespace emofast
