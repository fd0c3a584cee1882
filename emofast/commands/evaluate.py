"""``emofast evaluate``: train and score the baseline classifier on stored features, or score saved
predictions.

Examples
--------
Train the GroupNorm CNN baseline under stratified 5-fold by utterance and leave-one-speaker-out on
a store written by ``emofast features``::

    emofast evaluate STORE --corpus emodb --protocol kfold loso --out results/

The classic baseline under the same folds: openSMILE functionals (``emofast features ...
--functionals compare``) with logistic regression, every speaker normalised by its own statistics::

    emofast evaluate STORE --corpus emodb --protocol loso --model logreg --features compare \
        --normalize speaker --out results/

Face images under their official split (FER2013: train on Training, select the epoch on
PublicTest, test on PrivateTest), and CK+ in 10 folds by subject::

    emofast evaluate STORE --corpus fer2013 --protocol split --modality image --width small
    emofast evaluate STORE --corpus ckplus --protocol speaker-kfold --folds 10

Train the final model on all the data after cross-validation and save it as a bundle for
``emofast predict`` / ``emofast.load_model``::

    emofast evaluate STORE --corpus emodb --protocol loso --out results/ --save-model emodb.emofast

Score predictions saved as ``.npz`` (``y_true`` int array, ``posteriors`` (n, C) array, optional
``classes`` string array)::

    emofast evaluate --predictions preds.npz --out results/

Cross-validation is resumable at fold granularity: every finished fold is kept in
``--checkpoint-dir`` (default ``<out>/checkpoints``, one folder per protocol); rerunning the same
command skips them, and a fold killed mid-training restarts from its beginning (deterministic by its
seed), so the result is the one of an uninterrupted run.

Scaling out: ``torchrun --nproc-per-node N -m emofast evaluate STORE ...`` (no flag needed) trains
every fold's CNN data parallel on N ranks; ``--batch-size`` stays the global batch, so the steps are
those of a one-process run (equal up to float rounding with ``--dropout 0``; dropout draws per
rank). Rank 0 prints and writes the report and checkpoints (which record N).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from emofast.commands import (add_checkpoint_args, add_fold_args, add_scoring_args,
                              add_training_args, announce_resumes, baseline_config, checkpoint_dir,
                              fold_indices, normalization, parse_labels, prepare_out, print_fold,
                              set_threads)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-parser."""
    from emofast.protocols import PROTOCOLS

    p = subparsers.add_parser(
        "evaluate", help="cross-validate the baseline on stored features, or score predictions",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", nargs="?", help="feature store folder (from `emofast features`)")
    p.add_argument("--corpus", help="corpus name inside the store (default: the only one)")
    p.add_argument("--modality", choices=("audio", "video", "image"), default=None,
                   help="feature modality [the one stored for the corpus; audio if several]")
    p.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=["kfold"],
                   help="kfold: stratified k-fold by utterance; loso: leave one speaker out; "
                        "speaker-kfold: k folds of whole speakers (subjects); split: the corpus's "
                        "official split (train, select on val, test); segment: the papers' "
                        "segment-level split (leaks, marked *) [kfold]")
    p.add_argument("--labels", type=parse_labels, default=None,
                   help="emotions to keep: all, paper-six, or a comma list [all]")
    p.add_argument("--model", choices=("cnn", "logreg", "svm"), default="cnn",
                   help="GroupNorm CNN, or a linear model (logistic regression, linear SVM; "
                        "needs scikit-learn) [%(default)s]")
    p.add_argument("--features", choices=("logmel", "compare", "egemaps"), default="logmel",
                   help="stored audio features: log-Mel segments, or openSMILE functionals "
                        "(ComParE_2016, eGeMAPSv02) [%(default)s]")
    p.add_argument("--C", type=float, default=None, dest="C",
                   help="linear models: inverse L2 strength [chosen on --val-speakers (2 if "
                        "unset) held-out training speakers]")
    add_scoring_args(p)
    p.add_argument("--predictions", type=Path,
                   help="score this .npz (y_true, posteriors[, classes]) instead of training")
    p.add_argument("--out", type=Path, default=Path("emofast-results"),
                   help="report folder [%(default)s]")
    p.add_argument("--save-model", type=Path, default=None, metavar="PATH",
                   help="after cross-validation, train the CNN on all the data with the same "
                        "settings and write a model bundle there (for `emofast predict`)")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_training_args(p, epochs=20, folds=5, norm=True)
    add_fold_args(p)
    add_checkpoint_args(p)
    p.set_defaults(run=run, distributed=True)


def _score_predictions(path: Path):
    from emofast.errors import InputError, MissingFileError
    from emofast.metrics import score
    from emofast.report import Evaluation

    if not path.is_file():
        raise MissingFileError(f"predictions file {str(path)!r} does not exist")
    with np.load(path, allow_pickle=False) as z:
        missing = {"y_true", "posteriors"} - set(z.files)
        if missing:
            raise InputError(f"{path} lacks array(s) {sorted(missing)}; it holds {z.files}")
        y = z["y_true"].astype(np.int64)
        post = z["posteriors"].astype(np.float64)
        classes = [str(c) for c in z["classes"]] if "classes" in z.files else [
            f"class{i}" for i in range(post.shape[1])]
    if post.ndim != 2 or len(classes) != post.shape[1]:
        raise InputError(f"posteriors must be (n, {len(classes)}), got {post.shape}")
    return Evaluation(name=path.stem, classes=classes,
                      scores=score(y, scores=post, n_classes=post.shape[1]), protocol="given")


def _evaluator(args: argparse.Namespace, data: Any) -> Any:
    """``evaluate(data, protocol, **options)`` of the chosen model, its settings bound."""
    import functools

    from emofast.errors import InputError

    if args.model == "cnn":
        from emofast.experiments.baseline import evaluate_cnn

        if np.ndim(data.X[:1]) != 4:
            raise InputError(f"the CNN needs log-Mel segments; {args.features} are feature "
                             "vectors: use --model logreg or svm")
        return functools.partial(evaluate_cnn, config=baseline_config(args),
                                 progress=not args.no_progress)
    from emofast.experiments.classic import LinearConfig, evaluate_linear

    config = LinearConfig(args.model, C=args.C, val_speakers=args.val_speakers or 2)
    return functools.partial(evaluate_linear, config=config)


def _check_save_model(args: argparse.Namespace) -> None:
    """Refuse ``--save-model`` settings that cannot give a deployable model, before any work."""
    from emofast.errors import InputError

    if args.save_model is None:
        return
    if args.predictions is not None:
        raise InputError("--save-model trains on a feature STORE; it cannot come from --predictions")
    if args.model != "cnn":
        raise InputError(f"--save-model saves the CNN; --model {args.model} cannot be saved yet")
    if args.save_model.is_dir():
        raise InputError(f"--save-model {args.save_model} is a folder; give a file name such as "
                         "model.emofast")
    if not args.save_model.parent.is_dir():
        raise InputError(f"--save-model {args.save_model}: folder {args.save_model.parent} "
                         "does not exist")


def _save_model(args: argparse.Namespace, data: Any, feature_set: Any,
                evaluations: list) -> None:
    """Train the CNN on all of ``data`` and write the bundle ``--save-model``."""
    from emofast import dataset
    from emofast.bundle.final import save_final_model

    if normalization(args) is not None:  # as in cross-validation; the bundle records it
        data = dataset.normalize(data, by=normalization(args))
    print(f"  final model on all {data.n_utterances} utterances:", flush=True)
    final, record = save_final_model(
        args.save_model, data, baseline_config(args), features=feature_set,
        evaluations=evaluations, seed=args.seed, aggregate=args.aggregate,
        progress=not args.no_progress,
        provenance={"command": getattr(args, "command_line", None), "store": str(args.store)})
    n = final.config.epochs
    same = " --same-speaker" if data.normalization else ""
    print(f"  model: {args.save_model} ({n} epoch{'s' * (n != 1)}, "
          f"{record['epochs_from']}; `emofast predict {args.save_model}{same} FILE...`)",
          flush=True)


def run(args: argparse.Namespace) -> int:
    """Run ``emofast evaluate``."""
    from emofast.distributed import on_main
    from emofast.report import write_report

    _check_save_model(args)
    out_dir = prepare_out(args.out)
    if args.predictions is not None:
        evaluations = [_score_predictions(args.predictions)]
        title = f"emofast evaluate: {args.predictions}"
    else:
        from emofast import dataset
        from emofast.errors import InputError
        from emofast.report import PROTOCOL_NAMES

        if not args.store:
            raise InputError("give a feature STORE folder or --predictions FILE")
        set_threads(args.threads)
        functionals = None if args.features == "logmel" else args.features
        feature_set = dataset.open_feature_set(args.store, args.corpus, args.modality,
                                               default_settings=True, functionals=functionals)
        modality = feature_set.modality
        data = dataset.from_feature_set(feature_set, args.labels)
        evaluate = _evaluator(args, data)
        features = args.features if modality == "audio" else "face"
        print(f"{data.corpus} ({modality}, {features}): {data.summary()}", flush=True)
        evaluations = []
        ckpt = checkpoint_dir(args, out_dir)
        for protocol in args.protocol:
            print(f"  {PROTOCOL_NAMES[protocol]}:", flush=True)
            with announce_resumes("    "):
                ev = evaluate(data, protocol, folds=args.folds, repeats=args.repeats,
                              seed=args.seed, max_folds=args.max_folds,
                              fold_indices=fold_indices(args), on_fold=print_fold("    "),
                              checkpoint_dir=None if ckpt is None else ckpt / protocol,
                              normalize=normalization(args),
                              aggregate=args.aggregate)
            fw = np.asarray(ev.fold_uar, dtype=float)
            print(f"  {PROTOCOL_NAMES[protocol]}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}"
                  f"  (fold UAR {np.nanmean(fw):.3f} ± {np.nanstd(fw):.3f} over {fw.size} folds, "
                  f"{ev.seconds:.0f} s)", flush=True)
            evaluations.append(ev)
        if args.save_model is not None:
            _save_model(args, data, feature_set, evaluations)
        model = {"cnn": "GN-CNN", "logreg": "logistic regression", "svm": "linear SVM"}[args.model]
        title = (f"emofast evaluate: {data.corpus} {modality} {features} features, "
                 f"{model} ({len(data.classes)} classes)")
    out = on_main(write_report, out_dir, evaluations, title=title, plots=not args.no_plots,
                  notice=sys.stdout, extra_json={"command": getattr(args, "command_line", None)})
    print()
    print(out["summary"])
    print(f"\nreport: {out['text']}" + (f" (+ {len(out['plots'])} plots)" if out["plots"] else ""))
    return 0
