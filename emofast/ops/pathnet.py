"""Batched masked-module PathNet (Fernando et al., 2017), as used by the PathNet transfer papers.

A stack of ``L`` layers; layer ``l`` holds ``M`` modules, module ``m`` computing
``relu(a @ W_l[m] + b_l[m])`` with ``W_l`` of shape ``(M, in_l, H)`` and ``b_l`` of shape ``(M, H)``
(``in_0`` is the input size, ``in_l = H`` after). A *population* of ``P`` pathways is either a bool
mask ``(P, L, M)`` or an integer genotype ``(P, L, N)`` of module indices in ``[0, M)``; repeated
genes in a layer collapse to one module. Layer ``l`` of pathway ``p`` outputs the **mean** (not the
sum) of the outputs of its active modules; the stack returns ``(P, B, H)``.

The native kernel evaluates the whole population in one call: with a shared input ``x (B, in)``
the first layer is one GEMM over the union of the active modules, and every pathway then averages
its own modules' columns. The backward writes gradients only into active, unfrozen modules (the
input gradient flows through frozen modules too). :func:`pathnet_sgd_` fuses the backward with
an in-place SGD step, so a training step never materialises a dense ``(M, in, H)`` gradient.

Layout note: a weight passed as ``w.transpose(1, 2)`` of a contiguous ``(M, H, in)`` tensor (one
``nn.Linear`` weight per module) lets runs of consecutive modules share a single GEMM;
:class:`emofast.nn.PathNet` stores its weights that way. Contiguous ``(M, in, H)`` weights work too,
one GEMM per module.

Subgradient convention (kernel and reference): ``relu'(0) = 0``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from emofast.errors import InputError

__all__ = [
    "pathnet",
    "pathnet_reference",
    "pathnet_forward_train",
    "pathnet_backward",
    "pathnet_sgd_",
    "genotype_to_mask",
]

_op = torch.ops.emofast.pathnet.default
_op_train = torch.ops.emofast.pathnet_forward_train.default
_op_backward = torch.ops.emofast.pathnet_backward.default
_op_sgd = torch.ops.emofast.pathnet_sgd_.default


def _as_list(tensors: Sequence[torch.Tensor], name: str) -> list[torch.Tensor]:
    if isinstance(tensors, torch.Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"pathnet: {name} must be a list or tuple of tensors, got {type(tensors).__name__}")
    out = list(tensors)
    for i, t in enumerate(out):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"pathnet: {name}[{i}] must be a torch.Tensor, got {type(t).__name__}")
    return out


def _check_tensor(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"pathnet: {name} must be a torch.Tensor, got {type(t).__name__}")


def _default_frozen(frozen: torch.Tensor | None, weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    if frozen is not None:
        _check_tensor(frozen, "frozen")
        return frozen
    m = weights[0].shape[0] if weights and weights[0].dim() >= 1 else 0
    return torch.zeros((len(weights), m), dtype=torch.bool, device=x.device)


def _check_devices(x: torch.Tensor, path: torch.Tensor, frozen: torch.Tensor, weights, biases) -> None:
    dev = x.device
    for name, t in [("path", path), ("frozen", frozen)] + [(f"weights[{i}]", w) for i, w in enumerate(weights)] + [
        (f"biases[{i}]", b) for i, b in enumerate(biases)
    ]:
        if t.device != dev:
            raise InputError(f"pathnet: {name} is on {t.device} but x is on {dev}; all inputs must be on one device")


def genotype_to_mask(genotypes: torch.Tensor, num_modules: int) -> torch.Tensor:
    """Convert genotypes ``(P, L, N)`` of module indices to bool masks ``(P, L, M)``.

    Repeated genes in a layer collapse to one active module.

    Parameters
    ----------
    genotypes : torch.Tensor
        Integer tensor ``(P, L, N)`` (or ``(L, N)`` for one pathway) with values in ``[0, num_modules)``.
    num_modules : int
        ``M``, the number of modules per layer.

    Returns
    -------
    torch.Tensor
        Bool mask of shape ``(P, L, M)`` (or ``(L, M)``).

    Raises
    ------
    emofast.errors.InputError
        (a ``ValueError``) A gene out of range, or a non-positive ``num_modules``.
    TypeError
        A non-integer tensor.
    """
    _check_tensor(genotypes, "genotypes")
    if genotypes.dtype.is_floating_point or genotypes.dtype == torch.bool or genotypes.is_complex():
        raise TypeError(f"genotype_to_mask: genotypes must be an integer tensor, got {genotypes.dtype}")
    if int(num_modules) < 1:
        raise InputError(f"genotype_to_mask: num_modules must be >= 1, got {num_modules}")
    g = genotypes.long()
    if g.numel() and (int(g.min()) < 0 or int(g.max()) >= num_modules):
        bad = g[(g < 0) | (g >= num_modules)][0].item()
        raise InputError(f"genotype_to_mask: gene {bad} is out of range [0, {num_modules})")
    mask = torch.zeros((*g.shape[:-1], int(num_modules)), dtype=torch.bool, device=g.device)
    return mask.scatter_(-1, g, True)


def pathnet(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    path: torch.Tensor,
    frozen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Evaluate a population of PathNet pathways in one call (native kernel, differentiable).

    Parameters
    ----------
    x : torch.Tensor
        Input ``(B, in)`` shared by every pathway, or ``(P, B, in)``; float32 or float64.
    weights : sequence of torch.Tensor
        ``L`` tensors ``(M, in_l, H)``: ``in_0 = in``, ``in_l = H`` for ``l >= 1``.
    biases : sequence of torch.Tensor
        ``L`` tensors ``(M, H)``.
    path : torch.Tensor
        Bool mask ``(P, L, M)`` or integer genotype ``(P, L, N)`` (values in ``[0, M)``, repeats
        collapse). Every pathway needs at least one active module per layer.
    frozen : torch.Tensor, optional
        Bool ``(L, M)``: modules whose weights and biases receive no gradient. Default: none.

    Returns
    -------
    torch.Tensor
        ``(P, B, H)``: per pathway, the mean of the last layer's active modules' ReLU outputs.

    Raises
    ------
    emofast.errors.InputError
        (a ``ValueError``) Inputs on different devices.
    ValueError
        From the native op's checks: wrong shapes, genes out of range, a pathway with an empty
        layer, NaN or Inf in the input or in the active modules' parameters.
    TypeError
        Non-tensor arguments; dtypes that are not float32/float64 or differ between the input and
        the parameters; a ``path`` that is neither bool nor integer; a non-bool ``frozen``.
    """
    _check_tensor(x, "x")
    _check_tensor(path, "path")
    weights = _as_list(weights, "weights")
    biases = _as_list(biases, "biases")
    frozen = _default_frozen(frozen, weights, x)
    _check_devices(x, path, frozen, weights, biases)
    return _op(x, weights, biases, path, frozen)


def pathnet_forward_train(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], path: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Forward of :func:`pathnet` that also returns the tensors its backward needs.

    Returns
    -------
    out : torch.Tensor
        ``(P, B, H)``, as :func:`pathnet`.
    saved : list of torch.Tensor
        ``2L - 1`` tensors: pre-activations of every layer, then the outputs of layers ``0..L-2``;
        pass them unchanged to :func:`pathnet_backward` or :func:`pathnet_sgd_`.
    """
    _check_tensor(x, "x")
    _check_tensor(path, "path")
    out, saved = _op_train(x, _as_list(weights, "weights"), _as_list(biases, "biases"), path)
    return out, list(saved)


def pathnet_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    path: torch.Tensor,
    frozen: torch.Tensor | None,
    saved: Sequence[torch.Tensor],
    need_grad_x: bool = False,
) -> tuple[torch.Tensor | None, list[torch.Tensor], list[torch.Tensor]]:
    """Gradients of ``(grad * pathnet(...)).sum()``: ``(grad_x, grad_weights, grad_biases)``.

    ``grad_x`` is ``None`` unless ``need_grad_x``; the weight and bias gradients are dense and zero
    for modules that are inactive in every pathway or frozen.
    """
    weights = _as_list(weights, "weights")
    gx, gw, gb = _op_backward(
        grad, x, weights, _as_list(biases, "biases"), path, _default_frozen(frozen, weights, x),
        _as_list(saved, "saved"), bool(need_grad_x),
    )
    return (gx if need_grad_x else None), list(gw), list(gb)


def pathnet_sgd_(
    grad: torch.Tensor,
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    path: torch.Tensor,
    frozen: torch.Tensor | None,
    saved: Sequence[torch.Tensor],
    lr: float,
) -> None:
    """Fused backward + SGD step, in place: ``w -= lr * dL/dw`` on active, unfrozen modules only.

    ``grad`` is ``dL/d out`` ``(P, B, H)`` of a forward by :func:`pathnet_forward_train`; pathways
    sharing a module add their gradients (one step on the summed loss). ``weights`` may be views
    (e.g. ``w.transpose(1, 2)``) of the tensors to update. Runs under ``torch.no_grad()``.
    """
    lr = float(lr)
    if not lr == lr or lr in (float("inf"), float("-inf")):
        raise InputError(f"pathnet_sgd_: lr must be finite, got {lr}")
    weights = _as_list(weights, "weights")
    with torch.no_grad():
        _op_sgd(grad, x, weights, _as_list(biases, "biases"), path, _default_frozen(frozen, weights, x),
                _as_list(saved, "saved"), lr)


# --- fake (meta) kernels for tracing / torch.compile ---------------------------------------------
# Autograd is registered in C++ (csrc/pathnet/pathnet_autograd.cpp).


def _out_like(x, biases, path):
    torch._check(x.dim() in (2, 3))
    torch._check(path.dim() == 3)
    return x.new_empty((path.shape[0], x.shape[-2], biases[0].shape[1]))


@torch.library.register_fake("emofast::pathnet")
def _pathnet_fake(x, weights, biases, path, frozen):
    return _out_like(x, biases, path)


@torch.library.register_fake("emofast::pathnet_forward_train")
def _pathnet_forward_train_fake(x, weights, biases, path):
    p, b = path.shape[0], x.shape[-2]
    m, h = biases[0].shape
    saved = []
    for layer in range(len(weights)):
        g = 1 if (layer == 0 and x.dim() == 2) else p
        saved.append(x.new_empty((g, b, m * h)))
    for _ in range(len(weights) - 1):
        saved.append(x.new_empty((p, b, h)))
    return _out_like(x, biases, path), saved


@torch.library.register_fake("emofast::pathnet_backward")
def _pathnet_backward_fake(grad, x, weights, biases, path, frozen, saved, need_grad_x):
    gx = torch.empty_like(x) if need_grad_x else x.new_empty((0,))
    return gx, [torch.empty_like(w) for w in weights], [torch.empty_like(b) for b in biases]


@torch.library.register_fake("emofast::pathnet_sgd_")
def _pathnet_sgd_fake(grad, x, weights, biases, path, frozen, saved, lr):
    return None


# --- pure-PyTorch reference ------------------------------------------------------------------------


def pathnet_reference(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    path: torch.Tensor,
    frozen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pure-PyTorch per-pathway, per-module loop with the semantics of :func:`pathnet`.

    Frozen modules use detached parameters (no parameter gradient, input gradient still flows).
    This is the structure of public PathNet code (one ``Linear`` per module, Python loops), with
    the papers' mean instead of the sum.
    """
    weights = _as_list(weights, "weights")
    biases = _as_list(biases, "biases")
    num_modules = weights[0].shape[0]
    mask = path if path.dtype == torch.bool else genotype_to_mask(path, num_modules)
    frozen_cpu = None if frozen is None else frozen.cpu()
    outs = []
    for p in range(mask.shape[0]):
        a = x if x.dim() == 2 else x[p]
        for layer, (w, b) in enumerate(zip(weights, biases)):
            active = torch.nonzero(mask[p, layer]).flatten().tolist()
            if not active:
                raise InputError(f"pathnet_reference: pathway {p} has no active module in layer {layer}")
            acc = []
            for m in active:
                wm, bm = w[m], b[m]
                if frozen_cpu is not None and bool(frozen_cpu[layer, m]):
                    wm, bm = wm.detach(), bm.detach()
                acc.append(torch.relu(a @ wm + bm))
            a = torch.stack(acc).mean(0)
        outs.append(a)
    return torch.stack(outs)
