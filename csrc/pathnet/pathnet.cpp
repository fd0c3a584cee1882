// Batched masked-module PathNet: the device-generic driver shared by the CPU and CUDA kernels
// (host side, ATen): input checks, the host-side plan of a population, the forward and backward of
// the whole stack. The interface (Backend, the run_* entry points) is in pathnet.h.
//
// Work split: every GEMM goes through ATen (MKL/OpenBLAS on CPU, cuBLAS on CUDA) on column runs of
// modules; the element-wise parts (bias + finiteness check, ReLU + per-pathway mean, and its
// backward) are the only device kernels, behind the Backend interface of pathnet.h.
//  * Layer 1 with a shared input (B, in): ONE GEMM per run of consecutive modules in the UNION of
//    the population's active modules (a single GEMM when the weights use the merged layout below and
//    the union is contiguous), then every pathway mixes its own modules' columns. On CPU the runs'
//    columns are shared out over the intra-op threads, one single-threaded GEMM per share
//    (for_runs_split), and so are the weight updates of the backward.
//  * Per-pathway inputs (P, B, in) with small `in` (deeper layers, in = H): the P*B rows are
//    stacked and multiplied by the union's columns in one GEMM per run.
//  * Per-pathway inputs with large `in`: one GEMM per (pathway, run of its own modules).
// Merged layout: a weight whose (M, in, H) view has strides (H*in, 1, in), i.e. a contiguous
// (M, H, in) tensor transposed (nn.Linear's (out, in) per module), exposes any run of consecutive
// modules [m0, m0 + r) as one (in, r*H) matrix without a copy. Other layouts run per module.
// Backward: dZ = grad * (Z > 0) / k for active (pathway, module) pairs, zero elsewhere; weight and
// bias gradients are written only for modules active in some pathway and not frozen; the input
// gradient flows through every active module, frozen or not.
#include "pathnet/pathnet.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace emofast {
namespace pathnet {
namespace {

// Host-side description of one call.
struct Plan {
  int64_t P = 0, L = 0, M = 0, H = 0, B = 0;
  bool shared = false;                       // layer 1 input (B, in) shared by all pathways
  std::vector<uint8_t> mask;                 // (P, L, M) active modules
  std::vector<std::vector<uint8_t>> uni;     // [l][m]: active in some pathway
  at::Tensor mask_dev;                       // (L, P, M) uint8 on the device
  at::Tensor inv_k_dev;                      // (L, P) 1 / number of active modules, x's dtype
  at::Tensor union_dev;                      // (L, 1, M) uint8 on the device
  const uint8_t* active(int64_t p, int64_t l) const { return mask.data() + (p * L + l) * M; }
};

void check_layers(const char* op, const at::Tensor& x, at::TensorList weights, at::TensorList biases) {
  TORCH_CHECK_VALUE(weights.size() >= 1, op, ": need at least one layer, got 0 weight tensors");
  TORCH_CHECK_VALUE(weights.size() == biases.size(), op, ": got ", weights.size(), " weight tensors but ",
                    biases.size(), " bias tensors");
  TORCH_CHECK_VALUE(x.dim() == 2 || x.dim() == 3, op,
                    ": x must be (B, in) shared by all pathways or (P, B, in), got shape ", x.sizes());
  TORCH_CHECK_TYPE(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
                   ": x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK_VALUE(x.size(-2) > 0 && x.size(-1) > 0, op, ": empty input x of shape ", x.sizes());
  const at::Tensor& w0 = weights[0];
  TORCH_CHECK_VALUE(w0.dim() == 3, op, ": weights[0] must be (M, in, H), got shape ", w0.sizes());
  const int64_t M = w0.size(0), H = w0.size(2);
  TORCH_CHECK_VALUE(M > 0 && H > 0, op, ": weights[0] has no modules or no units: shape ", w0.sizes());
  for (size_t l = 0; l < weights.size(); ++l) {
    const at::Tensor& w = weights[l];
    const at::Tensor& b = biases[l];
    const int64_t in = l == 0 ? x.size(-1) : H;
    TORCH_CHECK_VALUE(w.dim() == 3 && w.size(0) == M && w.size(1) == in && w.size(2) == H, op, ": weights[", l,
                      "] must have shape (M, in, H) = (", M, ", ", in, ", ", H, "), got ", w.sizes());
    TORCH_CHECK_VALUE(b.dim() == 2 && b.size(0) == M && b.size(1) == H, op, ": biases[", l, "] must have shape (", M,
                      ", ", H, "), got ", b.sizes());
    TORCH_CHECK_TYPE(w.scalar_type() == x.scalar_type() && b.scalar_type() == x.scalar_type(), op, ": layer ", l,
                     " dtypes (weight ", w.scalar_type(), ", bias ", b.scalar_type(), ") differ from x (",
                     x.scalar_type(), ")");
    TORCH_CHECK_VALUE(w.device() == x.device() && b.device() == x.device(), op, ": layer ", l, " is on ", w.device(),
                      " / ", b.device(), " but x is on ", x.device(), "; all inputs must be on one device");
  }
}

void check_frozen(const char* op, const at::Tensor& frozen, const at::Tensor& x, int64_t L, int64_t M) {
  TORCH_CHECK_TYPE(frozen.scalar_type() == at::kBool, op, ": frozen must be a bool tensor (L, M), got ",
                   frozen.scalar_type());
  TORCH_CHECK_VALUE(frozen.dim() == 2 && frozen.size(0) == L && frozen.size(1) == M, op, ": frozen must have shape (",
                    L, ", ", M, "), got ", frozen.sizes());
  TORCH_CHECK_VALUE(frozen.device() == x.device(), op, ": frozen is on ", frozen.device(), " but x is on ", x.device());
}

Plan make_plan(const char* op, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
               const at::Tensor& path) {
  check_layers(op, x, weights, biases);
  Plan plan;
  plan.L = static_cast<int64_t>(weights.size());
  plan.M = weights[0].size(0);
  plan.H = weights[0].size(2);
  plan.B = x.size(-2);
  plan.shared = x.dim() == 2;
  const int64_t L = plan.L, M = plan.M;
  TORCH_CHECK_VALUE(path.device() == x.device(), op, ": path is on ", path.device(), " but x is on ", x.device());
  TORCH_CHECK_VALUE(path.dim() == 3 && path.size(0) > 0 && path.size(1) == L, op,
                    ": path must be a mask (P, L, M) or a genotype (P, L, N) with L = ", L, " and P >= 1, got shape ",
                    path.sizes());
  const int64_t P = plan.P = path.size(0);
  if (!plan.shared) {
    TORCH_CHECK_VALUE(x.size(0) == P, op, ": per-pathway input x has ", x.size(0), " pathways but path has ", P);
  }
  plan.mask.assign(P * L * M, 0);
  const at::Tensor hp = path.to(at::kCPU).contiguous();
  if (hp.scalar_type() == at::kBool) {
    TORCH_CHECK_VALUE(path.size(2) == M, op, ": a bool mask must have shape (P, L, M) = (", P, ", ", L, ", ", M,
                      "), got ", path.sizes());
    const bool* src = hp.data_ptr<bool>();
    for (int64_t i = 0; i < P * L * M; ++i) plan.mask[i] = src[i] ? 1 : 0;
  } else {
    TORCH_CHECK_TYPE(hp.scalar_type() == at::kLong || hp.scalar_type() == at::kInt, op,
                     ": path must be a bool mask or an int64/int32 genotype, got ", hp.scalar_type());
    TORCH_CHECK_VALUE(path.size(2) > 0, op, ": a genotype needs N >= 1 genes per layer, got shape ", path.sizes());
    const at::Tensor g = hp.to(at::kLong);
    const int64_t* src = g.data_ptr<int64_t>();
    const int64_t N = path.size(2);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t n = 0; n < N; ++n) {
          const int64_t gene = src[(p * L + l) * N + n];
          TORCH_CHECK_VALUE(gene >= 0 && gene < M, op, ": gene ", gene, " of pathway ", p, ", layer ", l,
                            " is out of range [0, ", M, ")");
          plan.mask[(p * L + l) * M + gene] = 1;  // repeated genes collapse
        }
  }
  plan.uni.assign(L, std::vector<uint8_t>(M, 0));
  std::vector<double> inv_k(L * P);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t l = 0; l < L; ++l) {
      int64_t k = 0;
      const uint8_t* a = plan.active(p, l);
      for (int64_t m = 0; m < M; ++m) {
        k += a[m];
        plan.uni[l][m] |= a[m];
      }
      TORCH_CHECK_VALUE(k > 0, op, ": pathway ", p, " has no active module in layer ", l);
      inv_k[l * P + p] = 1.0 / static_cast<double>(k);
    }
  // Device copies: (L, P, M) masks, (L, 1, M) unions, (L, P) inverse counts.
  at::Tensor m_host = at::empty({L, P, M}, at::kByte);
  at::Tensor u_host = at::empty({L, 1, M}, at::kByte);
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t p = 0; p < P; ++p)
      std::copy(plan.active(p, l), plan.active(p, l) + M, m_host.data_ptr<uint8_t>() + (l * P + p) * M);
    std::copy(plan.uni[l].begin(), plan.uni[l].end(), u_host.data_ptr<uint8_t>() + l * M);
  }
  at::Tensor k_host = at::from_blob(inv_k.data(), {L, P}, at::kDouble).to(x.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  plan.mask_dev = m_host.to(x.device());
  plan.union_dev = u_host.to(x.device());
  plan.inv_k_dev = k_host.to(x.device());
  return plan;
}

// True when the (M, in, H) weight is a transposed contiguous (M, H, in) tensor, so that modules
// [m0, m0 + r) form one (in, r*H) matrix.
bool mergeable(const at::Tensor& w) {
  const int64_t in = w.size(1), H = w.size(2);
  return w.stride(0) == H * in && w.stride(1) == 1 && w.stride(2) == in && in > 1 && H > 1;
}

// (in, r*H) matrix of modules [m0, m0 + r) (r == 1 for any layout).
at::Tensor run_view(const at::Tensor& w, int64_t m0, int64_t r) {
  if (r == 1) return w.select(0, m0);
  const int64_t in = w.size(1), H = w.size(2);
  return w.as_strided({in, r * H}, {1, in}, w.storage_offset() + m0 * H * in);
}

// Runs [m0, m0 + r) of selected modules; consecutive ones merge when `merge`.
std::vector<std::pair<int64_t, int64_t>> runs(const uint8_t* sel, int64_t M, bool merge) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t m = 0; m < M; ++m) {
    if (!sel[m]) continue;
    if (merge && !out.empty() && out.back().first + out.back().second == m) {
      ++out.back().second;
    } else {
      out.emplace_back(m, 1);
    }
  }
  return out;
}

// Multiply-adds above which the GEMMs of a layer's runs are spread over the intra-op threads.
constexpr int64_t kSplitGemmWork = int64_t(1) << 22;

// Calls f(m0, r) for every run, on CPU with the modules shared out over the intra-op threads:
// each thread gets one contiguous share of ~total/T modules (runs cut where needed) and runs its
// GEMMs single-threaded, so there is one fork/join per layer. MKL's own threading of these
// skinny GEMMs (64 rows, K = 12288, a few hundred columns) synchronises its threads inside the
// call, which on this shared 2-core machine cost more than the split: same run, loaded, the
// 64x12288 @ 12288x400 GEMM as two single-threaded halves took 10.3-14.0 ms against 13.4-20.6 ms
// threaded by MKL (min-median). Only for calls writing disjoint modules (no accumulation).
template <typename F>
void for_runs_split(const std::vector<std::pair<int64_t, int64_t>>& rs, bool cpu, int64_t work_per_module,
                    const F& f) {
  int64_t total = 0;
  for (const auto& pr : rs) total += pr.second;
  const int64_t T = cpu ? std::min<int64_t>(at::get_num_threads(), total) : 1;
  if (T <= 1 || total * work_per_module < kSplitGemmWork || at::in_parallel_region()) {
    for (const auto& [m0, r] : rs) f(m0, r);
    return;
  }
  std::vector<std::vector<std::pair<int64_t, int64_t>>> parts(T);
  int64_t t = 0, filled = 0;
  for (auto [m0, r] : rs) {
    while (r > 0) {
      const int64_t quota = (total * (t + 1)) / T - filled;  // modules still owed to part t
      const int64_t take = std::min(r, quota);
      if (take > 0) {
        parts[t].emplace_back(m0, take);
        m0 += take;
        r -= take;
        filled += take;
      }
      if ((total * (t + 1)) / T == filled && t + 1 < T) ++t;
    }
  }
  // The workers run the ATen calls with the caller's thread-local state (below autograd, grad
  // mode), as the calling thread would.
  const at::ThreadLocalState tls;
  at::parallel_for(0, T, 1, [&](int64_t t0, int64_t t1) {
    at::ThreadLocalStateGuard guard(tls);
    for (int64_t i = t0; i < t1; ++i)
      for (const auto& [m0, r] : parts[i]) f(m0, r);
  });
}

}  // namespace

int64_t Backend::narrow_layer(const at::Tensor& A, const at::Tensor& w, const at::Tensor& bias,
                              const at::Tensor& mask, const at::Tensor& union_mask, const uint8_t* uni,
                              const at::Tensor& inv_k, at::Tensor Z, at::Tensor& out) {
  const int64_t P = A.size(0), R = A.size(1), in = A.size(2), M = w.size(0), H = w.size(2);
  if (!Z.defined()) Z = at::zeros({P, R, M * H}, A.options());
  at::Tensor zf = Z.view({P * R, M * H});
  const at::Tensor af = A.reshape({P * R, in});
  const bool merge = mergeable(w);
  for (auto [m0, r] : runs(uni, M, merge)) {
    at::Tensor dst = zf.narrow(1, m0 * H, r * H);
    at::mm_out(dst, af, run_view(w, m0, r));
  }
  const int64_t nbad = add_bias(Z, bias, union_mask);
  relu_mix(Z, mask, inv_k, out);
  return nbad;
}

namespace {

// Forward of the whole stack (pre-activation buffers are zero-filled so that saved tensors are
// deterministic in the columns of modules no pathway uses). When `saved` is given it receives [Z_0 .. Z_{L-1}, A_0 .. A_{L-2}]:
// the pre-activations (bias added) of every layer and the outputs of all layers but the last.
at::Tensor forward_impl(Backend& be, const char* op, const at::Tensor& x_, at::TensorList weights,
                        at::TensorList biases_, const at::Tensor& path, std::vector<at::Tensor>* saved) {
  const Plan plan = make_plan(op, x_, weights, biases_, path);
  const int64_t P = plan.P, L = plan.L, M = plan.M, H = plan.H, B = plan.B;
  const at::Tensor x = x_.contiguous();
  std::vector<at::Tensor> zs, as;
  at::Tensor a = x;
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor& w = weights[l];
    const bool merge = mergeable(w);
    const int64_t in = w.size(1);
    const bool shared = l == 0 && plan.shared;
    at::Tensor Z, gmask;
    if (shared) {
      Z = at::zeros({1, B, M * H}, x.options());
      at::Tensor z2 = Z.select(0, 0);
      for_runs_split(runs(plan.uni[l].data(), M, merge), x.is_cpu(), B * in * H, [&](int64_t m0, int64_t r) {
        at::Tensor dst = z2.narrow(1, m0 * H, r * H);
        at::mm_out(dst, a, run_view(w, m0, r));
      });
      gmask = plan.union_dev.select(0, l);
    } else if (in > kStackedMaxIn) {
      Z = at::zeros({P, B, M * H}, x.options());
      for (int64_t p = 0; p < P; ++p) {
        at::Tensor zp = Z.select(0, p);
        const at::Tensor ap = a.select(0, p);
        for (auto [m0, r] : runs(plan.active(p, l), M, merge))
        {
          at::Tensor dst = zp.narrow(1, m0 * H, r * H);
          at::mm_out(dst, ap, run_view(w, m0, r));
        }
      }
      gmask = plan.mask_dev.select(0, l);
    }
    const at::Tensor bias = biases_[l].contiguous();
    at::Tensor out = at::empty({P, B, H}, x.options());
    int64_t nbad = 0;
    if (Z.defined()) {
      nbad = be.add_bias(Z, bias, gmask);
      be.relu_mix(Z, plan.mask_dev.select(0, l), plan.inv_k_dev.select(0, l), out);
    } else {  // narrow per-pathway layer
      if (saved) Z = at::zeros({P, B, M * H}, x.options());
      nbad = be.narrow_layer(a, w, bias, plan.mask_dev.select(0, l), plan.union_dev.select(0, l),
                             plan.uni[l].data(), plan.inv_k_dev.select(0, l), Z, out);
    }
    TORCH_CHECK_VALUE(nbad == 0, op, ": ", nbad, " non-finite pre-activation(s) in layer ", l,
                      ": the input x or the active modules' weights/biases contain NaN or Inf");
    if (saved) {
      zs.push_back(Z);
      if (l + 1 < L) as.push_back(out);
    }
    a = out;
  }
  if (saved) {
    saved->clear();
    for (auto& z : zs) saved->push_back(z);
    for (auto& t : as) saved->push_back(t);
  }
  return a;
}

void check_saved(const char* op, const Plan& plan, at::TensorList saved, const at::Tensor& grad) {
  const int64_t P = plan.P, L = plan.L, M = plan.M, H = plan.H, B = plan.B;
  TORCH_CHECK_VALUE(static_cast<int64_t>(saved.size()) == 2 * L - 1, op, ": expected ", 2 * L - 1,
                    " saved tensors from pathnet_forward_train, got ", saved.size());
  for (int64_t l = 0; l < L; ++l) {
    const int64_t G = (l == 0 && plan.shared) ? 1 : P;
    TORCH_CHECK_VALUE(saved[l].sizes() == at::IntArrayRef({G, B, M * H}), op, ": saved pre-activation ", l,
                      " has shape ", saved[l].sizes(), ", expected (", G, ", ", B, ", ", M * H,
                      "): was the forward run with the same x and path?");
  }
  for (int64_t l = 0; l + 1 < L; ++l)
    TORCH_CHECK_VALUE(saved[L + l].sizes() == at::IntArrayRef({P, B, H}), op, ": saved activation ", l, " has shape ",
                      saved[L + l].sizes(), ", expected (", P, ", ", B, ", ", H, ")");
  TORCH_CHECK_VALUE(grad.sizes() == at::IntArrayRef({P, B, H}), op, ": grad must have shape (", P, ", ", B, ", ", H,
                    "), got ", grad.sizes());
  TORCH_CHECK_TYPE(grad.scalar_type() == saved[0].scalar_type(), op, ": grad dtype ", grad.scalar_type(),
                   " differs from the forward's ", saved[0].scalar_type());
  TORCH_CHECK_VALUE(grad.device() == saved[0].device(), op, ": grad is on ", grad.device(), " but the forward ran on ",
                    saved[0].device());
}

// Backward of the whole stack. With lr == nullptr, dense gradients are returned in grad_w / grad_b
// (zero for inactive or frozen modules); otherwise weights and biases are updated in place,
// w -= lr * dL/dw, on active unfrozen modules only, and nothing else is written.
at::Tensor backward_impl(Backend& be, const char* op, const at::Tensor& grad_, const at::Tensor& x_,
                         at::TensorList weights, at::TensorList biases, const at::Tensor& path,
                         const at::Tensor& frozen, at::TensorList saved, bool need_grad_x,
                         const double* lr, std::vector<at::Tensor>* grad_w,
                         std::vector<at::Tensor>* grad_b) {
  const Plan plan = make_plan(op, x_, weights, biases, path);
  const int64_t P = plan.P, L = plan.L, M = plan.M, H = plan.H, B = plan.B;
  check_frozen(op, frozen, x_, L, M);
  check_saved(op, plan, saved, grad_);
  const at::Tensor x = x_.contiguous();
  const at::Tensor fz = frozen.to(at::kCPU).contiguous();
  const at::Tensor notfrozen = frozen.logical_not().to(x.scalar_type());  // (L, M) on the device
  if (grad_w) {
    grad_w->assign(L, at::Tensor());
    grad_b->assign(L, at::Tensor());
  }
  at::Tensor g = grad_.contiguous();
  at::Tensor grad_x = at::empty({0}, x.options());
  for (int64_t l = L - 1; l >= 0; --l) {
    const at::Tensor& w = weights[l];
    const bool merge = mergeable(w);
    const int64_t in = w.size(1);
    const bool shared = l == 0 && plan.shared;
    const at::Tensor& Z = saved[l];
    at::Tensor dZ = at::empty({P, B, M * H}, x.options());  // relu_mix_backward writes every element
    be.relu_mix_backward(g, Z, plan.mask_dev.select(0, l), plan.inv_k_dev.select(0, l), dZ);
    const at::Tensor D = shared ? (P == 1 ? dZ.select(0, 0) : dZ.sum(0)) : dZ.view({P * B, M * H});
    const at::Tensor a_in = l == 0 ? (shared ? x : x.view({P * B, in})) : saved[L + l - 1].view({P * B, in});
    // Modules receiving parameter updates: active in some pathway and not frozen.
    std::vector<uint8_t> wsel(M);
    const bool* fzp = fz.data_ptr<bool>() + l * M;
    for (int64_t m = 0; m < M; ++m) wsel[m] = plan.uni[l][m] && !fzp[m];
    // Input gradient first (it needs the weights before any in-place update).
    if (l > 0 || need_grad_x) {
      at::Tensor da = at::zeros({D.size(0), in}, x.options());
      for (auto [m0, r] : runs(plan.uni[l].data(), M, merge))
        da.addmm_(D.narrow(1, m0 * H, r * H), run_view(w, m0, r).t());
      if (l > 0) {
        g = da.view({P, B, in});
      } else {
        grad_x = shared ? da : da.view({P, B, in});
      }
    }
    at::Tensor db = D.view({D.size(0), M, H}).sum(0);
    db.mul_(notfrozen.select(0, l).unsqueeze(1));
    if (lr) {
      at::Tensor wl = w;  // in-place update through a view of the caller's tensor
      for_runs_split(runs(wsel.data(), M, merge), x.is_cpu(), D.size(0) * in * H, [&](int64_t m0, int64_t r) {
        run_view(wl, m0, r).addmm_(a_in.t(), D.narrow(1, m0 * H, r * H), 1.0, -*lr);
      });
      at::Tensor bl = biases[l];
      bl.sub_(db, *lr);
    } else {
      at::Tensor gw = at::zeros_like(w);
      const bool gmerge = merge && gw.strides() == w.strides();
      for_runs_split(runs(wsel.data(), M, gmerge), x.is_cpu(), D.size(0) * in * H, [&](int64_t m0, int64_t r) {
        at::Tensor dst = run_view(gw, m0, r);
        at::mm_out(dst, a_in.t(), D.narrow(1, m0 * H, r * H));
      });
      (*grad_w)[l] = gw;
      (*grad_b)[l] = db;
    }
  }
  return grad_x;
}

}  // namespace

at::Tensor run_pathnet(Backend& be, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
                       const at::Tensor& path, const at::Tensor& frozen) {
  check_layers("pathnet", x, weights, biases);
  check_frozen("pathnet", frozen, x, static_cast<int64_t>(weights.size()), weights[0].size(0));
  return forward_impl(be, "pathnet", x, weights, biases, path, nullptr);
}

std::tuple<at::Tensor, std::vector<at::Tensor>> run_forward_train(Backend& be, const at::Tensor& x,
                                                                  at::TensorList weights, at::TensorList biases,
                                                                  const at::Tensor& path) {
  std::vector<at::Tensor> saved;
  at::Tensor out = forward_impl(be, "pathnet_forward_train", x, weights, biases, path, &saved);
  return {out, saved};
}

std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> run_backward(
    Backend& be, const at::Tensor& grad, const at::Tensor& x, at::TensorList weights, at::TensorList biases,
    const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, bool need_grad_x) {
  std::vector<at::Tensor> gw, gb;
  at::Tensor gx = backward_impl(be, "pathnet_backward", grad, x, weights, biases, path, frozen, saved, need_grad_x,
                                nullptr, &gw, &gb);
  return {gx, gw, gb};
}

void run_sgd(Backend& be, const at::Tensor& grad, const at::Tensor& x, at::TensorList weights,
             at::TensorList biases, const at::Tensor& path, const at::Tensor& frozen, at::TensorList saved, double lr) {
  TORCH_CHECK_VALUE(std::isfinite(lr), "pathnet_sgd_: lr must be finite, got ", lr);
  backward_impl(be, "pathnet_sgd_", grad, x, weights, biases, path, frozen, saved, false, &lr, nullptr, nullptr);
}

}  // namespace pathnet
}  // namespace emofast
