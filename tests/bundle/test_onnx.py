"""ONNX export of a bundle's CNN: onnxruntime gives PyTorch's posteriors within 1e-4."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emofast import cli
from emofast.bundle import export_onnx, load_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _run(path, segments):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["posteriors"], {"segments": segments})[0]


def test_onnx_matches_pytorch(trained, tmp_path):
    model = load_model(trained.bundle)
    out = export_onnx(model, tmp_path / "m.onnx")
    wavs = sorted(trained.roots["demo_phone"].rglob("*.wav"))
    for wav in wavs[:3]:  # batches of different sizes through the dynamic batch axis
        segments = model.segments(wav)
        np.testing.assert_allclose(_run(out, segments), model.segment_posteriors(segments),
                                   atol=1e-4, rtol=0)
    segments = np.concatenate([model.segments(w) for w in wavs[:8]])
    np.testing.assert_allclose(_run(out, segments), model.segment_posteriors(segments), atol=1e-4,
                               rtol=0)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["emofast.classes"]) == model.classes
    assert json.loads(meta["emofast.features"])["config"]["n_mels"] == 64
    assert json.loads(meta["emofast.aggregate"]) == "mean"  # every value is JSON


def test_export_from_a_path_and_the_cli(trained, tmp_path, capsys):
    assert export_onnx(trained.bundle, tmp_path / "a.onnx").is_file()
    out = tmp_path / "b.onnx"
    assert cli.main(["export", str(trained.bundle), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "(batch, 3, 64, 64)" in text
    seg = load_model(trained.bundle).segments(sorted(trained.roots["demo_phone"].rglob("*.wav"))[0])
    np.testing.assert_allclose(_run(out, seg), _run(tmp_path / "a.onnx", seg), atol=0)


def test_export_refuses_a_folder(trained, tmp_path, capsys):
    assert cli.main(["export", str(trained.bundle), "--onnx", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err
