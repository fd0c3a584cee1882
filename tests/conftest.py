"""Shared fixtures: the quick demo corpora, generated once per test session (audio only)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """A cache folder laid out as ``emofast demo --cache`` expects, with the quick corpora in it."""
    from emofast.synthetic import make_demo_corpora

    cache = tmp_path_factory.mktemp("emofast-cache")
    make_demo_corpora(cache / "corpora", seed=0, quick=True, video=False)
    return cache


@pytest.fixture(scope="session")
def demo_roots(demo_cache) -> dict[str, Path]:
    """Corpus name -> root of the quick demo corpora (reused from :func:`demo_cache`)."""
    from emofast.synthetic import make_demo_corpora

    return make_demo_corpora(demo_cache / "corpora", seed=0, quick=True, video=False)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, demo_roots) -> Path:
    """A feature store holding the log-Mel segments of the quick ``demo_studio`` corpus."""
    from emofast import cli

    path = tmp_path_factory.mktemp("demo-store")
    assert cli.main(["features", "demo", str(demo_roots["demo_studio"]), "--out", str(path),
                     "--no-progress"]) == 0
    return path


@pytest.fixture(scope="session")
def av_store(tmp_path_factory) -> Path:
    """A feature store holding the log-Mel segments and face crops of the quick audio-visual
    ``demo_studio`` corpus (48 utterances, 4 speakers)."""
    from emofast import cli
    from emofast.synthetic import make_demo_corpora

    base = tmp_path_factory.mktemp("av")
    root = make_demo_corpora(base / "corpora", seed=0, quick=True, video=True,
                             workers=1)["demo_studio"]
    store = base / "store"
    for modality in ("audio", "video"):
        assert cli.main(["features", "demo", str(root), "--out", str(store), "--modality",
                         modality, "--no-progress"]) == 0
    return store


def _devices() -> list[str]:
    """``cpu``, plus ``cuda`` when torch sees a GPU and emofast was built with CUDA kernels."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        import emofast.ops  # noqa: F401  (loads the extension and its kernels)

        if torch._C._dispatch_has_kernel_for_dispatch_key("emofast::contrastive_loss", "CUDA"):
            devices.append("cuda")
    return devices


@pytest.fixture(params=_devices())
def device(request):
    """Each device the op tests run on: ``cpu`` everywhere, ``cuda`` on a GPU machine."""
    import torch

    return torch.device(request.param)


def corpus_root(name: str) -> Path:
    """Where the tests look for a real corpus: ``$EMOFAST_<NAME>`` (e.g. ``EMOFAST_EMODB``), else
    ``$EMOFAST_CORPORA/<name>``, else ``../shared/corpora/<name>`` beside the repository."""
    import os

    default = Path(os.environ.get("EMOFAST_CORPORA",
                                  Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    return Path(os.environ.get(f"EMOFAST_{name.upper()}", default / name))


def _real_corpus(name: str, probe: str, what: str) -> Path:
    """The real corpus folder ``name`` when ``<root>/<probe>`` exists; else the test skips."""
    root = corpus_root(name)
    if not (root / probe).is_dir():
        pytest.skip(f"{what} not found at {root} (set EMOFAST_{name.upper()} or EMOFAST_CORPORA)")
    return root


@pytest.fixture(scope="session")
def emodb_root() -> Path:
    """The real EMO-DB folder (535 WAVs in ``wav/``); tests using it skip when it is absent."""
    return _real_corpus("emodb", "wav", "EMO-DB")


@pytest.fixture(scope="session")
def ckplus_root() -> Path:
    """The real CK+48 folder (981 PNGs in emotion folders); tests using it skip when it is absent."""
    return _real_corpus("ckplus48", "anger", "CK+48")


@pytest.fixture(scope="session")
def fer2013_root() -> Path:
    """The real FER2013 folder (train/, validation/, test/); tests using it skip when it is absent."""
    return _real_corpus("fer2013", "train", "FER2013")


@pytest.fixture(scope="session")
def demo_pair_store(tmp_path_factory, demo_roots) -> Path:
    """A feature store holding the log-Mel segments of the quick ``demo_studio`` and
    ``demo_phone`` corpora (the transfer commands' source and target)."""
    from emofast import cli

    path = tmp_path_factory.mktemp("demo-pair-store")
    for corpus in ("demo_studio", "demo_phone"):
        assert cli.main(["features", "demo", str(demo_roots[corpus]), "--out", str(path),
                         "--no-progress"]) == 0
    return path
