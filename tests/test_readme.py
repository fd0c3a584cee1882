"""The README's API tour runs as written: every ```python block, in order, in one namespace."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_tour():
    assert len(_blocks()) >= 5


@pytest.mark.slow
def test_readme_tour_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOFAST_PROGRESS", "0")
    namespace: dict = {"__name__": "__main__"}
    for i, block in enumerate(_blocks()):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"README python block {i + 1} failed: {exc!r}\n{block}") from exc
    out = capsys.readouterr().out
    assert "WAR" in out and "error: no such feature archive" in out
    assert (tmp_path / "results" / "results.json").exists()
    assert os.path.isdir(tmp_path / ".emofast-cache" / "store")
