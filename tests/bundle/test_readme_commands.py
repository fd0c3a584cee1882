"""The README's "Using a trained model" commands run as written (after the tour's data exists)."""
from __future__ import annotations

import glob
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Using a trained model"):]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_section_has_the_commands():
    names = [argv[1] for argv in _commands()]
    assert names == ["features", "evaluate", "predict", "predict", "export"]


@pytest.mark.slow
def test_readme_model_commands_run_as_written(tmp_path, monkeypatch, capsys):
    from emofast import cli
    from emofast.synthetic import make_demo_corpora

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOFAST_PROGRESS", "0")
    make_demo_corpora(".emofast-cache/corpora", quick=True, video=True)  # the tour's first block
    for argv in _commands():
        assert argv[0] == "emofast"
        if argv[1] == "export" and importlib.util.find_spec("onnx") is None:
            continue
        args = [a for arg in argv[1:] for a in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
        rc = cli.main(args)
        captured = capsys.readouterr()
        assert rc == 0, f"{shlex.join(argv)}\n{captured.out}\n{captured.err}"
        if "--json" in args:
            assert json.loads(captured.out)["predictions"][0]["segments"]
    assert (tmp_path / "phone.emofast").is_file()
    assert (tmp_path / "results-phone" / "results.json").is_file()
