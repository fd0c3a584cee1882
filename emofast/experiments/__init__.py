"""Experiments: the one fold loop and everything built on it.

- :mod:`emofast.experiments.crossval`: :func:`~emofast.experiments.crossval.cross_validate`, the
  fold loop every model goes through (split → standardise with training statistics → fit callback
  → utterance posteriors → scores);
- :mod:`emofast.experiments.baseline`: the GroupNorm CNN (cross-validation, pretraining,
  fine-tuning);
- :mod:`emofast.experiments.pathnet`: PathNet scratch vs transfer;
- :mod:`emofast.experiments.demo`: what ``emofast demo`` runs.

Import the submodule you need; nothing heavy is imported here.
"""
