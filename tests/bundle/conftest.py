"""Fixtures of the bundle tests: a feature store of one quick demo corpus, a CNN trained on it for
one epoch (tiny width) and its bundle, shared by the test files of this folder."""
from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_roots) -> SimpleNamespace:
    """``store``, ``fs`` (FeatureSet of demo_phone audio), ``data``, ``final`` (FinalModel, 1 epoch)
    and ``bundle`` (its file), with ``roots`` of the demo corpora."""
    from emofast import dataset, save_bundle
    from emofast.corpora import load_corpus, select_modality
    from emofast.experiments.baseline import BaselineConfig, train_final
    from emofast.store import FeatureStore

    root = tmp_path_factory.mktemp("bundle")
    store = root / "store"
    utts = select_modality(load_corpus("demo", demo_roots["demo_phone"]), "audio")
    fs = FeatureStore(store).extract("demo_phone", utts, "audio", progress=False)
    data = dataset.from_feature_set(fs)
    final = train_final(data, BaselineConfig(epochs=1), seed=0, progress=False)
    bundle = save_bundle(root / "phone.emofast", final, features=fs,
                         provenance={"corpora": ["demo_phone"], "protocol": "none"})
    return SimpleNamespace(store=store, fs=fs, data=data, final=final, bundle=bundle,
                           roots=demo_roots)


class Evil:
    """Unpickling this runs ``touch PWNED`` (in the current folder) — if anything unpickles it."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@pytest.fixture
def write_evil():
    """``write_evil(path, zipped)``: a bundle-looking torch file whose weights carry :class:`Evil`
    (``zipped``), or a raw pickle of it."""
    import torch

    def write(path: Path, zipped: bool) -> Path:
        if zipped:
            torch.save({"format": "emofast.bundle", "version": 1, "meta": "{}", "weights": Evil(),
                        "standardizer": {}}, path)
        else:
            path.write_bytes(pickle.dumps(Evil()))
        return path

    return write
