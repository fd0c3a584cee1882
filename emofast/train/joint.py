"""Joint cross-domain learning: Algorithm 1 of the joint cross-domain paper (§3.3, eq. 1–3).

Every step draws a mini-batch of K examples from each of two corpora, passes both through one
shared feature extractor ``f = Conv(x, θe)`` (:meth:`emofast.nn.GroupNormCNN.embed`), and adds

- two cross-entropy losses (eq. 1) of two softmax heads ``θclass1``, ``θclass2``: by default head 1
  classifies corpus 1's mini-batch and head 2 corpus 2's (``heads="per_corpus"``, eq. 3's L1 and
  L2); ``heads="both"`` is Algorithm 1 lines 4–5 to the letter, every head classifying both
  mini-batches (``L_h = L(f_i, l_i, θh) + L(f_j, l_j, θh)``);
- the contrastive matching loss (eq. 2) over all K² cross-corpus pairs of the two mini-batches'
  embeddings, ``1/2·d²`` for same-emotion pairs and ``1/2·max(0, m − d²)`` otherwise, averaged
  over the pairs (:func:`emofast.contrastive_loss`, the fused native op);

``L = λ1·L1 + λ2·L2 + λ3·Lc`` (eq. 3; the paper's λ = (1, 1, 0.01) and K = 2 are the defaults).
Instead of, or beside, the contrastive term, ``align`` selects the label-free alignments of the
transfer-learning review: multi-kernel MMD between the two mini-batches' embeddings
(``λ_mmd · MMD²``, :func:`emofast.nn.domain.mmd_loss`) and DANN (``λ_dann`` × the cross-entropy of
a domain classifier behind gradient reversal, :class:`emofast.nn.domain.DomainClassifier`, its
reversal coefficient following Ganin's schedule). ``align="none"`` with λ3 = 0 is plain training on
the two corpora with two cross-entropies (the paper's V SAV+eNTER baseline).

**Labels.** Both corpora's labels are indices into *one* class list (the shared emotion
vocabulary): a pair is a positive pair exactly when its two indices agree, and both heads have the
network's ``n_classes`` outputs. Map each corpus onto the shared set first (the classes both
corpora hold: :func:`emofast.experiments.joint.shared_classes`).

The parameters ``θmatch`` of Algorithm 1 are empty here: eq. 2 has no parameters besides the
margin, so the matching gradient flows into ``θe`` only. With ``second=None`` the same loop trains
on one corpus (``λ1·L1``): the single-corpus baselines of Table 7 run with the same sampler, steps
and schedule as the joint model.

**Distributed.** Under a process group of several ranks (torchrun, :mod:`emofast.distributed`)
each step's two mini-batches are shared out row-wise across the ranks and the step equals the
single-process step up to float rounding (:func:`fit_joint`'s notes give the rule).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emofast._progress import progress_bar
from emofast.errors import InputError
from emofast.train.fit import (EpochSelection, FitConfig, FitHistory, _class_weights, _global_norm,
                               _lr_factor, _rank_seed, make_optimizer)

__all__ = ["ALIGNMENTS", "HEADS", "JointConfig", "JointHistory", "JointTrainer", "fit_joint",
           "parse_align"]

#: Alignment terms :class:`JointConfig` can add (``"none"``: only the two cross-entropies).
ALIGNMENTS: tuple[str, ...] = ("contrastive", "mmd", "dann")

#: Terms computed from both whole mini-batches (every rank computes the same value when distributed).
BATCH_TERMS: tuple[str, ...] = ("contrastive", "mmd")

#: What the two heads classify (see the module notes).
HEADS: tuple[str, ...] = ("per_corpus", "both")

Corpus = tuple[Any, Any]


def parse_align(align: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Alignment terms in canonical order from ``"contrastive+mmd"``, ``["mmd", "dann"]``, ...

    ``"none"`` (alone) gives ``()``.

    Raises
    ------
    InputError
        An unknown name, or ``none`` beside another term.
    """
    names = align.replace(",", "+").split("+") if isinstance(align, str) else list(align)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in (*ALIGNMENTS, "none")]
    if unknown or not names:
        raise InputError(f"unknown alignment {unknown or align!r}; choose from "
                         f"{[*ALIGNMENTS, 'none']} (several joined by '+')")
    if "none" in names and len(set(names)) > 1:
        raise InputError(f"alignment 'none' cannot be combined with others: {align!r}")
    return tuple(a for a in ALIGNMENTS if a in names)


@dataclass(frozen=True)
class JointConfig(FitConfig):
    """Settings of :func:`fit_joint`: Algorithm 1, its loss weights, and the training recipe.

    Attributes
    ----------
    batch_size : int, default 2
        K, the mini-batch drawn from *each* corpus per step (the paper: 2, i.e. 4 pairs).
    epochs : int, default 10
        Passes over the *larger* corpus (the smaller one is cycled, reshuffled at every pass).
    steps : int or None, default None
        Total steps; overrides ``epochs`` (the paper: 20,000).
    lambdas : (float, float, float), default (1, 1, 0.01)
        λ1, λ2, λ3 of eq. 3: weights of head 1's and head 2's cross-entropy and of the
        contrastive term.
    margin : float, default 1.0
        m of eq. 2 (bounds the *squared* distance for ``form="paper"``; the paper gives none).
    form : {"paper", "hadsell"}, default "paper"
        Negative-pair loss ``1/2·max(0, m − d²)`` (eq. 2) or Hadsell's ``1/2·max(0, m − d)²``.
    align : str or tuple of str, default ("contrastive",)
        Alignment terms among ``contrastive``, ``mmd``, ``dann`` (several at once allowed), or
        ``none``; a string may join several with ``+``. Stored as :func:`parse_align` gives it.
    heads : {"per_corpus", "both"}, default "per_corpus"
        What the two heads classify (module notes).
    lambda_mmd, lambda_dann : float, default 1.0
        Weights of the MMD term and of the domain classifier's cross-entropy.
    mmd_estimator : {"unbiased", "biased"}, default "unbiased"
    dann_schedule : bool, default True
        Reversal coefficient ``2/(1 + e^{−10p}) − 1`` at progress p (Ganin et al.); False: 1.
    dann_hidden : int, default 64
        Hidden width of the domain classifier.
    The optimiser (``optimizer``, ``momentum``), ``seed``, ``progress`` and the recipe (``lr``,
    ``weight_decay``, ``schedule``, ``class_weight`` — computed per corpus —, ``label_smoothing``,
    SpecAugment masks, ``patience`` with a ``select`` callback) are :class:`FitConfig`'s. Mixup is
    refused: a mixed example has no label for the matching pairs.
    """

    epochs: int = 10
    batch_size: int = 2
    steps: int | None = None
    lambdas: tuple[float, float, float] = (1.0, 1.0, 0.01)
    margin: float = 1.0
    form: str = "paper"
    align: Any = ("contrastive",)
    heads: str = "per_corpus"
    lambda_mmd: float = 1.0
    lambda_dann: float = 1.0
    mmd_estimator: str = "unbiased"
    dann_schedule: bool = True
    dann_hidden: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "align", parse_align(self.align))
        lambdas = tuple(float(v) for v in self.lambdas)
        object.__setattr__(self, "lambdas", lambdas)
        if len(lambdas) != 3 or not all(v >= 0 for v in lambdas):
            raise InputError(f"lambdas must be three numbers >= 0, got {self.lambdas}")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"steps must be >= 1 or None, got {self.steps}")
        if not self.margin >= 0:
            raise InputError(f"margin must be >= 0, got {self.margin}")
        if self.form not in ("paper", "hadsell"):
            raise InputError(f"form must be 'paper' or 'hadsell', got {self.form!r}")
        if self.heads not in HEADS:
            raise InputError(f"heads must be one of {HEADS}, got {self.heads!r}")
        if min(self.lambda_mmd, self.lambda_dann) < 0:
            raise InputError("lambda_mmd and lambda_dann must be >= 0")
        if self.mmd_estimator not in ("unbiased", "biased"):
            raise InputError(f"mmd_estimator must be 'unbiased' or 'biased', got "
                             f"{self.mmd_estimator!r}")
        if "mmd" in self.align and self.mmd_estimator == "unbiased" and self.batch_size < 2:
            raise InputError("the unbiased MMD needs batch_size >= 2 per corpus")
        if self.mixup:
            raise InputError("mixup is not available in joint learning: a mixed example has no "
                             "emotion label for the contrastive pairs")
        if self.dann_hidden < 1:
            raise InputError(f"dann_hidden must be >= 1, got {self.dann_hidden}")

    @property
    def align_name(self) -> str:
        """``"contrastive"``, ``"contrastive+mmd"``, ..., or ``"none"``."""
        return "+".join(self.align) or "none"

    def steps_per_epoch(self, n_first: int, n_second: int | None = None) -> int:
        """Steps of one pass over the larger corpus: ``ceil(max(n1, n2) / K)``."""
        return max(1, -(-max(n_first, n_second or 0) // self.batch_size))

    def total_steps(self, n_first: int, n_second: int | None = None) -> int:
        """``steps``, or ``epochs`` passes over the larger corpus."""
        if self.steps is not None:
            return int(self.steps)
        return self.epochs * self.steps_per_epoch(n_first, n_second)


@dataclass
class JointHistory(FitHistory):
    """Learning curve of :func:`fit_joint`, one value per epoch (the last may be partial).

    Attributes
    ----------
    train_loss : list of float
        Mean total loss ``L`` over the epoch's steps.
    train_acc : list of float
        Mini-batch accuracy of head 1 on corpus 1.
    train_acc2 : list of float
        Mini-batch accuracy of head 2 on corpus 2 (empty for one corpus).
    terms : dict of str to list of float
        Mean of every computed term: ``ce1``, ``ce2`` (the heads' cross-entropies, unweighted),
        ``contrastive``, ``mmd``, ``dann`` (domain cross-entropy), ``domain_acc``.
    steps : int
        Steps run.
    eval_acc, select_score, best_epoch, seconds
        As in :class:`emofast.train.fit.FitHistory`.
    """

    train_acc2: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0


class _BatchStream:
    """Endless mini-batches of exactly ``k`` row indices: a fresh permutation every pass, the end
    of a pass completed from the start of the next (every step sees K examples, so K² pairs)."""

    def __init__(self, n: int, k: int, rng: np.random.Generator) -> None:
        self.n, self.k, self.rng = n, k, rng
        self.buffer = np.empty(0, dtype=np.int64)

    def next(self) -> np.ndarray:
        while self.buffer.size < self.k:
            self.buffer = np.concatenate([self.buffer, self.rng.permutation(self.n)])
        sel, self.buffer = self.buffer[:self.k], self.buffer[self.k:]
        return sel


def _rows(X: Any) -> Callable[[np.ndarray], torch.Tensor]:
    """``rows(sel) -> float32 tensor``: an in-memory float32 array is indexed as a tensor, anything
    else (memory maps, lazy views) through numpy indexing."""
    if type(X) is np.ndarray and X.dtype == np.float32 and X.flags.c_contiguous:
        t = torch.from_numpy(X)
        return lambda sel: t[torch.from_numpy(sel)]
    return lambda sel: torch.from_numpy(np.ascontiguousarray(X[sel], dtype=np.float32))


def _labels(y: Any, n: int, n_classes: int, which: str) -> torch.Tensor:
    y = np.asarray(y)
    if y.shape != (n,) or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise InputError(f"{which} corpus: labels must be {n} class indices, got shape {y.shape} "
                         f"of {y.dtype}")
    if n == 0:
        raise InputError(f"{which} corpus: no training data")
    if y.min() < 0 or y.max() >= n_classes:
        raise InputError(f"{which} corpus: labels must lie in [0, {n_classes}) (the shared class "
                         f"list of the network's heads), got {y.min()}..{y.max()}")
    return torch.from_numpy(y.astype(np.int64))


class JointTrainer:
    """One optimiser step of Algorithm 1 at a time (:func:`fit_joint` loops over it).

    Parameters
    ----------
    net : torch.nn.Module
        A :class:`emofast.nn.GroupNormCNN` or any module with ``embed(x)``, ``head(i)``,
        ``add_head()``, ``n_heads`` and ``n_classes``; heads are added until there are two
        (one for a single corpus). Trained in place.
    first, second : (X, y)
        Corpus 1 (head 1) and corpus 2 (head 2); ``X`` indexable by row arrays (numpy array,
        memory map, :class:`emofast.dataset.RowView`), ``y`` class indices into the shared class
        list. ``second=None``: train on ``first`` alone (``λ1·L1``; ``align`` must be none).
    config : JointConfig
    contrastive_fn : callable, optional
        The contrastive loss, ``fn(a, b, labels_a, labels_b, margin=, form=, reduction=)``;
        default :func:`emofast.contrastive_loss` (benchmarks swap in the pure-PyTorch reference).

    Attributes
    ----------
    total : int
        Steps planned by ``config`` (:meth:`JointConfig.total_steps`).
    step_index : int
        Steps taken.
    domain_classifier : DomainClassifier or None
        With ``"dann"`` in ``config.align``.
    """

    def __init__(self, net: nn.Module, first: Corpus, second: Corpus | None,
                 config: JointConfig | None = None, *,
                 contrastive_fn: Callable[..., torch.Tensor] | None = None) -> None:
        from emofast.ops import contrastive_loss

        cfg = config or JointConfig()
        if second is None and cfg.align:
            raise InputError(f"alignment {cfg.align_name!r} needs two corpora; use align='none' "
                             "to train on one")
        self.net, self.config = net, cfg
        self.contrastive_fn = contrastive_fn or contrastive_loss
        n_classes = int(net.n_classes)
        corpora = [first] if second is None else [first, second]
        self.X = [_rows(X) for X, _ in corpora]
        self.y = [_labels(y, len(X), n_classes, which)
                  for (X, y), which in zip(corpora, ("first", "second"))]
        self.sizes = [len(X) for X, _ in corpora]
        shapes = {tuple(np.shape(X[:1])[1:]) for X, _ in corpora}
        if len(shapes) > 1:
            raise InputError(f"the two corpora's examples differ in shape {sorted(shapes)}; the "
                             "shared extractor needs one input shape")
        from emofast import distributed as dist

        torch.manual_seed(cfg.seed)
        while net.n_heads < len(corpora):
            net.add_head()
        self.device = next(net.parameters()).device
        self.domain_classifier = None
        if "dann" in cfg.align:
            from emofast.nn.domain import DomainClassifier

            self.domain_classifier = DomainClassifier(net.embed_dim, 2, hidden=cfg.dann_hidden)
            self.domain_classifier.to(self.device)
        self.sharded, self.world = dist.active(), dist.world()
        #: This rank's positions within each corpus's mini-batch of K (all of them in one process).
        self.share = dist.shard_bounds(cfg.batch_size, dist.rank(), self.world)
        if self.sharded:
            for module in (net, self.domain_classifier):
                if module is not None:
                    dist.broadcast_module(module)
            if dist.rank():  # dropout draws per rank; rank 0 keeps the seed's stream
                torch.manual_seed(_rank_seed(cfg.seed, dist.rank()))
        params = [p for p in net.parameters() if p.requires_grad]
        if self.domain_classifier is not None:
            params += list(self.domain_classifier.parameters())
        self.params = params
        self.optimizer = make_optimizer(params, cfg)
        self.weights = [_class_weights(y.numpy(), n_classes).to(self.device)
                        if cfg.class_weight == "balanced" else None for y in self.y]
        streams = np.random.SeedSequence(cfg.seed).spawn(len(corpora))
        self.streams = [_BatchStream(n, cfg.batch_size, np.random.default_rng(s))
                        for n, s in zip(self.sizes, streams)]
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.total = cfg.total_steps(*self.sizes)
        self.step_index = 0

    def _ce(self, logits: torch.Tensor, y: torch.Tensor, corpus: int,
            y_batch: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``corpus``'s rows; distributed: this rank's rows' summed loss divided by
        the whole mini-batch ``y_batch``'s normaliser (its size or the sum of its class weights)."""
        weight, smoothing = self.weights[corpus], self.config.label_smoothing
        if not self.sharded:
            return F.cross_entropy(logits, y, weight=weight, label_smoothing=smoothing)
        return (F.cross_entropy(logits, y, weight=weight, label_smoothing=smoothing, reduction="sum")
                / _global_norm(weight, y_batch, False))

    def _row_mean(self, values: torch.Tensor, n: int) -> torch.Tensor:
        """Mean of per-row ``values`` over the ``n`` rows of the step; distributed: this rank's
        share of it (its rows' sum over ``n``)."""
        return values.float().sum() / n if self.sharded else values.float().mean()

    def _pair_features(self, f: torch.Tensor) -> list[torch.Tensor]:
        """Both corpora's whole mini-batch embeddings from this rank's ``f`` (its share of corpus 1's
        rows, then of corpus 2's): gathered from every rank (:func:`emofast.distributed.gather_rows`,
        whose backward keeps each rank's own rows' gradient)."""
        from emofast import distributed as dist

        bounds = [dist.shard_bounds(self.config.batch_size, r, self.world)
                  for r in range(self.world)]
        counts = [b.stop - b.start for b in bounds]
        every = dist.gather_rows(f, [2 * n for n in counts])
        offsets = np.cumsum([0, *(2 * n for n in counts)])
        index = [np.concatenate([o + c * n + np.arange(n) for o, n in zip(offsets, counts)])
                 for c in (0, 1)]
        return [every[torch.from_numpy(i)] for i in index]

    def terms(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The loss of one step and its terms, for ``[(x1, y1), (x2, y2)]`` (one pair for a single
        corpus).

        Returns
        -------
        dict of str to torch.Tensor
            ``loss`` (the weighted sum, differentiable), ``ce1``, ``ce2`` and each alignment
            term's value, the heads' accuracies ``acc1``/``acc2`` and DANN's ``domain_acc``.
        """
        cfg, net = self.config, self.net
        l1, l2, l3 = cfg.lambdas
        y_all = [y for _, y in batches]  # the whole mini-batches' labels
        K = len(y_all[0])
        if self.sharded:
            batches = [(x[self.share], y[self.share]) for x, y in batches]
        ys = [y for _, y in batches]
        f = net.embed(torch.cat([x for x, _ in batches]))
        feats = list(torch.split(f, [len(y) for y in ys]))
        out: dict[str, torch.Tensor] = {}
        if len(batches) == 1:
            logits = net.head(0)(feats[0])
            out["ce1"] = self._ce(logits, ys[0], 0, y_all[0])
            out["acc1"] = self._row_mean(logits.argmax(1) == ys[0], K)
            out["loss"] = l1 * out["ce1"]
            return out
        logits = [[net.head(h)(fc) for fc in feats] for h in (0, 1)]  # [head][corpus]
        if cfg.heads == "per_corpus":
            out["ce1"] = self._ce(logits[0][0], ys[0], 0, y_all[0])
            out["ce2"] = self._ce(logits[1][1], ys[1], 1, y_all[1])
        else:
            out["ce1"], out["ce2"] = (self._ce(logits[h][0], ys[0], 0, y_all[0])
                                      + self._ce(logits[h][1], ys[1], 1, y_all[1]) for h in (0, 1))
        out["acc1"] = self._row_mean(logits[0][0].argmax(1) == ys[0], K)
        out["acc2"] = self._row_mean(logits[1][1].argmax(1) == ys[1], K)
        loss = l1 * out["ce1"] + l2 * out["ce2"]
        pf, py = feats, ys  # the batch terms see both whole mini-batches
        if self.sharded and set(cfg.align) & set(BATCH_TERMS):
            pf, py = self._pair_features(f), y_all
        if "contrastive" in cfg.align:
            out["contrastive"] = self.contrastive_fn(pf[0], pf[1], py[0], py[1],
                                                     margin=cfg.margin, form=cfg.form,
                                                     reduction="mean")
            loss = loss + l3 * out["contrastive"]
        if "mmd" in cfg.align:
            from emofast.nn.domain import mmd_loss

            out["mmd"] = mmd_loss(pf[0], pf[1], estimator=cfg.mmd_estimator)
            loss = loss + cfg.lambda_mmd * out["mmd"]
        if self.domain_classifier is not None:
            from emofast.nn.domain import dann_lambda

            self.domain_classifier.reversal.lambda_ = (
                dann_lambda(self.step_index / max(self.total, 1)) if cfg.dann_schedule else 1.0)
            domain = torch.cat([torch.full((len(y),), i, dtype=torch.long, device=f.device)
                                for i, y in enumerate(ys)])
            d_logits = self.domain_classifier(f)
            if self.sharded:
                out["dann"] = F.cross_entropy(d_logits, domain, reduction="sum") / (2 * K)
            else:
                out["dann"] = F.cross_entropy(d_logits, domain)
            out["domain_acc"] = self._row_mean(d_logits.argmax(1) == domain, 2 * K)
            loss = loss + cfg.lambda_dann * out["dann"]
        out["loss"] = loss
        return out

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The next mini-batch of every corpus (SpecAugment applied when configured)."""
        from emofast.train.augment import spec_mask

        cfg, out = self.config, []
        for rows, y, stream in zip(self.X, self.y, self.streams):
            sel = stream.next()
            xb = rows(sel)
            if cfg.freq_masks or cfg.time_masks:
                xb = spec_mask(xb, self.generator, freq_masks=cfg.freq_masks,
                               time_masks=cfg.time_masks, max_width=cfg.mask_width)
            out.append((xb.to(self.device), y[torch.from_numpy(sel)].to(self.device)))
        return out

    def step(self) -> dict[str, float]:
        """One optimiser step at the scheduled learning rate; returns the terms as floats.

        Distributed, the values are this rank's shares: their sum over the ranks is the step's
        value (per-row terms are this rank's rows' part; :data:`BATCH_TERMS`, which every rank
        computes whole, and the loss's part of them count ``1/W`` per rank).
        """
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * _lr_factor(cfg.schedule, self.step_index, self.total)
        self.net.train()
        if self.domain_classifier is not None:
            self.domain_classifier.train()
        terms = self.terms(self.batches())
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if self.sharded:
            from emofast import distributed as dist

            dist.sum_gradients(self.params)
        self.optimizer.step()
        self.step_index += 1
        values = {k: float(v.detach()) for k, v in terms.items()}
        if self.sharded:
            weights = {"contrastive": cfg.lambdas[2], "mmd": cfg.lambda_mmd}
            batch_part = sum(weights[k] * values[k] for k in BATCH_TERMS if k in values)
            values["loss"] -= batch_part * (1 - 1 / self.world)
            values.update({k: values[k] / self.world for k in BATCH_TERMS if k in values})
        return values


def fit_joint(
    net: nn.Module,
    first: Corpus,
    second: Corpus | None,
    config: JointConfig | None = None,
    *,
    evaluate: Callable[[nn.Module], float] | None = None,
    select: Callable[[nn.Module], float] | None = None,
    desc: str = "joint",
    contrastive_fn: Callable[..., torch.Tensor] | None = None,
) -> JointHistory:
    """Train ``net`` by joint cross-domain learning (Algorithm 1) on two corpora.

    Parameters
    ----------
    net : torch.nn.Module
        See :class:`JointTrainer`; head 1 (index 0, ``net(x)``) ends up the classifier of
        ``first``, head 2 (index 1) of ``second``.
    first, second : (X, y)
        The two corpora, labels indexing one shared class list (module notes); ``second=None``
        trains on ``first`` alone with the same loop.
    config : JointConfig, optional
    evaluate, select : callable, optional
        After every epoch, as in :func:`emofast.train.fit.fit` (``select`` keeps the best epoch's
        weights and stops after ``config.patience`` epochs without improvement).
    desc : str
        Progress-bar label.
    contrastive_fn : callable, optional
        See :class:`JointTrainer`.

    Returns
    -------
    JointHistory

    Notes
    -----
    **Distributed** (a process group of ``W > 1`` ranks, e.g. under torchrun): every rank passes the
    same network, corpora and config. Rank 0's initial weights (network with both heads, domain
    classifier) are copied to every rank; each step's two mini-batches of K are drawn from the
    seed on every rank (SpecAugment too, on the whole mini-batches), and each rank takes the same
    contiguous share of both (``shard_bounds(K, rank, W)``: rows ``k`` of corpus 1 and corpus 2 on
    one rank) and embeds only those rows. Per-row terms are computed on the rank's rows: the
    cross-entropies as its rows' summed loss over the *whole* mini-batch's normaliser (K, or the
    sum of its class weights), DANN's domain loss over ``2K``. Terms over both whole mini-batches
    (the contrastive loss over all K² pairs, MMD) are computed by every rank on the embeddings of
    all rows, gathered with :func:`emofast.distributed.gather_rows`, whose backward keeps only the
    rank's own rows' gradient. After backward the gradients are summed over ranks
    (:func:`emofast.distributed.sum_gradients`), so the step is the single-process step up to
    float rounding (dropout aside: it draws per rank, rank 0 keeping the seed). The history's
    values are summed over ranks once per epoch; ``evaluate`` and ``select`` run on rank 0 and
    their values are sent to every rank; the progress bar is rank 0's. K may be smaller than W
    (some ranks then embed no rows).
    """
    from emofast import distributed as dist

    cfg = config or JointConfig()
    trainer = JointTrainer(net, first, second, cfg, contrastive_fn=contrastive_fn)
    per_epoch = cfg.steps_per_epoch(*trainer.sizes)
    hist = JointHistory()
    selection = EpochSelection(evaluate, select, cfg.patience)
    bar = progress_bar(total=trainer.total, desc=desc, enabled=cfg.progress and dist.is_main(),
                       leave=False, unit="step")
    t0 = time.perf_counter()
    for epoch in range(math.ceil(trainer.total / per_epoch)):
        sums: dict[str, float] = {}
        n = min(per_epoch, trainer.total - trainer.step_index)
        for _ in range(n):
            for k, v in trainer.step().items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
        if trainer.sharded:  # the ranks' shares (JointTrainer.step), summed
            sums = dict(zip(sums, dist.all_reduce_sum(np.array(list(sums.values()))).tolist()))
        means = {k: v / n for k, v in sums.items()}
        hist.train_loss.append(means.pop("loss"))
        hist.train_acc.append(means.pop("acc1"))
        if "acc2" in means:
            hist.train_acc2.append(means.pop("acc2"))
        for k, v in means.items():
            hist.terms.setdefault(k, []).append(v)
        stop = selection.end_epoch(net, epoch, hist)
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.3f}", acc=f"{hist.train_acc[-1]:.2f}")
        if stop:
            break
    bar.close()
    selection.restore(net)
    hist.steps = trainer.step_index
    hist.seconds = time.perf_counter() - t0
    return hist

