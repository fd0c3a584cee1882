// Batched masked-module PathNet: the interface between the device-generic driver (pathnet.cpp)
// and the device files (pathnet_cpu.cpp, cuda/pathnet_cuda.cpp); host side, ATen.
//
// A stack of L layers; layer l has M modules, module m computing relu(a @ W_l[m] + b_l[m]) with
// W_l of logical shape (M, in_l, H) and b_l of shape (M, H). A population of P pathways is a bool
// mask (P, L, M) or an integer genotype (P, L, N) whose repeated genes collapse to one module.
// Layer l of pathway p outputs the MEAN of its active modules' outputs.
//
//
// Every GEMM goes through ATen (MKL/OpenBLAS on CPU, cuBLAS on CUDA), called by the driver; the
// element-wise parts (bias + finiteness check, ReLU + per-pathway mean, and its backward) are the
// only device kernels, behind the Backend interface below. pathnet.cpp describes how the driver
// splits the work.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <cstdint>
#include <tuple>
#include <vector>

namespace emofast {
namespace pathnet {

// Per-pathway layers with at most this many input features stack the pathways in one GEMM over
// the union of active modules (the extra columns are cheap); wider ones run per pathway.
constexpr int64_t kStackedMaxIn = 256;

// Element-wise device kernels (see the file comment). Tensors are contiguous and on the device.
struct Backend {
  virtual ~Backend() = default;
  // Z (G, R, M*H) += bias (M, H) on the columns of modules with gmask[g or 0, m] != 0 (gmask has
  // G or 1 rows). Returns the number of non-finite results among those columns.
  virtual int64_t add_bias(at::Tensor& Z, const at::Tensor& bias, const at::Tensor& gmask) = 0;
  // out (P, R, H) = inv_k[p] * sum_{m: mask[p, m]} relu(Z[g, r, m*H + h]), g = p or 0 when G == 1.
  virtual void relu_mix(const at::Tensor& Z, const at::Tensor& mask, const at::Tensor& inv_k,
                        at::Tensor& out) = 0;
  // dZ (P, R, M*H) = mask[p, m] ? grad[p, r, h] * inv_k[p] * (Z[g, r, m*H + h] > 0) : 0.
  virtual void relu_mix_backward(const at::Tensor& grad, const at::Tensor& Z, const at::Tensor& mask,
                                 const at::Tensor& inv_k, at::Tensor& dZ) = 0;
  // A narrow per-pathway layer (in <= kStackedMaxIn) in one go: A (P, R, in), w (M, in, H) any
  // layout, bias (M, H); fills out (P, R, H) and, when Z is defined, the pre-activations Z
  // (P, R, M*H) (zero in columns no pathway uses). Returns the non-finite count. Default: one GEMM
  // per run of the union's modules over the stacked P*R rows, then add_bias and relu_mix.
  virtual int64_t narrow_layer(const at::Tensor& A, const at::Tensor& w, const at::Tensor& bias, const at::Tensor& mask,
                               const at::Tensor& union_mask, const uint8_t* uni, const at::Tensor& inv_k, at::Tensor Z,
                               at::Tensor& out);
};

// The four ops, device-generic: argument checks, then the driver on the given backend (pathnet.cpp).
// run_backward returns (grad_x, grad_weights, grad_biases); run_sgd updates weights and biases in place.
at::Tensor run_pathnet(Backend& be, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                       const at::Tensor& path, const at::Tensor& frozen);
std::tuple<at::Tensor, std::vector<at::Tensor>> run_forward_train(Backend& be, const at::Tensor& x,
                                                                  at::TensorList weights, at::TensorList biases,
                                                                  const at::Tensor& path);
std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> run_backward(
    Backend& be, const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
    const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, bool need_grad_x);
void run_sgd(Backend& be, const at::Tensor& grad, const at::Tensor& x, at::TensorList weights,
             at::TensorList biases, const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, double lr);

// The kernels of the four ops on one device, for its TORCH_LIBRARY_IMPL block:
// Kernels<B>::register_in(m). B is the device's Backend; B(op, x) checks that x is on the device
// (with a ValueError naming op) and may hold a device guard for the call.
template <class B>
struct Kernels {
  static at::Tensor pathnet(const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                            const at::Tensor& path, const at::Tensor& frozen) {
    B be("pathnet", x);
    return run_pathnet(be, x, weights, biases, path, frozen);
  }
  static std::tuple<at::Tensor, std::vector<at::Tensor>> forward_train(const at::Tensor& x, at::TensorList weights,
                                                                      at::TensorList biases, const at::Tensor& path) {
    B be("pathnet_forward_train", x);
    return run_forward_train(be, x, weights, biases, path);
  }
  static std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> backward(
      const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
      const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, bool need_grad_x) {
    B be("pathnet_backward", x);
    return run_backward(be, grad, x, weights, biases, path, frozen, saved, need_grad_x);
  }
  static void sgd(const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                  const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, double lr) {
    B be("pathnet_sgd_", x);
    run_sgd(be, grad, x, weights, biases, path, frozen, saved, lr);
  }
  static void register_in(torch::Library& m) {
    m.impl("pathnet", &pathnet);
    m.impl("pathnet_forward_train", &forward_train);
    m.impl("pathnet_backward", &backward);
    m.impl("pathnet_sgd_", &sgd);
  }
};

}  // namespace pathnet
}  // namespace emofast
