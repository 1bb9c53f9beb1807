"""The helper process, forked (Linux) or spawned: same results as the calling process alone; a forked helper keeps
none of the caller's other file descriptors and goes away with `close`."""

from __future__ import annotations

import json
import os
import select
import time
from pathlib import Path

import pytest

import models.predict as mp
from models.bench import make_texts
from models.predict import Classifier, classify_lines


def _ready(clf: Classifier) -> None:
    deadline = time.monotonic() + 120
    while clf._ready_worker() is None:
        assert time.monotonic() < deadline, "helper process did not start"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_helper_gives_the_same_lines_and_results(start: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if start == "fork" and not hasattr(os, "fork"):
        pytest.skip("no fork here")
    monkeypatch.setattr(mp, "HELPER_START", start)
    texts = make_texts(mp.PARALLEL_MIN + 30, seed=11)
    items = [(i + 1, json.dumps({"id": i, "text": t, "author_bio": "relawan" if i % 7 else None}).encode())
             for i, t in enumerate(texts)]  # fmt: skip
    alone = Classifier.load(workers=0)
    want_lines = classify_lines(alone, items)
    want = alone.predict(texts)
    with Classifier.load(workers=1) as par:
        _ready(par)
        assert isinstance(par._proc, mp._worker.Forked) == (start == "fork")
        chunks = par.classify_lines(items)
        assert len(chunks) == 2 and b"".join(c.out for c in chunks) == want_lines.out
        assert par.predict(texts) == want
        assert par._proc is not None and par._proc_ready


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_forked_helper_closes_inherited_descriptors_and_is_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mp, "HELPER_START", "fork")
    r, w = os.pipe()  # a pipe of the caller's: its reader must see end of file once the caller closes the writer
    try:
        clf = Classifier.load(workers=1)
        clf.warm_up()
        proc = clf._proc
        assert isinstance(proc, mp._worker.Forked) and clf._ready_worker() is proc
        os.close(w)
        w = -1
        assert select.select([r], [], [], 10)[0] and os.read(r, 1) == b""  # the helper holds no copy of w
        assert proc.poll() is None
        clf.close()
        assert proc.returncode == 0 and clf._proc is None
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_forked_helper_survives_a_caller_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`pantau classify` shows a spinner (a thread writing to stdout) while it classifies: fork works under it."""
    import threading

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    monkeypatch.setattr(mp, "HELPER_START", "fork")
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            pass  # holds the GIL now and then, like a spinner

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        texts = make_texts(mp.PARALLEL_MIN * 2, seed=12)
        inp.write_text("".join(json.dumps({"id": i, "text": x}) + "\n" for i, x in enumerate(texts)), encoding="utf-8")
        stats = mp.classify_jsonl(inp, out, batch_size=mp.PARALLEL_MIN * 2)
        assert stats.written == len(texts)
    finally:
        stop.set()
        t.join()
