"""The web server's store gate with real processes: it reuses one open file while busy, closes it when idle, and
steps aside when another process wants the file, even under a steady stream of requests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.storage import Store
from pipeline.web.db import Gate

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipeline.storage import Store
    store = Store(Path(sys.argv[1]), lock_timeout_s=float(sys.argv[2]))
    for i in range(5):
        with store.transaction() as con:
            con.execute("INSERT INTO audit_log (logged_at, actor, action, entity, entity_key) "
                        "VALUES (now(), 'other-process', 'write', 'test', ?)", [str(i)])
            time.sleep(0.05)
        time.sleep(0.05)
    """
)


def _other_process(path: Path, timeout_s: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(timeout_s)], cwd=PROJECT_ROOT)


def test_busy_gate_reuses_the_file_and_closes_it_when_idle(store: Store) -> None:
    gate = Gate(store, max_hold_s=60, gap_s=0.3, linger_s=0.05)
    try:
        sessions = _steady(gate, 1.0)
        assert sessions > 20 and gate.opens < sessions / 5
        time.sleep(0.3)  # idle: the keeper is gone, another process opens the file at once
        proc = _other_process(store.path, timeout_s=0)
        assert proc.wait(timeout=60) == 0
    finally:
        gate.close()


def test_gate_steps_aside_for_another_process_under_steady_requests(store: Store) -> None:
    gate = Gate(store, max_hold_s=600, gap_s=0.3)  # a long max hold: only the open watch can let the other in
    try:
        with _requests_until_done(gate, 4) as errors:
            time.sleep(0.3)
            started = time.monotonic()
            proc = _other_process(store.path, timeout_s=30)
            assert proc.wait(timeout=60) == 0
            took = time.monotonic() - started
    finally:
        gate.close()
    assert errors == []
    assert gate.yields >= 1
    assert store.query("SELECT count(*) AS n FROM audit_log WHERE actor = 'other-process'")[0]["n"] == 5
    assert took < 30


@contextmanager
def _requests_until_done(gate: Gate, threads: int) -> Iterator[list[BaseException]]:
    """`threads` request loops through the gate until the block ends; yields the errors they met."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                with gate.session() as s:
                    s.query("SELECT count(*) FROM audit_log")
            except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
                errors.append(exc)

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for t in running:
        t.start()
    try:
        yield errors
    finally:
        stop.set()
        for t in running:
            t.join()


def _steady(gate: Gate, seconds: float) -> int:
    stop = time.monotonic() + seconds
    sessions = 0

    def worker() -> None:
        nonlocal sessions
        while time.monotonic() < stop:
            with gate.session() as s:
                s.query("SELECT count(*) FROM posts")
            sessions += 1

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sessions


def test_with_the_open_watch_a_busy_gate_keeps_the_file_while_no_one_else_wants_it(store: Store) -> None:
    gate = Gate(store, max_hold_s=0.1, gap_s=0.3)  # a short max hold: it applies only without the watch
    try:
        assert gate._watch.available
        assert _steady(gate, 1.0) > 20
        assert gate.yields == 0 and gate.opens == 1  # no drain, checkpoint and reopen every 0.1 s for no one
    finally:
        gate.close()


def test_without_the_open_watch_a_busy_gate_steps_aside_every_max_hold(store: Store) -> None:
    gate = Gate(store, max_hold_s=0.1, gap_s=0.05)
    gate._watch.close()  # as where inotify is missing
    try:
        assert _steady(gate, 1.0) > 5
        assert gate.yields >= 3
    finally:
        gate.close()


def test_the_open_watch_follows_a_replaced_file(store: Store, tmp_path: Path) -> None:
    gate = Gate(store, max_hold_s=600, gap_s=0.3)
    try:
        with gate.session() as s:
            s.query("SELECT 1")
        time.sleep(0.3)  # idle: the file is closed; now it is replaced by a copy (a restore)
        copy = tmp_path / "copy.duckdb"
        copy.write_bytes(store.path.read_bytes())
        copy.replace(store.path)
        with _requests_until_done(gate, 1) as errors:
            time.sleep(0.3)
            proc = _other_process(store.path, timeout_s=30)  # its opens of the new file must be seen
            assert proc.wait(timeout=60) == 0
        assert errors == [] and gate.yields >= 1
    finally:
        gate.close()
