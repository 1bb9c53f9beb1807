"""classify_jsonl: streaming, bad rows to rejects with a reason, the run always completes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.predict import ARTIFACTS_DIR, ClassifyStats, classify_jsonl
from pipeline.schema import Label

CURRENT = (ARTIFACTS_DIR / "CURRENT").read_text(encoding="utf-8").strip()

GOOD = [
    {"id": "a1", "text": "Ayo coblos nomor 2, Pak Yosef sudah terbukti!", "platform": "x", "extra": {"k": [1, 2]}},
    {"id": 2, "text": "Jangan golput, datang ke TPS tanggal 14", "author_bio": "ASN Pemkab"},
    {"id": "a3", "text": "", "author_bio": None},
    {"id": "a4", "text": "😂😂😂"},
    {"id": "a5", "text": "Besok kampanye akbar, ayo hadir", "author_bio": "relawan paslon 1"},
    {"id": "a6", "text": "bakso nomor 2 paling enak", "label": "old-label-is-replaced"},
]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_good_and_bad_rows(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = [json.dumps(r, ensure_ascii=False).encode() for r in GOOD]
    bad = [
        b'{"id": "b1", "text": "unterminated',  # malformed JSON
        b'["not", "an", "object"]',  # not an object
        b'{"text": "no id here"}',  # missing id
        b'{"id": "b4", "text": 42}',  # text not a string
        b'{"id": "b5"}',  # text missing
        b'{"id": "b6", "text": "caf\xe9 latte"}',  # invalid UTF-8 (latin-1 byte)
        b'{"id": "b7", "text": "lone \\ud800 surrogate"}',  # not valid Unicode text
        b'{"id": true, "text": "boolean id"}',
        b'{"id": "b9", "text": "ok", "author_bio": 5}',
        b"42",
    ]
    lines = [good[0], bad[0], good[1], bad[1], b"", bad[2], good[2], bad[3], bad[4], good[3]]
    lines += [bad[5], bad[6], good[4], b"   ", bad[7], bad[8], good[5], bad[9]]
    _write(inp, lines)
    stats = classify_jsonl(inp, out, batch_size=2)  # several batches

    assert isinstance(stats, ClassifyStats)
    assert (stats.read, stats.written, stats.rejected) == (16, 6, 10)
    assert sum(stats.per_label.values()) == 6 and set(stats.per_label) == {label.value for label in Label}
    assert stats.seconds >= 0

    rows = _read(out)
    assert [r["id"] for r in rows] == [r["id"] for r in GOOD]  # input order kept
    for src, row in zip(GOOD, rows, strict=True):
        for k, v in src.items():
            if k != "label":
                assert row[k] == v  # input fields kept as they were
        assert row["label"] in {label.value for label in Label}
        assert set(row["scores"]) == {label.value for label in Label}
        assert abs(sum(row["scores"].values()) - 1) < 1e-4
        assert isinstance(row["flagged"], bool) and row["reasons"]
        assert row["model_version"] == CURRENT
    assert rows[0]["flagged"] and not rows[1]["flagged"]
    assert rows[2]["label"] == "non_political" and "kosong" in rows[2]["reasons"][0]
    assert any("relawan" in r for r in rows[4]["reasons"])
    assert rows[5]["label"] != "old-label-is-replaced"
    assert stats.flagged == sum(r["flagged"] for r in rows)

    rejects = _read(tmp_path / "out.jsonl.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2, 4, 6, 8, 9, 11, 12, 15, 16, 18]
    reasons = [r["reason"] for r in rejects]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "expected a JSON object, got list"
    assert reasons[2] == "missing 'id'"
    assert reasons[3] == "'text' must be a string, got int"
    assert reasons[4] == "missing 'text'"
    assert reasons[5].startswith("invalid UTF-8 at byte")
    assert "not valid UTF-8" in reasons[6]
    assert reasons[7].startswith("'id' must be")
    assert reasons[8].startswith("'author_bio' must be")
    assert reasons[9] == "expected a JSON object, got int"
    assert rejects[5]["raw"] == '{"id": "b6", "text": "caf\\xe9 latte"}'  # the bytes, visibly escaped
    assert rejects[1]["raw"] == '["not", "an", "object"]'
    assert not (tmp_path / "out.jsonl.part").exists()


def test_empty_input_and_no_trailing_newline(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_bytes(b"")
    stats = classify_jsonl(inp, out)
    assert (stats.read, stats.written, stats.rejected, stats.flagged) == (0, 0, 0, 0)
    assert out.read_bytes() == b"" and (tmp_path / "out.jsonl.rejects.jsonl").read_bytes() == b""

    inp.write_bytes(b'{"id": 1, "text": "halo semua"}\r\n{"id": 2, "text": "dukung timnas"}')
    stats = classify_jsonl(inp, out)
    assert (stats.read, stats.written) == (2, 2)
    assert [r["id"] for r in _read(out)] == [1, 2]


def test_bad_batch_size_and_missing_model(tmp_path: Path) -> None:
    from pipeline.errors import ModelError

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": 1, "text": "x"}\n')
    with pytest.raises(ValueError):
        classify_jsonl(inp, tmp_path / "out.jsonl", batch_size=0)
    with pytest.raises(ModelError):
        classify_jsonl(inp, tmp_path / "out.jsonl", model_dir=tmp_path / "nope")


def test_rejects_do_not_stop_a_batch_and_fields_round_trip(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [
        {"id": "x1", "text": "Ayo coblos nomor 2!", "nested": {"a": [1, {"b": None}]}, "n": 12345678901234567890},
        {"id": "x2", "text": "kamu tahu \\u0000 ini", "score": 1.5e-7},
        {"id": "x3", "text": "🙂" * 10},
    ]
    _write(inp, [json.dumps(r, ensure_ascii=False).encode() for r in rows] + [b'{"id": "x4", "text": "a\\ud800b"}'])
    stats = classify_jsonl(inp, out)
    assert (stats.written, stats.rejected) == (3, 1)
    got = _read(out)
    for src, row in zip(rows, got, strict=True):
        assert {k: row[k] for k in src} == src  # big integers, nested values and floats survive untouched
    assert got[2]["label"] == "non_political" and "tidak ada kata" in got[2]["reasons"][0]
    assert _read(tmp_path / "out.jsonl.rejects.jsonl")[0]["reason"].startswith("text is not valid UTF-8")


@pytest.mark.slow
def test_helper_process_classifies_lines_like_the_calling_process(tmp_path: Path) -> None:
    """A big batch is split: the helper parses, scores and writes its half; the bytes must be the same."""
    import shutil
    import time

    from models.bench import make_texts
    from models.predict import PARALLEL_MIN, Classifier, classify_lines, resolve_model_dir

    model_dir = tmp_path / "model"
    shutil.copytree(resolve_model_dir(), model_dir)
    texts = make_texts(PARALLEL_MIN + 20, seed=8)
    items = [(i + 1, json.dumps({"id": i, "text": t}).encode()) for i, t in enumerate(texts)]
    items[7] = (8, b"not json")  # a reject in the first half
    items[-3] = (len(items) - 2, b'{"id": 1}')  # and one in the second
    single = classify_lines(Classifier.load(model_dir, workers=0), items)
    with Classifier.load(model_dir, workers=1) as par:
        deadline = time.monotonic() + 60
        while par._ready_worker() is None:
            assert time.monotonic() < deadline, "helper process did not start"
            time.sleep(0.2)
        chunks = par.classify_lines(items)
        assert len(chunks) == 2 and par._proc_ready
        assert b"".join(c.out for c in chunks) == single.out
        assert b"".join(c.rejects for c in chunks) == single.rejects
        assert sum(c.written for c in chunks) == single.written == len(items) - 2
        par._proc.kill()  # a dead helper: the calling process does both halves, nothing is lost
        par._proc.wait()
        again = par.classify_lines(items)
        assert b"".join(c.out for c in again) == single.out and par._workers == 0
