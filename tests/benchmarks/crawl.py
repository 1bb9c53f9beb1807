"""Benchmarks of collection: the Mastodon page object, and a whole replayed nightly run of generated posts."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from pipeline.storage import Store
from spiders.pages.mastodon import parse_statuses
from spiders.replay.generate import generate
from tests.spiders.helpers import clean_env, start_replay, write_watchlist

ROOT = Path(__file__).resolve().parents[2]
PAGE = 40


def bench_parse(n: int = 20_000) -> dict[str, Any]:
    data = generate(n, seed=3)
    rows = [r for r in data.statuses.values() if r.data is not None]
    pages = [
        b"[" + b",".join(data.status_bytes(r) for r in rows[i : i + PAGE]) + b"]" for i in range(0, len(rows), PAGE)
    ]
    now = datetime.now(UTC)
    started = time.perf_counter()
    posts = 0
    for body in pages:
        page = parse_statuses(
            body, "application/json", target="account:x@sosial.example", instance="sosial.example", collected_at=now
        )
        posts += len(page.posts)
    seconds = time.perf_counter() - started
    return {
        "stage": "parse Mastodon pages → Post (page object)",
        "n": posts,
        "seconds": seconds,
        "rate": posts / seconds,
    }


class _PeakRss:
    """Polls a process tree's resident memory: the sum over its processes, at its highest."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_sum = 0
        self.peak_one = 0
        self.by_process: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                named = [(self._name(p), p.memory_info().rss) for p in procs if p.is_running()]
            except psutil.Error:
                continue
            rss = [r for _, r in named]
            for name, r in named:
                self.by_process[name] = max(self.by_process.get(name, 0), r)
            self.peak_sum = max(self.peak_sum, sum(rss))
            self.peak_one = max(self.peak_one, max(rss, default=0))

    @staticmethod
    def _name(proc: psutil.Process) -> str:
        cmd = proc.cmdline()
        return " ".join(a.rsplit("/", 1)[-1] for a in cmd[1:4]) or proc.name()

    def top(self, k: int = 3) -> str:
        ranked = sorted(self.by_process.items(), key=lambda kv: -kv[1])[:k]
        return ", ".join(f"{name}: {rss / 2**20:,.0f} MiB" for name, rss in ranked)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bench_nightly(n: int = 100_000) -> dict[str, Any]:
    """`pantau run` against the replay server serving n generated posts, from an empty store."""
    with tempfile.TemporaryDirectory() as tmp, start_replay("--generate", str(n), "--seed", "11") as replay:
        watchlist = Path(tmp) / "watchlist.csv"
        write_watchlist(watchlist, [a["acct"] for a in replay.accounts()])
        env = clean_env(
            PANTAU_DATA_DIR=tmp,
            PANTAU_REPLAY_URL=replay.url,
            PANTAU_WATCHLIST_PATH=str(watchlist),
            PANTAU_DOWNLOAD_DELAY_S="0",
            PANTAU_AUTOTHROTTLE="false",
            PANTAU_CONCURRENT_REQUESTS="16",
            PANTAU_MAX_PAGES_PER_TARGET="1000",
        )
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak = _PeakRss(proc.pid)
        out, _ = proc.communicate()
        seconds = time.perf_counter() - started
        peak.stop()
        if proc.returncode != 0:
            raise RuntimeError(f"pantau run failed:\n{out[-3000:]}")
        store = Store(Path(tmp) / "pantau.duckdb")
        posts = store.query("SELECT count(*) AS n FROM posts")[0]["n"]
        spider = store.query("SELECT crawl_seconds, load_seconds FROM crawl_run_spiders")[0]
    note = (
        f"peak RSS {peak.peak_sum / 2**20:,.0f} MiB (all processes), largest process "
        f"{peak.peak_one / 2**20:,.0f} MiB ({peak.top()}); crawl {spider['crawl_seconds']:.0f} s, "
        f"load+classify {spider['load_seconds']:.0f} s; {posts:,} posts stored"
    )
    return {
        "stage": "whole nightly run (`pantau run`, replayed, empty store)",
        "n": posts,
        "seconds": seconds,
        "rate": posts / seconds,
        "note": note,
    }


if __name__ == "__main__":  # pragma: no cover
    print(os.getpid(), file=sys.stderr)
