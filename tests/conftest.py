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
