"""Pathway evolution for PathNet: the microbial binary tournament, transfer, chains, checkpoints.

The algorithm of the PathNet emotion-transfer papers (after Harvey's microbial GA and Fernando et
al.'s PathNet): a population of ``S = 20`` genotypes; each generation picks two at random, trains
each for ``T`` = train size / 64 SGD steps (one epoch, lr 0.02, batch 64), takes as fitness the
training accuracy *during* that training, overwrites the loser with a copy of the winner and
mutates it: every gene, with probability ``1 / (N L)``, gets an integer from ``[-2, 2]`` added.
After ``G = 200`` generations the fittest pathway is the task's pathway.

Documented choices (the papers and public code disagree; each is a parameter of
:class:`EvolveConfig`):

``boundary`` ("wrap", default, or "clamp")
    What a mutated gene outside ``[0, M)`` becomes. kimhc6028/pathnet-pytorch and joansj/hat wrap
    modulo ``M``; the ``mutate`` quoted in the former's issue #2 clamps. Wrap is the default:
    clamping piles genes onto modules 0 and ``M - 1`` (their stationary probability under repeated
    mutation is ~2.5x that of an interior module for a +-2 step), wrapping keeps every module
    equally reachable.
``mutate`` ("loser", default, or "winner")
    Paper 002 (meta-transfer) and the microbial GA: the loser becomes a *mutated* copy of the
    winner, the winner is kept intact. Paper 001 reads "the loser is replaced by the winner and the
    winner is then mutated": with "winner" the loser slot gets the exact copy and the winner's own
    slot is mutated.
``mode`` ("sequential", default, or "parallel") and ``tournaments`` (default 1)
    "sequential" trains the contenders one after the other, each on its own shuffled epoch, as the
    papers do. "parallel" trains all ``2 * tournaments`` contenders in one fused call per step on the
    same mini-batches; the loss is the sum of the contenders' losses, so modules and the task head
    shared by several contenders receive the sum of their gradients, as the asynchronous parallel
    workers of the original PathNet accumulated updates on shared modules. ``tournaments > 1`` runs
    that many disjoint tournaments per generation (2K distinct contenders) in either mode.

Transfer (:func:`evolve_chain`): after a stage, its best pathway's modules are frozen (and stay
active in every later pathway), every other module is re-initialised, and a new population with a
new head evolves on the next stage. A stage given as several datasets pools them (the papers'
A eNTER+SAV -> EMO: trained on both corpora). Chains A -> B -> C fix the union of the best
pathways of all earlier stages.

Inputs are standardised by default: :func:`evolve` and :func:`evolve_chain` scale every input
feature by the mean and standard deviation of that stage's training data
(:class:`emofast.dataset.Standardizer`, ``per="feature"``) and keep the statistics in
:attr:`EvolveResult.standardizer`, so raw log-Mel dB values (about -100...+25) never reach the
network; apply ``result.standardizer`` to data you predict. Pass ``standardize=False`` when the
data is already standardised.

Checkpoints (:mod:`emofast.train.checkpoint`): one file per stage, rewritten atomically after every
generation with the network, the population, the fitnesses, the history and the numpy generator's
state; a run interrupted at any point and resumed with the same arguments ends bit-identical to an
uninterrupted run. The file carries the run's identity (seed, task, a fingerprint of the training
data and of ``fixed``, the settings, the network's shapes, and what the caller passes as
``identity``, e.g. the fold): a checkpoint of any other run is refused with a ``StoreError`` naming
the field that differs, never resumed or reused. Files are read with ``weights_only=True``.

Distributed (a process group of ``W > 1`` ranks, e.g. under torchrun; every rank calls
:func:`evolve` with the same arguments): the ``2 * tournaments`` contenders of a generation are
shared out, contender ``j`` on rank ``j % W``, and after every SGD step the ranks' parameter
updates are summed, so every rank holds the same network (the exact rule and what it is equivalent
to: :mod:`emofast.distributed.pathnet`; in parallel mode the result is the single-process one up to
float rounding). Fitness counts are summed over ranks; the picks, shuffles and mutations come from
the seed on every rank. Rank 0 alone writes the checkpoint and reads it on a resume (it sends the
state to the others), and the checkpoint records ``W``: a run resumes only with the same number of
ranks. ``evaluate`` runs on rank 0 and its value is sent to every rank.
"""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from emofast import distributed as dist
from emofast._progress import progress_bar
from emofast.dataset import Standardizer
from emofast.errors import InputError, StoreError
from emofast.nn.pathnet import PathNet
from emofast.train import checkpoint as ckpt_io

__all__ = [
    "EvolveConfig",
    "EvolveResult",
    "Stage",
    "mutate_genotype",
    "evolve",
    "evolve_chain",
    "transfer",
    "best_mask",
]


@dataclass(frozen=True)
class EvolveConfig:
    """Settings of one evolution (defaults: the papers').

    Parameters
    ----------
    population : int, default 20
    generations : int, default 200
    batch_size : int, default 64
    lr : float, default 0.02
    steps_per_epoch : int or None
        SGD steps per contender per generation; default ``max(1, n_train // batch_size)`` (one epoch).
    min_steps : int, default 1
        Lower bound on the steps per contender per generation: ``max(min_steps, steps_per_epoch)``.
        The default 1 is the papers' rule unchanged. Small corpora make one epoch very short (a demo
        corpus's ~240 training segments give 3 steps of 64), so a contender's fitness is measured
        after a handful of updates; ``min_steps`` (e.g. 20) gives every contender a documented
        minimum of training there, and is a no-op on corpora where one epoch is already longer.
    mode : {"sequential", "parallel"}, default "sequential"
    tournaments : int, default 1
        Disjoint tournaments per generation.
    boundary : {"wrap", "clamp"}, default "wrap"
    mutate : {"loser", "winner"}, default "loser"
    mutation_rate : float or None
        Per-gene probability; default ``1 / (N * L)``.
    mutation_range : int, default 2
        Mutation adds an integer from ``[-mutation_range, mutation_range]``.
    """

    population: int = 20
    generations: int = 200
    batch_size: int = 64
    lr: float = 0.02
    steps_per_epoch: int | None = None
    min_steps: int = 1
    mode: Literal["sequential", "parallel"] = "sequential"
    tournaments: int = 1
    boundary: Literal["wrap", "clamp"] = "wrap"
    mutate: Literal["loser", "winner"] = "loser"
    mutation_rate: float | None = None
    mutation_range: int = 2

    def validate(self) -> "EvolveConfig":
        if self.mode not in ("sequential", "parallel"):
            raise InputError(f"EvolveConfig: mode must be 'sequential' or 'parallel', got {self.mode!r}")
        if self.boundary not in ("wrap", "clamp"):
            raise InputError(f"EvolveConfig: boundary must be 'wrap' or 'clamp', got {self.boundary!r}")
        if self.mutate not in ("loser", "winner"):
            raise InputError(f"EvolveConfig: mutate must be 'loser' or 'winner', got {self.mutate!r}")
        if self.population < 2:
            raise InputError(f"EvolveConfig: population must be >= 2, got {self.population}")
        if self.tournaments < 1 or 2 * self.tournaments > self.population:
            raise InputError(f"EvolveConfig: tournaments must be in [1, population // 2], got {self.tournaments}")
        if self.generations < 0 or self.batch_size < 1 or not self.lr > 0:
            raise InputError(f"EvolveConfig: need generations >= 0, batch_size >= 1, lr > 0; got "
                             f"{self.generations}, {self.batch_size}, {self.lr}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise InputError(f"EvolveConfig: steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.min_steps < 1:
            raise InputError(f"EvolveConfig: min_steps must be >= 1, got {self.min_steps}")
        if self.mutation_rate is not None and not 0.0 <= self.mutation_rate <= 1.0:
            raise InputError(f"EvolveConfig: mutation_rate must be in [0, 1], got {self.mutation_rate}")
        if self.mutation_range < 0:
            raise InputError(f"EvolveConfig: mutation_range must be >= 0, got {self.mutation_range}")
        return self


@dataclass
class EvolveResult:
    """Outcome of :func:`evolve`.

    Attributes
    ----------
    task : int
        Head index of the task in the network.
    genotypes : numpy.ndarray
        Final population ``(S, L, N)``.
    fitness : numpy.ndarray
        ``(S,)`` last measured fitness of each slot (NaN: a mutant never evaluated).
    best : numpy.ndarray
        Genotype ``(L, N)`` with the highest fitness.
    best_fitness : float
    fixed : numpy.ndarray or None
        ``(L, M)`` modules that were frozen and always active during this evolution.
    history : list of dict
        Per generation: ``generation``, ``fitness`` (contenders), ``best_fitness``, and ``eval`` when an
        evaluation callback was given (the learning curve).
    standardizer : emofast.dataset.Standardizer or None
        The training statistics the inputs were standardised with (None: ``standardize=False``);
        apply it to data you predict with this result.
    resumed_from : int or None
        Generation the run resumed at from its checkpoint (None: started afresh).
    """

    task: int
    genotypes: np.ndarray
    fitness: np.ndarray
    best: np.ndarray
    best_fitness: float
    fixed: np.ndarray | None
    history: list = field(default_factory=list)
    standardizer: Standardizer | None = None
    resumed_from: int | None = None

    def best_mask(self, num_modules: int) -> np.ndarray:
        """``(L, M)`` bool modules of the best pathway, including the fixed ones."""
        m = best_mask(self.best, num_modules)
        return m | self.fixed if self.fixed is not None else m


def best_mask(genotype: np.ndarray, num_modules: int) -> np.ndarray:
    """``(L, M)`` bool mask of a genotype ``(L, N)``."""
    genotype = np.asarray(genotype, dtype=np.int64)
    mask = np.zeros((genotype.shape[0], num_modules), dtype=bool)
    np.put_along_axis(mask, genotype, True, axis=1)
    return mask


def mutate_genotype(genotype: np.ndarray, num_modules: int, rng: np.random.Generator, *, rate: float | None = None,
                    step: int = 2, boundary: str = "wrap") -> np.ndarray:
    """Mutated copy of a genotype ``(L, N)``: each gene, with probability ``rate`` (default
    ``1/(N L)``), gets ``rng.integers(-step, step + 1)`` added, then wraps modulo ``M`` or clamps to
    ``[0, M - 1]`` (``boundary``)."""
    g = np.array(genotype, dtype=np.int64, copy=True)
    rate = 1.0 / g.size if rate is None else rate
    hit = rng.random(g.shape) < rate
    delta = rng.integers(-step, step + 1, size=g.shape)
    g = g + np.where(hit, delta, 0)
    if boundary == "wrap":
        return np.mod(g, num_modules)
    if boundary == "clamp":
        return np.clip(g, 0, num_modules - 1)
    raise InputError(f"mutate_genotype: boundary must be 'wrap' or 'clamp', got {boundary!r}")


def _as_xy(X, y, net: PathNet) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise InputError(f"evolve: X has {X.shape[0]} samples but y has {y.shape[0]} (need the same, >= 1)")
    X = X.reshape(X.shape[0], -1).to(net.weights[0].dtype).contiguous()
    if X.shape[1] != net.in_features:
        raise InputError(f"evolve: X has {X.shape[1]} features per sample, the network expects {net.in_features}")
    if not torch.isfinite(X).all():
        raise InputError("evolve: X contains NaN or Inf")
    return X, y


_RESERVED = ("task", "seed", "config", "data", "fixed", "standardize", "network", "world")


def _identity(net: PathNet, X: torch.Tensor, y: torch.Tensor, *, task: int, seed, config: EvolveConfig,
              fixed: np.ndarray | None, standardize: bool, extra: dict | None) -> dict:
    """What makes a checkpoint this run's (see :mod:`emofast.train.checkpoint`)."""
    clash = sorted(set(extra or {}) & set(_RESERVED))
    if clash:
        raise InputError(f"evolve: identity keys {clash} are reserved (they are always recorded)")
    seed_id = (int(seed) if not isinstance(seed, np.random.Generator)
               else {"generator": json.loads(json.dumps(seed.bit_generator.state))})
    return {"seed": seed_id, **(extra or {}), "task": int(task), "config": dataclasses.asdict(config),
            "data": ckpt_io.fingerprint(X, y), "fixed": None if fixed is None else ckpt_io.fingerprint(fixed),
            "standardize": bool(standardize),
            "network": {k: list(v.shape) for k, v in net.state_dict().items()}, **dist.identity()}


def _read_checkpoint(path: str, ident: dict) -> dict | None:
    """The state of ``path`` if it exists (checked against ``ident``), else None."""
    return ckpt_io.load(path, "emofast.evolve", ident) if os.path.exists(path) else None


def evolve(
    net: PathNet,
    X,
    y,
    *,
    task: int,
    config: EvolveConfig = EvolveConfig(),
    seed: int | np.random.Generator = 0,
    fixed: np.ndarray | None = None,
    checkpoint: str | os.PathLike | None = None,
    evaluate: Callable[[np.ndarray], float] | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    standardize: bool = True,
    identity: dict | None = None,
) -> EvolveResult:
    """Evolve a population of pathways of ``net`` on one task with microbial binary tournaments.

    Parameters
    ----------
    net : PathNet
        Trained in place (modules of trained pathways and the head of ``task``).
    X, y : array-like
        Training samples ``(n, ...)`` (flattened to ``net.in_features``) and labels ``(n,)``.
    task : int
        Head of ``net`` to train.
    config : EvolveConfig
    seed : int or numpy.random.Generator
        Seeds the population, the tournaments, the shuffles and the mutations.
    fixed : numpy.ndarray, optional
        ``(L, M)`` bool modules active in every pathway (a transferred pathway; freeze them first).
    checkpoint : path, optional
        File rewritten after every generation; when it exists the run resumes from it (a
        :class:`~emofast.train.checkpoint.ResumeWarning` says so) provided it was written by this
        very run: same seed, task, data, ``fixed``, settings, network shapes and ``identity``,
        else :class:`~emofast.errors.StoreError` names the file and the field that differs.
    evaluate : callable, optional
        ``evaluate(best_genotype) -> float`` called after every generation (e.g. test accuracy), for
        learning curves.
    progress : bool, default False
        Show a tqdm bar with the generation and the best fitness.
    stop_after : int, optional
        Stop (as if interrupted) once this many generations are done; the checkpoint allows resuming.
    standardize : bool, default True
        Standardise every input feature with the statistics of ``X`` (kept in
        :attr:`EvolveResult.standardizer`; apply it to data you predict). False: ``X`` is used as
        given (already standardised).
    identity : dict, optional
        Plain (JSON) data that also identifies the run in the checkpoint, e.g.
        ``{"fold": 3, "protocol": "loso"}``: a checkpoint with other values is refused.

    Returns
    -------
    EvolveResult
    """
    config = config.validate()
    X, y = _as_xy(X, y, net)
    X_given = X
    std = None
    if standardize:
        std = Standardizer.fit(X.numpy(), per="feature")
        X = torch.from_numpy(std(X.numpy())).to(net.weights[0].dtype)
    L, M = net.num_layers, net.num_modules
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    fixed_t = None
    if fixed is not None:
        fixed = np.asarray(fixed, dtype=bool)
        fixed_t = net._check_module_mask(torch.from_numpy(fixed.copy()), "evolve(fixed)")
    n = X.shape[0]
    bs = min(config.batch_size, n)
    steps = max(config.min_steps, config.steps_per_epoch or max(1, n // bs))

    start = 0
    state = ident = None
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        ident = dist.on_main(_identity, net, X_given, y, task=task, seed=seed, config=config, fixed=fixed,
                             standardize=standardize, extra=identity)
        state = dist.on_main(_read_checkpoint, checkpoint, ident)
    resumed_from = None
    if state is not None:
        try:
            net.load_state_dict(state["net"])
            genotypes = state["genotypes"].numpy().astype(np.int64)
            fitness = state["fitness"].numpy().astype(np.float64)
            history = json.loads(state["history"])
            rng.bit_generator.state = json.loads(state["rng"])
            start = int(state["generation"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise StoreError(f"evolve: checkpoint {checkpoint} is damaged ({type(exc).__name__}: {exc})") from None
        if genotypes.shape != (config.population, L, min(net.max_active, M)) or not 0 <= start <= config.generations:
            raise StoreError(f"evolve: checkpoint {checkpoint} is damaged (population {genotypes.shape}, "
                             f"generation {start})")
        resumed_from = start
        if dist.is_main():
            warnings.warn(ckpt_io.ResumeWarning(f"resuming {checkpoint} at generation {start}/{config.generations}"),
                          stacklevel=2)
    else:
        keys = rng.random((config.population, L, M))
        genotypes = np.sort(np.argsort(keys, axis=-1)[..., : min(net.max_active, M)], axis=-1).astype(np.int64)
        fitness = np.full(config.population, np.nan)
        history = []

    sharded = dist.active()
    dist.broadcast_module(net)
    bar = progress_bar(total=config.generations, initial=start, desc=f"evolve task {task}", unit="gen",
                       enabled=progress and dist.is_main())
    K = config.tournaments
    for gen in range(start, config.generations):
        if stop_after is not None and gen >= stop_after:
            break
        picks = rng.choice(config.population, size=2 * K, replace=False)
        correct = np.zeros(2 * K, dtype=np.int64)
        seen = np.zeros(2 * K, dtype=np.int64)
        if sharded:
            from emofast.distributed.pathnet import train_contenders

            perms = [torch.from_numpy(rng.permutation(n)) for _ in range(1 if config.mode == "parallel" else 2 * K)]
            correct, seen = train_contenders(net, X, y, genotypes[picks], perms, mode=config.mode, steps=steps,
                                             batch_size=bs, lr=config.lr, task=task, fixed=fixed_t)
        elif config.mode == "parallel":
            g = torch.from_numpy(genotypes[picks])
            perm = torch.from_numpy(rng.permutation(n))
            for s in range(steps):
                idx = perm[(s * bs) % n: (s * bs) % n + bs]
                _, c = net.train_step(X[idx], y[idx], g, lr=config.lr, task=task, fixed=fixed_t)
                correct += c.numpy()
                seen += idx.numel()
        else:
            for j, p in enumerate(picks):
                g = torch.from_numpy(genotypes[p][None])
                perm = torch.from_numpy(rng.permutation(n))
                for s in range(steps):
                    idx = perm[(s * bs) % n: (s * bs) % n + bs]
                    _, c = net.train_step(X[idx], y[idx], g, lr=config.lr, task=task, fixed=fixed_t)
                    correct[j] += int(c[0])
                    seen[j] += idx.numel()
        fit = correct / seen
        for k in range(K):
            a, b = picks[2 * k], picks[2 * k + 1]
            fa, fb = fit[2 * k], fit[2 * k + 1]
            win, lose, fwin = (a, b, fa) if fa >= fb else (b, a, fb)
            mutant = mutate_genotype(genotypes[win], M, rng, rate=config.mutation_rate, step=config.mutation_range,
                                     boundary=config.boundary)
            if config.mutate == "loser":
                genotypes[lose] = mutant
                fitness[win], fitness[lose] = fwin, np.nan
            else:
                genotypes[lose] = genotypes[win].copy()
                genotypes[win] = mutant
                fitness[lose], fitness[win] = fwin, np.nan
        best_i = int(np.nanargmax(fitness)) if np.isfinite(fitness).any() else 0
        rec = {"generation": gen + 1, "contenders": picks.tolist(), "fitness": fit.tolist(),
               "best_fitness": float(np.nanmax(fitness)) if np.isfinite(fitness).any() else float("nan")}
        if evaluate is not None:
            rec["eval"] = float(dist.on_main(evaluate, genotypes[best_i].copy()))
        history.append(rec)
        if checkpoint is not None:
            dist.on_main(lambda: ckpt_io.save(checkpoint, "emofast.evolve", ident, {
                "net": net.state_dict(), "genotypes": torch.from_numpy(genotypes.copy()),
                "fitness": torch.from_numpy(fitness.copy()), "history": json.dumps(history),
                "rng": json.dumps(rng.bit_generator.state), "generation": gen + 1}))
        bar.set_postfix(best=f"{rec['best_fitness']:.3f}")
        bar.update(1)
    bar.close()
    dist.check_same("evolve: the population, fitness and parameters", genotypes, fitness, *net.parameters())
    if np.isfinite(fitness).any():
        best_i = int(np.nanargmax(fitness))
        best_fit = float(fitness[best_i])
    else:
        best_i, best_fit = 0, float("nan")
    return EvolveResult(task=task, genotypes=genotypes.copy(), fitness=fitness.copy(), best=genotypes[best_i].copy(),
                        best_fitness=best_fit, fixed=None if fixed is None else fixed.copy(), history=history,
                        standardizer=std, resumed_from=resumed_from)


@dataclass
class Stage:
    """One task of a transfer chain (:func:`evolve_chain`): its training data and class count.

    Attributes
    ----------
    name : str
        Shown in progress bars and results (e.g. ``"ravdess"``).
    X : array-like of shape (n, ...)
        Training samples; flattened to the network's ``in_features``.
    y : array-like of int, shape (n,)
        Class indices in ``[0, num_classes)`` (number them contiguously, e.g. with
        :func:`emofast.dataset.encode_labels` or :attr:`emofast.dataset.SegmentData.segment_labels`).
    num_classes : int
        Size of the head this stage adds; each stage has its own head, so a source and a target
        need not share classes.

    Examples
    --------
    >>> import numpy as np
    >>> src = Stage("source", np.zeros((8, 12)), np.arange(8) % 4, 4)
    >>> Stage.pooled("a+b", [src, src]).X.shape
    (16, 12)
    """

    name: str
    X: object
    y: object
    num_classes: int

    def __post_init__(self) -> None:
        y = np.asarray(self.y)
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise InputError(f"Stage {self.name!r}: labels must lie in [0, {self.num_classes}), got "
                             f"[{int(y.min())}, {int(y.max())}]; number classes contiguously "
                             "(emofast.dataset.encode_labels)")

    @staticmethod
    def pooled(name: str, stages: Sequence["Stage"]) -> "Stage":
        """The union of several sources' data as one stage (multi-source transfer)."""
        if not stages:
            raise InputError("Stage.pooled: need at least one stage")
        X = np.concatenate([np.asarray(s.X).reshape(len(s.y), -1) for s in stages])
        y = np.concatenate([np.asarray(s.y) for s in stages])
        return Stage(name, X, y, max(s.num_classes for s in stages))


def transfer(net: PathNet, fixed: np.ndarray, num_classes: int, *,
             generator: torch.Generator | None = None) -> int:
    """The transfer step: freeze ``fixed`` modules, re-initialise every other one, add a new head.

    Parameters
    ----------
    net : PathNet
        Trained on the earlier stage(s); changed in place.
    fixed : array of bool, shape (L, M)
        Modules to keep (the union of the earlier stages' best pathways); they stay active in every
        later pathway (pass the same mask as ``fixed`` to :func:`evolve`).
    num_classes : int
        Classes of the new task.
    generator : torch.Generator, optional
        Seeds the re-initialisation and the new head.

    Returns
    -------
    int
        The new task's head index.
    """
    net.freeze(torch.from_numpy(np.asarray(fixed, dtype=bool).copy()))
    net.reset_modules(keep=net.frozen.cpu(), generator=generator)
    return net.add_head(num_classes, generator=generator)


def evolve_chain(
    net: PathNet,
    stages: Sequence[Stage | Sequence[Stage]],
    *,
    config: EvolveConfig = EvolveConfig(),
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    evaluate: Sequence[Callable[[np.ndarray], float] | None] | None = None,
    progress: bool = False,
    stop_after: tuple[int, int] | None = None,
    standardize: bool = True,
    identity: dict | None = None,
) -> list[EvolveResult]:
    """Evolve ``net`` on each stage in turn, transferring the fixed pathways forward.

    Stage ``i > 0`` freezes the union of the best pathways of stages ``0..i-1`` (always active),
    re-initialises every other module (seeded by ``seed`` and ``i``), adds a head (:func:`transfer`)
    and evolves a new population. A stage given as a sequence of :class:`Stage` pools their data.
    Each stage's inputs are standardised with that stage's own statistics unless
    ``standardize=False`` (see :func:`evolve`).

    Parameters
    ----------
    net : PathNet
        Fresh network (its existing heads are ignored; one head is added per stage).
    stages : sequence
        ``[source, target]`` for one transfer, longer for chains.
    config, seed, progress
        As in :func:`evolve` (stage ``i`` is seeded with ``seed + 1000 * i``).
    checkpoint_dir : path, optional
        ``stage{i}.pt`` per stage; finished stages are loaded instead of re-run.
    evaluate : sequence of callables, optional
        Per stage, as ``evaluate`` of :func:`evolve`; it receives the genotype, and ``fixed`` is
        ``results[-1].fixed`` of that stage.
    stop_after : (stage, generations), optional
        Simulated interruption: stop stage ``stage`` after that many generations and return.
    standardize : bool, default True
        As in :func:`evolve`, per stage.
    identity : dict, optional
        As in :func:`evolve`; each stage's checkpoint also records ``stage`` (its index).
    """
    results: list[EvolveResult] = []
    fixed = np.zeros((net.num_layers, net.num_modules), dtype=bool)
    if checkpoint_dir is not None:
        dist.on_main(os.makedirs, checkpoint_dir, exist_ok=True)
    for i, st in enumerate(stages):
        stage = Stage.pooled("+".join(s.name for s in st), list(st)) if isinstance(st, (list, tuple)) else st
        gen = torch.Generator().manual_seed(seed * 7919 + i)
        task = (transfer(net, fixed, stage.num_classes, generator=gen) if i > 0
                else net.add_head(stage.num_classes, generator=gen))
        ckpt = None if checkpoint_dir is None else os.path.join(os.fspath(checkpoint_dir), f"stage{i}.pt")
        ev = None if evaluate is None else evaluate[i]
        res = evolve(net, stage.X, stage.y, task=task, config=config, seed=seed + 1000 * i,
                     fixed=fixed.copy() if i > 0 else None, checkpoint=ckpt, evaluate=ev, progress=progress,
                     standardize=standardize, identity={**(identity or {}), "stage": i},
                     stop_after=stop_after[1] if stop_after is not None and stop_after[0] == i else None)
        results.append(res)
        if stop_after is not None and stop_after[0] == i:
            return results
        fixed = fixed | res.best_mask(net.num_modules)
    return results
