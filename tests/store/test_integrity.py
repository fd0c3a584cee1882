"""Feature store integrity (issue 12): reads never write, damage is named, checksums, changed media,
read-only stores, the lock holder, and writers killed at several moments."""
from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emofast.errors import StoreError
from emofast.store import FeatureStore

from .test_store import Interrupting, fake_extractor, make_utterances

REPO = Path(__file__).resolve().parents[2]


def extract(store: FeatureStore, us, **kw):
    return store.extract("fake", us, "audio", extractor=kw.pop("extractor", fake_extractor),
                         progress=False, **kw)


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict:
    """Every file under root: its bytes and modification time."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip}


@pytest.fixture()
def complete(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=12, corrupt=(9,))
    store = FeatureStore(tmp_path / "store")
    fs = extract(store, us)
    return store, us, fs.path


def _lines(d: Path) -> list[bytes]:
    return (d / "progress.jsonl").read_bytes().splitlines(keepends=True)


def _set_lines(d: Path, lines: list[bytes]) -> None:
    (d / "progress.jsonl").write_bytes(b"".join(lines))


def garbled_middle_line(d):
    lines = _lines(d)
    lines[5] = b'{"id": "u05", "pa\x00\x17garbage\n'
    _set_lines(d, lines)


def bogus_json_line(d):
    lines = _lines(d)
    lines[4] = b'{"hello": "world"}\n'
    _set_lines(d, lines)


def duplicated_record(d):
    lines = _lines(d)
    _set_lines(d, lines[:8] + [lines[2]] + lines[8:])


def record_on_other_rows(d):
    """A record pointing at another utterance's rows, renumbered so only the rows give it away."""
    lines = _lines(d)
    rec, other = json.loads(lines[6]), json.loads(lines[2])
    rec.update(start=other["start"], stop=other["stop"])
    lines[6] = json.dumps(rec).encode() + b"\n"
    _set_lines(d, lines)


def truncated_progress(d):
    _set_lines(d, _lines(d)[:5])


def short_features(d):
    with open(d / "features.bin", "r+b") as fh:
        fh.truncate((d / "features.bin").stat().st_size - 10)


CORRUPTIONS = {
    "garbled middle line": (garbled_middle_line, r"progress.jsonl line 6 is garbled"),
    "deleted progress.jsonl": (lambda d: (d / "progress.jsonl").unlink(), "progress.jsonl is missing"),
    "bogus valid-JSON line": (bogus_json_line, r"progress.jsonl line 5 lacks 'id'"),
    "garbage after index.json": (lambda d: open(d / "index.json", "a").write(" {x}"),
                                 r"index.json is damaged \(Extra data"),
    "deleted layout.json": (lambda d: (d / "layout.json").unlink(), "layout.json is missing"),
    "duplicated record": (duplicated_record, r"line 9 is record number 2 where 8 was expected"),
    "record on another utterance's rows": (record_on_other_rows, "overlap the rows"),
    "records lost": (truncated_progress, "holds 5 complete records but index.json counts 12"),
    "short features.bin": (short_features, "features.bin is short"),
    "deleted features.bin": (lambda d: (d / "features.bin").unlink(), "features.bin is missing"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corruption_is_named_and_nothing_is_written(complete, case):
    store, us, d = complete
    damage, message = CORRUPTIONS[case]
    damage(d)
    before = snapshot(store.root)
    with pytest.raises(StoreError, match=message) as info:
        store.open("fake", "audio")
    text = str(info.value)
    assert str(d) in text and "is damaged" in text and ("extract" in text or "remove" in text)
    assert snapshot(store.root) == before  # reading never writes
    # a writer refuses the same damage rather than "repairing" it into fewer utterances
    with pytest.raises(StoreError, match=message):
        extract(store, us)
    assert snapshot(store.root, skip=("lock",)) == {k: v for k, v in before.items()
                                                     if not k.endswith("lock")}


def test_flipped_bit_is_found_by_verify(complete, capsys):
    store, us, d = complete
    fs = store.open("fake", "audio")
    assert store.verify("fake", "audio") == {"path": str(d), "checked": 11, "without_checksum": []}
    victim = fs.utterances[4]
    row_bytes = fs.features[0].nbytes
    with open(d / "features.bin", "r+b") as fh:
        fh.seek(victim.start * row_bytes + 5)
        byte = fh.read(1)[0]
        fh.seek(victim.start * row_bytes + 5)
        fh.write(bytes([byte ^ 0x10]))
    with pytest.raises(StoreError, match=rf"rows of 1 utterance\(s\) differ from their checksum: {victim.id}"):
        store.verify("fake", "audio")


def test_old_store_without_checksums_opens_and_resumes(complete):
    """A store written before checksums and source identities (format 1 records) still works."""
    store, us, d = complete
    old = [json.loads(line) for line in _lines(d)]
    for rec in old:
        for key in ("seq", "rows_blake2b", "source", "supersedes"):
            del rec[key]
    _set_lines(d, [json.dumps(r).encode() + b"\n" for r in old])
    index = json.loads((d / "index.json").read_text())
    del index["format"], index["n_records"]
    (d / "index.json").write_text(json.dumps(index))
    fs = store.open("fake", "audio")
    assert len(fs) == 11 and store.verify("fake", "audio")["without_checksum"] == fs.ids()
    counting = Interrupting()
    extract(store, us, extractor=counting)
    assert counting.calls == [] and store.changes["unchanged"] == 12
    # records without a source identity cannot tell a changed file (documented limitation)
    us[3].path.write_text("2 33")
    extract(store, us, extractor=counting)
    assert counting.calls == [] and store.changes["changed"] == 0
    # a retried failure gets a new-format record superseding the old-format one
    us[9].path.write_text("2 99")
    fs = extract(store, us, extractor=counting, retry_failed=True)
    assert counting.calls == ["u09.wav"] and "u09" in fs.ids()
    assert store.open("fake", "audio").ids() == fs.ids()
    assert store.verify("fake", "audio")["without_checksum"] == [i for i in fs.ids() if i != "u09"]


def test_old_store_duplicated_ok_record_is_damage(complete):
    store, us, d = complete
    old = [json.loads(line) for line in _lines(d)]
    for rec in old:
        del rec["seq"], rec["supersedes"]
    old.insert(7, dict(old[2]))
    _set_lines(d, [json.dumps(r).encode() + b"\n" for r in old])
    index = json.loads((d / "index.json").read_text())
    del index["n_records"]
    (d / "index.json").write_text(json.dumps(index))
    with pytest.raises(StoreError, match="line 8 is a duplicated record of 'u02'"):
        store.open("fake", "audio")


def test_changed_and_removed_media(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=12)
    store = FeatureStore(tmp_path / "store")
    first = extract(store, us)
    assert store.changes == {"new": 12, "changed": 0, "retried": 0, "unchanged": 0, "removed": 0}
    size = (first.path / "features.bin").stat().st_size
    # u03: same name, other content (3 segments of 33 instead of 1 of 3); u04: touched, same bytes
    us[3].path.write_text("3 33")
    os.utime(us[4].path, ns=(1, 1))
    us[7].path.unlink()
    left = [u for u in us if u.id != "u07"]
    counting = Interrupting()
    fs = extract(store, left, extractor=counting)
    assert counting.calls == ["u03.wav"]
    assert store.changes == {"new": 0, "changed": 1, "retried": 0, "unchanged": 10, "removed": 1}
    assert store.changed_ids == ["u03"] and store.removed_ids == ["u07"]
    fresh = extract(FeatureStore(tmp_path / "fresh"), left)
    for got in (fs, store.open("fake", "audio")):
        rows = {r.id: np.asarray(got.features[r.start:r.stop]) for r in got.utterances}
        for r in fresh.utterances:
            assert np.array_equal(rows[r.id], np.asarray(fresh.features[r.start:r.stop])), r.id
        assert rows["u03"].shape[0] == 3 and np.all(rows["u03"] == 33)
    # the old rows stay as dead space behind the new ones, pointed at by no record
    assert (fs.path / "features.bin").stat().st_size == size + 3 * fs.features[0].nbytes
    assert store.verify("fake", "audio")["checked"] == 12  # u07's features are kept
    again = extract(store, left, extractor=counting)
    assert counting.calls == ["u03.wav"] and store.changes["unchanged"] == 11
    assert again.ids() == fresh.ids()
    # changed again: the newest record supersedes the second one
    us[3].path.write_text("1 44")
    third = extract(store, left, extractor=counting)
    assert np.all(third.features[third.utterances[3].start:third.utterances[3].stop] == 44)
    assert store.open("fake", "audio").n_segments == fresh.n_segments + (1 - 3) + 2


def test_a_failure_that_was_fixed_is_reextracted(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=4, corrupt=(1,))
    store = FeatureStore(tmp_path / "store")
    assert extract(store, us).failed[0].id == "u01"
    us[1].path.write_text("2 7")
    fs = extract(store, us)
    assert store.changes["changed"] == 1 and fs.failed == [] and "u01" in fs.ids()


def test_reading_writes_nothing(complete):
    store, us, d = complete
    (d / "lock").unlink()
    before = snapshot(store.root)
    store.open("fake", "audio")
    store.open(None, "audio", extractor=fake_extractor)
    store.verify("fake", "audio")
    store.available()
    assert snapshot(store.root) == before


def test_complete_store_reads_from_a_read_only_folder(complete, monkeypatch):
    store, us, d = complete
    expected = store.open("fake", "audio")
    paths = [p for p in store.root.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in sorted(paths, key=lambda p: -len(p.parts)):
            p.chmod(0o555 if p.is_dir() else 0o444)
        store.root.chmod(0o555)
        if os.geteuid() == 0:  # root writes through chmod: refuse every write in this process
            real_open, real_os_open = builtins.open, os.open

            def ro_open(file, mode="r", *a, **k):
                if any(c in mode for c in "wax+"):
                    raise PermissionError(f"read-only: {file}")
                return real_open(file, mode, *a, **k)

            def ro_os_open(path, flags, *a, **k):
                if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC):
                    raise PermissionError(f"read-only: {path}")
                return real_os_open(path, flags, *a, **k)

            monkeypatch.setattr(builtins, "open", ro_open)
            monkeypatch.setattr(os, "open", ro_os_open)
            import fcntl
            monkeypatch.setattr(fcntl, "flock", lambda *a: (_ for _ in ()).throw(PermissionError("lock")))
        fs = store.open("fake", "audio")
        assert fs.ids() == expected.ids() and np.array_equal(fs.features, expected.features)
        assert store.verify("fake", "audio")["checked"] == 11
    finally:
        monkeypatch.undo()
        for p, mode in modes.items():
            p.chmod(mode)
        store.root.chmod(0o755)


def test_waiting_writer_names_the_holder_and_gives_up(complete, capsys):
    from emofast.store.featurestore import _locked

    store, us, d = complete
    with _locked(d / "lock"):
        holder = json.loads((d / "lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["since"]
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=rf"locked by process {os.getpid()} on .* gave up after 0.3 s"):
            extract(store, us, lock_timeout=0.3)
        assert 0.3 <= time.monotonic() - t0 < 5
        store.open("fake", "audio")  # readers of a complete set do not wait
    err = capsys.readouterr().err
    assert err.count("waiting for") == 1 and f"process {os.getpid()}" in err
    assert (d / "lock").read_text() == ""  # released: no holder recorded

    # without a timeout the writer waits, says so once, and goes on when the holder is done
    held = threading.Event()

    def hold():
        with _locked(d / "lock"):
            held.set()
            time.sleep(0.5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    fs = extract(store, us)
    t.join()
    assert len(fs) == 11 and capsys.readouterr().err.count("waiting for") == 1


CHILD = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    import numpy as np
    from emofast.corpora import Utterance
    from emofast.store import FeatureStore
    import emofast.store.featurestore as fsm

    media, store, moment, k = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    calls = []
    def fake(path):
        calls.append(path)
        if moment == "extracting" and len(calls) == k:
            die()
        text = Path(path).read_text()
        if text.startswith("corrupt"):
            raise ValueError(f"cannot decode {path}: corrupt header")
        n, value = text.split()
        return np.full((int(n), 3, 4, 4), float(value), np.float32)
    fake.name = "fake"
    fsm._FLUSH_SECONDS = 0.0 if moment != "unflushed" else 1e9
    syncs = []
    real_fsync = os.fsync
    def fsync(fd):
        real_fsync(fd)
        syncs.append(fd)
        if moment == "rows-without-record" and len(syncs) == 2 * k - 1:
            die()
        if moment == "torn-line" and len(syncs) == 2 * k:
            p = Path(store).glob("*/*/*/progress.jsonl").__next__()
            os.truncate(p, p.stat().st_size - 9)
            die()
    os.fsync = fsync
    real_write = fsm._atomic_write
    def atomic_write(path, text):
        if moment == "before-index" and path.name == "index.json":
            die()
        real_write(path, text)
    fsm._atomic_write = atomic_write
    labels = ("anger", "sadness", "happiness")
    us = [Utterance(f"u{i:02d}", "fake", f"spk{i % 4}", labels[i % 3], media / f"u{i:02d}.wav", "audio")
          for i in range(12)]
    if moment == "unflushed" and k:
        fake_orig = fake
        def fake(path):
            if len(calls) == k:
                die()
            return fake_orig(path)
        fake.name = "fake"
    FeatureStore(store).extract("fake", us, "audio", extractor=fake, progress=False)
    print("finished")
""")


@pytest.mark.parametrize("moment,k", [("extracting", 1), ("extracting", 6), ("rows-without-record", 4),
                                      ("torn-line", 5), ("before-index", 0), ("unflushed", 7)])
def test_writer_killed_then_rerun_is_bit_identical(tmp_path: Path, moment: str, k: int, capsys):
    us = make_utterances(tmp_path / "media", n=12, corrupt=(9,))
    clean = extract(FeatureStore(tmp_path / "clean"), us)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "media"), str(tmp_path / "store"),
                           moment, str(k)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    store = FeatureStore(tmp_path / "store")
    d = store._dir("fake", "audio", clean.key)
    killed = snapshot(d)
    with pytest.raises(StoreError, match="no complete|incomplete|interrupted"):
        store.open("fake", "audio")
    assert snapshot(d) == killed  # reading the killed set changed nothing
    fs = extract(store, us)
    if moment in ("rows-without-record", "torn-line"):
        assert "cut" in capsys.readouterr().err
    assert snapshot(d, skip=("lock",)).keys() == snapshot(clean.path, skip=("lock",)).keys()
    for name in ("features.bin", "progress.jsonl", "index.json", "layout.json", "settings.json"):
        assert (d / name).read_bytes() == (clean.path / name).read_bytes(), name
    assert fs.ids() == clean.ids() and np.array_equal(fs.features, clean.features)
    assert store.verify("fake", "audio")["checked"] == 11


def test_features_command_reports_changes_and_verifies(tmp_path: Path, capsys):
    from emofast import cli
    from emofast.synthetic import write_wav

    media = tmp_path / "corpus"
    media.mkdir()
    rng = np.random.default_rng(0)
    for name in ("03a01Wa", "03a01Ta", "08a02Fa"):
        write_wav(media / f"{name}.wav", rng.normal(0, 0.1, 16000 * 2).astype(np.float32))
    args = ["features", "emodb", str(media), "--out", str(tmp_path / "s"), "--no-progress", "--verify"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "3 new, 0 changed, 0 retried, 0 unchanged, 0 removed" in out
    assert "verified 3 utterance(s)" in out
    write_wav(media / "03a01Wa.wav", rng.normal(0, 0.1, 16000 * 3).astype(np.float32))
    (media / "08a02Fa.wav").unlink()
    assert cli.main(args + ["--lock-timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "0 new, 1 changed, 0 retried, 1 unchanged, 1 removed" in out and "08a02Fa" in out
