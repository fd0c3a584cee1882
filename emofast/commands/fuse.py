"""``emofast fuse``: per-modality LSTMs and decision-level fusion of audio and faces.

Examples
--------
Extract both modalities of an audio-visual corpus, then cross-validate one sequence model per
modality and every fusion method (the fusion paper's Tables 2-5)::

    emofast features demo ROOT --out STORE
    emofast features demo ROOT --out STORE --modality video
    emofast fuse STORE --corpus demo_studio --protocol loso --out results/

The audio utterances are split (k-fold by utterance or leave-one-speaker-out); inside each fold a
validation split is carved from the training side (held-out speakers under LOSO, utterances under
k-fold), one LSTM per modality is trained on the rest, and logistic regression and the ensemble
prior are fitted on validation posteriors only. With ``--features cnn`` the LSTMs read embeddings
of a GroupNorm CNN per modality, trained inside each fold on the fit utterances only (the test
fold and the validation split are never trained on), instead of pooled segments. An utterance without a face track is fused from
its audio alone. Finished folds are kept in ``--checkpoint-dir`` (default ``<out>/checkpoints``, one
folder per protocol and method); rerunning the same command skips them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emofast.commands import (add_checkpoint_args, add_fold_args, announce_resumes,
                              checkpoint_dir, fold_indices, parse_labels, prepare_out, print_fold,
                              set_threads)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``fuse`` sub-parser."""
    from emofast.experiments.baseline import BASELINE_WIDTHS
    from emofast.experiments.fusion import FEATURES

    p = subparsers.add_parser(
        "fuse", help="per-modality LSTMs + decision-level fusion of audio and video features",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="feature store with audio and video sets (`emofast features`)")
    p.add_argument("--corpus", help="corpus name inside the store (default: the only one)")
    p.add_argument("--protocol", nargs="+", choices=("kfold", "loso"), default=["kfold"],
                   help="kfold: stratified k-fold by utterance; loso: leave one speaker out "
                        "[kfold]")
    p.add_argument("--labels", type=parse_labels, default=None,
                   help="emotions to keep: all, paper-six, or a comma list [all]")
    p.add_argument("--out", type=Path, default=Path("emofast-fusion"),
                   help="report folder [%(default)s]")
    p.add_argument("--methods", nargs="+", default=None, metavar="M",
                   help="evaluate only these: audio, video, and entries of "
                        "emofast.fusion.FUSION_METHODS (lr, ensemble, ensemble+prior, ...) [all]")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    g = p.add_argument_group("sequence models (one LSTM per modality) and validation")
    g.add_argument("--epochs", type=int, default=30, help="training epochs [%(default)s]")
    g.add_argument("--hidden", type=int, default=128, help="hidden-layer units [%(default)s]")
    g.add_argument("--lstm", type=int, default=128, help="LSTM units [%(default)s]")
    g.add_argument("--dropout", type=float, default=0.5, help="after the LSTM [%(default)s]")
    g.add_argument("--batch-size", type=int, default=16, help="mini-batch size [%(default)s]")
    g.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate [%(default)s]")
    g.add_argument("--pool", type=int, default=8,
                   help="each segment / face crop is average-pooled to POOL x POOL per channel "
                        "[%(default)s]")
    g.add_argument("--max-steps", type=int, default=32,
                   help="frames kept per utterance, evenly strided (0: all) [%(default)s]")
    g.add_argument("--features", choices=FEATURES, default="pooled",
                   help="LSTM inputs: pooled segments / face crops, or embeddings of a GroupNorm "
                        "CNN per modality trained inside each fold on its fit utterances only "
                        "[%(default)s]")
    g.add_argument("--cnn-epochs", type=int, default=10,
                   help="with --features cnn: epochs of each fold's CNN [%(default)s]")
    g.add_argument("--cnn-width", choices=sorted(BASELINE_WIDTHS), default="tiny",
                   help="with --features cnn: the CNN's preset width [%(default)s]")
    g.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the training side held out for validation [%(default)s]")
    g.add_argument("--folds", type=int, default=5, help="k of k-fold [%(default)s]")
    g.add_argument("--seed", type=int, default=0, help="random seed [%(default)s]")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest on a shared 2-core machine [%(default)s]")
    add_fold_args(p)
    add_checkpoint_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emofast fuse``."""
    import numpy as np

    from emofast import dataset
    from emofast.experiments.fusion import FusionConfig, evaluate_fusion
    from emofast.report import PROTOCOL_NAMES, write_report

    out_dir = prepare_out(args.out)
    set_threads(args.threads)
    config = FusionConfig(hidden=args.hidden, lstm=args.lstm, dropout=args.dropout,
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          pool=args.pool, max_steps=args.max_steps or None,
                          val_fraction=args.val_fraction, features=args.features,
                          cnn_epochs=args.cnn_epochs, cnn_width=args.cnn_width)
    audio = dataset.from_feature_set(
        dataset.open_feature_set(args.store, args.corpus, "audio", default_settings=True),
        args.labels)
    video = dataset.from_feature_set(
        dataset.open_feature_set(args.store, args.corpus or audio.corpus, "video"),
        [c for c in audio.classes])
    print(f"{audio.corpus} audio: {audio.summary()}", flush=True)
    print(f"{video.corpus} video: {video.summary()}", flush=True)
    evaluations = []
    ckpt = checkpoint_dir(args, out_dir)
    for protocol in args.protocol:
        print(f"  {PROTOCOL_NAMES[protocol]}:", flush=True)
        with announce_resumes("    "):
            evs = evaluate_fusion({"audio": audio, "video": video}, protocol, config,
                                  folds=args.folds, seed=args.seed, max_folds=args.max_folds,
                                  fold_indices=fold_indices(args), on_fold=print_fold("    "),
                                  methods=args.methods,
                                  checkpoint_dir=None if ckpt is None else ckpt / protocol)
        for f in evs[0].folds:
            print(f"    fold {f['fold'] + 1}: validation {f['validation_utterances']} utterances "
                  f"({f['validation_by']}s), d (micro-F1) audio/video "
                  f"{np.round(f['d_micro_f1'], 3).tolist()}", flush=True)
        evaluations += evs
    title = (f"emofast fuse: {audio.corpus}, LSTM per modality + decision-level fusion "
             f"({len(audio.classes)} classes)")
    out = write_report(out_dir, evaluations, title=title, plots=not args.no_plots,
                       notice=sys.stdout,
                       extra_json={"command": getattr(args, "command_line", None)})
    print()
    print(out["summary"])
    print(f"\nreport: {out['text']}" + (f" (+ {len(out['plots'])} plots)" if out["plots"] else ""))
    return 0
