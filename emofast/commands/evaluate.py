"""``emofast evaluate``: train and score the baseline classifier on stored features, or score saved
predictions.

Examples
--------
Train the GroupNorm CNN baseline under stratified 5-fold by utterance and leave-one-speaker-out on
a store written by ``emofast features``::

    emofast evaluate STORE --corpus emodb --protocol kfold loso --out results/

Score predictions saved as ``.npz`` (``y_true`` int array, ``posteriors`` (n, C) array, optional
``classes`` string array)::

    emofast evaluate --predictions preds.npz --out results/
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from emofast.commands import (SegmentData, add_training_args, make_baseline, parse_labels,
                              segment_data, set_threads)

__all__ = ["register", "run", "evaluate_segments", "pretrain", "open_feature_set"]


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-parser."""
    p = subparsers.add_parser(
        "evaluate", help="cross-validate the baseline on stored features, or score predictions",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", nargs="?", help="feature store folder (from `emofast features`)")
    p.add_argument("--corpus", help="corpus name inside the store (default: the only one)")
    p.add_argument("--modality", choices=("audio", "video"), default="audio",
                   help="feature modality [%(default)s]")
    p.add_argument("--protocol", nargs="+", choices=("kfold", "loso", "segment"),
                   default=["kfold"],
                   help="kfold: stratified k-fold by utterance; loso: leave one speaker out; "
                        "segment: the papers' segment-level split (leaks, marked *) [kfold]")
    p.add_argument("--labels", type=parse_labels, default=parse_labels("paper-six"),
                   help="emotions: paper-six, all, or a comma list [paper-six]")
    p.add_argument("--predictions", type=Path,
                   help="score this .npz (y_true, posteriors[, classes]) instead of training")
    p.add_argument("--out", type=Path, default=Path("emofast-results"),
                   help="report folder [%(default)s]")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_training_args(p, epochs=20, folds=5)
    p.set_defaults(run=run)


def evaluate_segments(
    data: SegmentData,
    protocol: str,
    *,
    name: str,
    width: str = "tiny",
    dropout: float = 0.2,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1e-3,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    progress: bool = True,
    init_state: dict | None = None,
):
    """Cross-validate a fresh baseline CNN per split and score the pooled test predictions.

    Parameters
    ----------
    data : SegmentData
    protocol : {"kfold", "loso", "segment"}
        ``kfold`` and ``loso`` split utterances and score utterances (mean of segment posteriors);
        ``segment`` reproduces the papers' leaky segment split and scores segments.
    name : str
        Row label in the report.
    width, dropout : str, float
        Baseline preset (:data:`emofast.commands.BASELINE_WIDTHS`) and its dropout.
    epochs, batch_size, lr, folds, repeats, seed : training and protocol settings.
    progress : bool
    init_state : dict, optional
        ``state_dict`` every split's model starts from (fine-tuning a model from
        :func:`pretrain`); all layers are trained.

    Returns
    -------
    emofast.report.Evaluation
    """
    from emofast import protocols
    from emofast.metrics import score
    from emofast.report import Evaluation
    from emofast.train.fit import FitConfig, cross_validate

    segment_level = protocol == "segment"
    # 'segment' emits a LeakageWarning here; the report also marks its row with *
    splits = protocols.make_splits(
        protocol, labels=data.labels, speakers=data.speakers,
        segment_labels=data.segment_labels, k=folds, repeats=repeats, seed=seed)
    cfg = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    n_classes = len(data.classes)
    t0 = time.perf_counter()
    def make():
        model = make_baseline(n_classes, width, dropout)
        if init_state is not None:
            model.load_state_dict(init_state)
        return model

    cv = cross_validate(make, data.X,
                        data.segment_labels, data.groups, splits, cfg,
                        segment_level=segment_level, desc=f"{name} fold")
    return Evaluation(
        name=name,
        classes=list(data.classes),
        scores=score(cv.y_true, scores=cv.posteriors, n_classes=n_classes),
        protocol=protocol,
        leaky=segment_level,
        level="segment" if segment_level else "utterance",
        fold_war=[float(v) for v in cv.fold_war],
        curves=[{"train_loss": f.history.train_loss, "train_acc": f.history.train_acc,
                 "val_acc": f.history.val_acc} for f in cv.folds],
        seconds=time.perf_counter() - t0,
        info={"splits": len(splits), "epochs": epochs, "width": width, "dropout": dropout,
              "lr": lr, "batch_size": batch_size, "seed": seed,
              "utterances": data.n_utterances, "segments": len(data.X)},
    )


def pretrain(
    data: SegmentData,
    *,
    width: str = "tiny",
    dropout: float = 0.2,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict, Any]:
    """Train the baseline on every segment of a source corpus (inputs standardised by its own
    per-channel statistics) and return its ``state_dict`` and training history.

    The classes of ``data`` must be those of the target it will be fine-tuned on (same order).
    """
    import torch

    from emofast.train.fit import FitConfig, fit, standardizer

    X = np.asarray(data.X[np.arange(len(data.X))], dtype=np.float32)
    mean, std = standardizer(X, np.arange(len(X)))
    X = (X - mean) / std
    torch.manual_seed(seed)
    model = make_baseline(len(data.classes), width, dropout)
    hist = fit(model, X, data.segment_labels,
               FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                         progress=progress), desc="pretrain")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, hist


def open_feature_set(store: str | Path, corpus: str | None, modality: str):
    """Open a stored feature set, extracted with the settings ``emofast features`` uses.

    Audio sets must have the default :class:`emofast.audio.LogMelConfig`; a set extracted with
    other settings is refused rather than silently used.

    Raises
    ------
    ValueError
        The store folder is missing, holds no complete set for ``corpus``/``modality`` with these
        settings, or ``corpus`` is ambiguous.
    """
    from emofast.store import FeatureStore

    root = Path(store)
    if not root.is_dir():
        raise ValueError(f"feature store {str(root)!r} does not exist; create it with "
                         "`emofast features <corpus> <root> --out STORE`")
    config = None
    if modality == "audio":
        from emofast.audio import LogMelConfig

        config = LogMelConfig()
    return FeatureStore(root).open(corpus, modality, config=config)


_PROTOCOL_NAMES = {"kfold": "k-fold by utterance", "loso": "leave-one-speaker-out",
                   "segment": "segment split"}


def _score_predictions(path: Path):
    from emofast.metrics import score
    from emofast.report import Evaluation

    if not path.is_file():
        raise ValueError(f"predictions file {str(path)!r} does not exist")
    with np.load(path, allow_pickle=False) as z:
        missing = {"y_true", "posteriors"} - set(z.files)
        if missing:
            raise ValueError(f"{path} lacks array(s) {sorted(missing)}; it holds {z.files}")
        y = z["y_true"].astype(np.int64)
        post = z["posteriors"].astype(np.float64)
        classes = [str(c) for c in z["classes"]] if "classes" in z.files else [
            f"class{i}" for i in range(post.shape[1])]
    if post.ndim != 2 or len(classes) != post.shape[1]:
        raise ValueError(f"posteriors must be (n, {len(classes)}), got {post.shape}")
    return Evaluation(name=path.stem, classes=classes,
                      scores=score(y, scores=post, n_classes=post.shape[1]), protocol="given")


def run(args: argparse.Namespace) -> int:
    """Run ``emofast evaluate``."""
    from emofast.report import write_report

    if args.predictions is not None:
        evaluations = [_score_predictions(args.predictions)]
        title = f"emofast evaluate: {args.predictions}"
    else:
        if not args.store:
            raise ValueError("give a feature STORE folder or --predictions FILE")
        set_threads(args.threads)
        fs = open_feature_set(args.store, args.corpus, args.modality)
        data = segment_data(fs, args.labels)
        corpus = args.corpus or getattr(fs, "corpus", "corpus")
        print(f"{corpus} ({args.modality}): {data.summary()}", flush=True)
        evaluations = []
        for protocol in args.protocol:
            ev = evaluate_segments(
                data, protocol, name=f"GN-CNN {corpus} {protocol}", width=args.width,
                dropout=args.dropout, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                folds=args.folds, repeats=args.repeats, seed=args.seed,
                progress=not args.no_progress)
            print(f"  {_PROTOCOL_NAMES[protocol]}: WAR {ev.scores.war:.3f}  UAR "
                  f"{ev.scores.uar:.3f}  ({ev.info['splits']} splits, {ev.seconds:.0f} s)",
                  flush=True)
            evaluations.append(ev)
        title = f"emofast evaluate: {corpus} {args.modality} features, baseline GN-CNN"
    out = write_report(args.out, evaluations, title=title, plots=not args.no_plots,
                       notice=sys.stdout)
    print()
    print(out["summary"])
    print(f"\nreport: {out['text']}" + (f" (+ {len(out['plots'])} plots)" if out["plots"] else ""))
    return 0
