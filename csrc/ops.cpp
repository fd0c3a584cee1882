// Operator schemas of the emofast library: the only file that knows every op.
// One folder per op family, csrc/<family>/: the kernels register themselves per device with
// TORCH_LIBRARY_IMPL in <family>_cpu.cpp and cuda/<family>_cuda.cpp (CUDA builds only), the
// autograd kernels in <family>_autograd.cpp; fake (meta) kernels are registered from Python
// (emofast/ops/*.py) with torch.library.register_fake.
#include <Python.h>
#include <torch/library.h>

extern "C" {
// Importing emofast._C loads this shared library, which runs the static registrations below.
// The Python module itself is empty.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

TORCH_LIBRARY(emofast, m) {
  // Fused pairwise contrastive loss over all Ka x Kb pairs of two batches (or the pairs i < j of
  // one batch when `upper`). form: 0 paper (1/2 d^2 | 1/2 max(0, m - d^2)), 1 Hadsell
  // (1/2 d^2 | 1/2 max(0, m - d)^2). reduction: 0 none (Ka x Kb), 1 mean, 2 sum.
  // Autograd lives in C++ (contrastive_autograd.cpp): at the papers' K = 2 the op is pure dispatch
  // overhead, and a Python autograd kernel would cost more than the whole computation.
  m.def(
      "contrastive_loss(Tensor a, Tensor b, Tensor labels_a, Tensor labels_b, float margin, "
      "int form, int reduction, bool upper) -> Tensor");
  // Forward that also returns weights[i, j] = d loss_ij / d (d^2_ij), which the backward applies
  // to a and b without any Ka x Kb x D temporary.
  m.def(
      "contrastive_loss_forward(Tensor a, Tensor b, Tensor labels_a, Tensor labels_b, float margin, "
      "int form, int reduction, bool upper) -> (Tensor, Tensor)");
  // The labels let the CPU kernel apply the positive pairs (weight 1/2 each) through per-class sums
  // of the features in O((Ka + Kb) D) instead of a (Ka, Kb) x (Kb, D) product.
  m.def(
      "contrastive_loss_backward(Tensor grad, Tensor weights, Tensor a, Tensor b, Tensor labels_a, "
      "Tensor labels_b, int reduction, bool upper) -> (Tensor, Tensor)");
  // Batched masked-module PathNet (csrc/pathnet/pathnet.h, pathnet.cpp): L layers of M modules, weights[l]
  // (M, in_l, H), biases[l] (M, H); path a bool mask (P, L, M) or an integer genotype (P, L, N);
  // x (B, in) shared by all pathways or (P, B, in); output (P, B, H), each layer the mean of its
  // active modules' ReLU outputs. frozen (L, M) bool: modules that receive no gradient.
  // Autograd lives in C++ (pathnet_autograd.cpp).
  m.def("pathnet(Tensor x, Tensor[] weights, Tensor[] biases, Tensor path, Tensor frozen) -> Tensor");
  // Forward that also returns what the backward needs: [pre-activations Z_0..Z_{L-1} (G, B, M*H),
  // layer outputs A_0..A_{L-2} (P, B, H)].
  m.def("pathnet_forward_train(Tensor x, Tensor[] weights, Tensor[] biases, Tensor path) -> (Tensor, Tensor[])");
  // Dense gradients (zero for inactive or frozen modules); grad_x is empty unless need_grad_x.
  m.def(
      "pathnet_backward(Tensor grad, Tensor x, Tensor[] weights, Tensor[] biases, Tensor path, Tensor frozen, "
      "Tensor[] saved, bool need_grad_x) -> (Tensor, Tensor[], Tensor[])");
  // Fused backward + SGD step: w -= lr * dL/dw in place on active, unfrozen modules only (the
  // gradients of pathways sharing a module add up); no gradient tensor is materialised.
  m.def(
      "pathnet_sgd_(Tensor grad, Tensor x, Tensor(a!)[] weights, Tensor(b!)[] biases, Tensor path, Tensor frozen, "
      "Tensor[] saved, float lr) -> ()");
}
