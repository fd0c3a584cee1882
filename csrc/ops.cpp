// Operator schemas of the emofast library: the only file that knows every op.
// Kernels register themselves per device in csrc/<family>/<family>_{cpu,cuda}.cpp with
// TORCH_LIBRARY_IMPL; autograd and fake (meta) kernels are registered from Python
// (emofast/ops/*.py) with torch.library.register_autograd / register_fake.
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
  m.def(
      "contrastive_loss_backward(Tensor grad, Tensor weights, Tensor a, Tensor b, int reduction, "
      "bool upper) -> (Tensor, Tensor)");
}
