"""Analyst-side benchmarks on a large generated store: snapshot publication and the documented views."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.storage import Store, publish_snapshot, query_snapshot
from pipeline.views import VIEWS

LABELS = "['endorsement','campaign','attack','symbol','political_neutral','non_political']"


def build_store(path: Path, n: int, pending: int = 50_000) -> Store:
    """A store of n posts (about 1.3 kB of payload each, as real ones), their predictions and `pending` queued
    items, generated in SQL so that building it is not what the benchmark measures."""
    store = Store(path)
    store.init()
    with store.transaction() as con:
        con.execute(f"""
            INSERT INTO posts SELECT 'mastodon', (113000000000000000 + i)::VARCHAR, 'https://sosial.example/@u/' || i,
              (i % 20000)::VARCHAR, 'u' || (i % 20000) || '@sosial.example',
              'teks unggahan nomor ' || i || ' tentang pilkada, jalan desa dan sekolah ' || (i % 977),
              sha256(i::VARCHAR), 'id', TIMESTAMPTZ '2024-10-01 00:00:00+00' + to_seconds(i * 5),
              now(), now(), 'account:u' || (i % 20000) || '@sosial.example', i % 7, i % 5, i % 50, NULL, NULL,
              [], NULL, NULL, repeat('{{"k":"v"}}', 100) || i, sha256('raw' || i), 1, 'bench'
            FROM range({n}) t(i)""")
        con.execute(f"""
            INSERT INTO predictions SELECT 'mastodon', (113000000000000000 + i)::VARCHAR, 'bench', sha256(i::VARCHAR),
              {LABELS}[1 + i % 6], '{{}}', (i % 100) / 100.0, i % 100 >= 80, [], now(), 'bench' FROM range({n}) t(i)""")
        con.execute(f"""
            INSERT INTO review_items SELECT 'mastodon', (113000000000000000 + i)::VARCHAR, 'pending', random(),
              'endorsement', 0.9, 'bench', i % 3 = 0, now(), now(), 'bench' FROM range({pending}) t(i)""")
        con.execute("""
            INSERT INTO watchlist (kind, platform, handle, name, agency, region_code, region_name, nip,
              identified_by, enabled, updated_at) SELECT 'account', 'mastodon', 'u' || i || '@sosial.example', 'U',
              'Dinas ' || (i % 40), '35.' || lpad((i % 38 + 1)::VARCHAR, 2, '0'), 'Kab ' || (i % 38), '',
              'bench', true, now()
            FROM range(5000) t(i)""")
    return store


def bench_snapshot(n: int = 1_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "live.duckdb", n)
        size_mb = store.path.stat().st_size / 2**20
        info = publish_snapshot(store, Path(tmp) / "snapshot", "Asia/Jakarta", "bench-salt")
        timings = []
        for name in VIEWS:
            started = time.perf_counter()
            query_snapshot(info.path, f"SELECT * FROM {name}")
            timings.append((name, time.perf_counter() - started))
    slowest = max(timings, key=lambda t: t[1])
    note = f"store {size_mb:,.0f} MiB; every view read in full: slowest {slowest[0]} {slowest[1]:.2f} s; " + ", ".join(
        f"{name} {secs:.2f} s" for name, secs in timings
    )
    return {
        "stage": "publish analyst snapshot (DuckDB copy + Parquet + views)",
        "n": n,
        "seconds": info.seconds,
        "rate": n / info.seconds,
        "note": note,
    }
