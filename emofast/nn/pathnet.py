"""PathNet (Fernando et al., 2017) as configured by the PathNet emotion-transfer papers.

``L = 3`` layers of ``M = 20`` modules of ``H = 20`` ReLU units, at most ``N = 4`` active modules
per layer and pathway, the **mean** of the active modules between layers, and one linear head per
task, shared by all pathways of that task. Modules can be frozen one by one (transfer learning
fixes the source task's best pathway). The whole population is evaluated by the native batched
kernel :func:`emofast.ops.pathnet`; :meth:`PathNet.train_step` trains any number of pathways in
one fused call (forward, head, backward and SGD on active, unfrozen modules only).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from emofast.errors import InputError
from emofast.ops.pathnet import genotype_to_mask, pathnet, pathnet_forward_train, pathnet_sgd_

__all__ = ["PathNet"]


class PathNet(nn.Module):
    """Modular network whose pathways are chosen by evolution.

    Parameters
    ----------
    in_features : int
        Input size (a 64x64x3 log-Mel segment or face crop flattens to 12288).
    num_classes : int or sequence of int, default ()
        Classes of each task's head; more heads can be added with :meth:`add_head`.
    num_layers : int, default 3
        ``L``.
    num_modules : int, default 20
        ``M``, modules per layer.
    hidden : int, default 20
        ``H``, ReLU units per module.
    max_active : int, default 4
        ``N``, genes per layer in a genotype (repeated genes collapse, so at most ``N`` modules).
    generator : torch.Generator, optional
        Source of the initial weights.
    init : {"mean-he", "torch"}, default "mean-he"
        Module initialisation. "mean-he": weights U(-b, b) with ``b = sqrt(6 N / fan_in)`` (variance
        ``2 N / fan_in``: He's ReLU gain times ``N``), biases 0. "torch": ``nn.Linear``'s default
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.

        Why "mean-he": a layer's output is the *mean* of up to ``N`` independent modules, which divides
        the variance of its sample-dependent part by ``N`` at every layer (and each module receives
        ``1/N`` of the gradient). With the "torch" init the three layers shrink the input's signal
        until the last layer's output is nearly the same for every sample: measured on EMO-DB
        log-Mel segments (standardised), lr 0.02, one fixed pathway of 4 modules per layer, both this
        op and a plain PyTorch autograd network of the same shape stayed at the majority class for 8
        epochs (training accuracy 0.22), and evolution predicted one class everywhere. Scaling the
        variance by ``N`` keeps a unit gain through the mean of ``N`` modules (forward and backward);
        with it the same pathway reaches 0.62 training accuracy in 8 epochs at lr 0.02.
        The papers do not state their initialisation.

    Notes
    -----
    ``weights[l]`` has shape ``(M, H, in_l)``: each module is an ``nn.Linear`` weight ``(out, in)``.
    The op receives ``weights[l].transpose(1, 2)``, a free ``(M, in_l, H)`` view in which runs of
    consecutive modules are single GEMM operands. ``frozen`` is an ``(L, M)`` bool buffer.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int | Sequence[int] = (),
        *,
        num_layers: int = 3,
        num_modules: int = 20,
        hidden: int = 20,
        max_active: int = 4,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        init: str = "mean-he",
    ) -> None:
        super().__init__()
        if init not in ("mean-he", "torch"):
            raise InputError(f"PathNet: init must be 'mean-he' or 'torch', got {init!r}")
        self.init = init
        for name, v in [("in_features", in_features), ("num_layers", num_layers), ("num_modules", num_modules),
                        ("hidden", hidden), ("max_active", max_active)]:
            if int(v) < 1:
                raise InputError(f"PathNet: {name} must be >= 1, got {v}")
        self.in_features = int(in_features)
        self.num_layers = int(num_layers)
        self.num_modules = int(num_modules)
        self.hidden = int(hidden)
        self.max_active = int(max_active)
        dtype = dtype or torch.get_default_dtype()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for layer in range(self.num_layers):
            fan_in = self.in_features if layer == 0 else self.hidden
            self.weights.append(nn.Parameter(torch.empty(self.num_modules, self.hidden, fan_in, dtype=dtype)))
            self.biases.append(nn.Parameter(torch.empty(self.num_modules, self.hidden, dtype=dtype)))
        self.register_buffer("frozen", torch.zeros(self.num_layers, self.num_modules, dtype=torch.bool))
        self.heads = nn.ModuleList()
        self.reset_modules(generator=generator)
        if isinstance(num_classes, int):
            num_classes = [num_classes]
        for c in num_classes:
            self.add_head(int(c), generator=generator)

    # --- structure ---------------------------------------------------------------------------

    def add_head(self, num_classes: int, generator: torch.Generator | None = None) -> int:
        """Add a linear head ``H -> num_classes`` for a new task; returns the task index."""
        if int(num_classes) < 1:
            raise InputError(f"PathNet.add_head: num_classes must be >= 1, got {num_classes}")
        head = nn.Linear(self.hidden, int(num_classes), dtype=self.weights[0].dtype, device=self.weights[0].device)
        bound = 1.0 / math.sqrt(self.hidden)
        with torch.no_grad():
            head.weight.copy_(torch.rand(head.weight.shape, generator=generator, dtype=head.weight.dtype) * 2 * bound - bound)
            head.bias.copy_(torch.rand(head.bias.shape, generator=generator, dtype=head.bias.dtype) * 2 * bound - bound)
        self.heads.append(head)
        return len(self.heads) - 1

    @torch.no_grad()
    def reset_modules(self, keep: torch.Tensor | None = None, generator: torch.Generator | None = None) -> None:
        """Re-initialise every module not in ``keep`` (``(L, M)`` bool; default: re-initialise all)."""
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            if self.init == "torch":
                bound = 1.0 / math.sqrt(w.shape[2])
                new_w = torch.rand(w.shape, generator=generator, dtype=w.dtype) * 2 * bound - bound
                new_b = torch.rand(b.shape, generator=generator, dtype=b.dtype) * 2 * bound - bound
            else:  # "mean-he": variance 2 N / fan_in, see the class docstring
                bound = math.sqrt(6.0 * self.max_active / w.shape[2])
                new_w = torch.rand(w.shape, generator=generator, dtype=w.dtype) * 2 * bound - bound
                new_b = torch.zeros(b.shape, dtype=b.dtype)
            sel = torch.ones(self.num_modules, dtype=torch.bool) if keep is None else ~keep[layer].cpu()
            w[sel] = new_w[sel].to(w.device)
            b[sel] = new_b[sel].to(b.device)

    @torch.no_grad()
    def freeze(self, modules: torch.Tensor) -> None:
        """Freeze the modules of an ``(L, M)`` bool mask (added to those already frozen)."""
        modules = self._check_module_mask(modules, "freeze")
        self.frozen |= modules.to(self.frozen.device)

    def _check_module_mask(self, m: torch.Tensor, what: str) -> torch.Tensor:
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool or tuple(m.shape) != (self.num_layers, self.num_modules):
            shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
            raise InputError(f"PathNet.{what}: expected a bool mask of shape "
                             f"({self.num_layers}, {self.num_modules}), got {shape}")
        return m

    def layer_weights(self) -> list[torch.Tensor]:
        """The ``(M, in_l, H)`` views of the weights that the native op takes."""
        return [w.transpose(1, 2) for w in self.weights]

    def random_genotypes(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` random genotypes ``(num, L, N)``: N distinct modules per layer (N <= M)."""
        n = min(self.max_active, self.num_modules)
        keys = torch.rand(int(num), self.num_layers, self.num_modules, generator=generator)
        return keys.argsort(dim=-1)[..., :n].sort(dim=-1).values

    def masks(self, path: torch.Tensor, fixed: torch.Tensor | None = None) -> torch.Tensor:
        """Bool masks ``(P, L, M)`` of genotypes or masks ``path``, OR'ed with ``fixed`` ``(L, M)``."""
        if not isinstance(path, torch.Tensor):
            raise TypeError(f"PathNet: path must be a torch.Tensor, got {type(path).__name__}")
        if path.dim() == 2:
            path = path.unsqueeze(0)
        mask = path if path.dtype == torch.bool else genotype_to_mask(path, self.num_modules)
        if fixed is not None:
            mask = mask | self._check_module_mask(fixed, "masks").to(mask.device)
        return mask.to(self.frozen.device)

    # --- computation ---------------------------------------------------------------------------

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"PathNet: x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise InputError(f"PathNet: x must be (B, ...) with B samples, got shape {tuple(x.shape)}")
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise InputError(f"PathNet: x has {x.shape[1]} features per sample, expected {self.in_features}")
        return x.to(self.weights[0].dtype)

    def _head(self, task: int) -> nn.Linear:
        if not 0 <= int(task) < len(self.heads):
            raise InputError(f"PathNet: task {task} has no head (the network has {len(self.heads)})")
        return self.heads[int(task)]

    def features(self, x: torch.Tensor, path: torch.Tensor, fixed: torch.Tensor | None = None) -> torch.Tensor:
        """Last-layer output ``(P, B, H)`` of every pathway (differentiable)."""
        return pathnet(self._flat(x), self.layer_weights(), list(self.biases), self.masks(path, fixed), self.frozen)

    def forward(self, x: torch.Tensor, path: torch.Tensor, task: int = 0,
                fixed: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(P, B, C)`` of task ``task`` for every pathway of ``path`` (``(P, L, N)`` or ``(P, L, M)``)."""
        head = self._head(task)
        return F.linear(self.features(x, path, fixed), head.weight, head.bias)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, path: torch.Tensor, task: int = 0, fixed: torch.Tensor | None = None,
                      batch_size: int = 512) -> torch.Tensor:
        """Softmax posteriors ``(P, n, C)``, evaluated in batches of ``batch_size`` samples."""
        x = self._flat(x)
        outs = [torch.softmax(self.forward(x[i:i + batch_size], path, task, fixed), -1)
                for i in range(0, x.shape[0], batch_size)]
        return torch.cat(outs, dim=1)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, path: torch.Tensor, *, lr: float, task: int = 0,
                   fixed: torch.Tensor | None = None, train_head: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of every pathway in ``path`` on the batch ``(x, y)``, in one fused call.

        The loss is the sum over pathways of each pathway's mean cross-entropy, so modules (and
        the task head) shared by several pathways accumulate their gradients, as the parallel
        workers of the original PathNet do. Only active, unfrozen modules are written.

        Returns
        -------
        loss : torch.Tensor
            ``(P,)`` mean cross-entropy of each pathway before the step.
        correct : torch.Tensor
            ``(P,)`` int64, samples each pathway classified correctly before the step.
        """
        x = self._flat(x)
        y = torch.as_tensor(y, device=x.device).long()
        if y.shape != (x.shape[0],):
            raise InputError(f"PathNet.train_step: y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        head = self._head(task)
        mask = self.masks(path, fixed)
        weights = self.layer_weights()
        biases = list(self.biases)
        with torch.no_grad():
            out, saved = pathnet_forward_train(x, weights, biases, mask)
            p, b, h = out.shape
            c = head.weight.shape[0]
            if int(y.min()) < 0 or int(y.max()) >= c:
                raise InputError(f"PathNet.train_step: labels must lie in [0, {c}), got [{int(y.min())}, {int(y.max())}]")
            # Head, loss and its gradients written out (no autograd graph: ~0.3 ms less per step on
            # one thread). d(sum_p mean_b CE)/d logits = (softmax - onehot(y)) / b.
            feat = out.view(p * b, h)
            logits = torch.addmm(head.bias, feat, head.weight.t())
            logp = torch.log_softmax(logits, dim=1)
            yy = y.repeat(p).unsqueeze(1)
            losses = -logp.gather(1, yy).view(p, b).mean(1)
            dlogits = logp.exp_().scatter_add_(1, yy, torch.full_like(yy, -1, dtype=logp.dtype)).div_(b)
            grad_feat = torch.mm(dlogits, head.weight).view(p, b, h)
            if train_head:
                head.weight.sub_(torch.mm(dlogits.t(), feat), alpha=lr)
                head.bias.sub_(dlogits.sum(0), alpha=lr)
            pathnet_sgd_(grad_feat, x, weights, biases, mask, self.frozen, saved, lr)
            correct = (logits.argmax(1).view(p, b) == y).sum(1)
        return losses, correct
