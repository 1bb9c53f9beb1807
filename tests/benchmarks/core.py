"""Benchmarks of the core stages on generated data: validation of landing lines and DuckDB loads."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.schema import Post, canonical_json, sha256_text
from pipeline.storage import WRITE_CHUNK_ROWS, PostWriter, Store, posts_to_arrow

WORDS = (
    "pak bupati kerja nyata warga desa pilkada jalan rusak sekolah guru puskesmas pasar banjir "
    "kampanye debat paslon nomor dua coblos jangan lupa TPS netral ASN dinas kabupaten"
).split()


def landing_lines(n: int, seed: int = 7) -> list[bytes]:
    """Landing-file lines shaped like Mastodon posts (about 1.5 kB each with the raw payload)."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
        pid = str(113_000_000_000_000_000 + i)
        status = {
            "id": pid,
            "content": f"<p>{text}</p>",
            "account": {"id": str(i % 400), "note": "<p>ASN</p>"},
            "created_at": "2024-11-02T03:15:00.000Z",
            "replies_count": 1,
            "favourites_count": 3,
            "padding": "x" * 800,
        }
        raw = canonical_json(status)
        post = {
            "platform": "mastodon",
            "platform_post_id": pid,
            "url": f"https://sosial.example/@u{i % 400}/{pid}",
            "author": {
                "platform_id": str(i % 400),
                "handle": f"u{i % 400}@sosial.example",
                "display_name": "Warga",
                "bio": "ASN",
            },
            "text": text,
            "language": "id",
            "posted_at": "2024-11-02T03:15:00Z",
            "collected_at": "2024-11-20T00:00:00Z",
            "watch_target": f"account:u{i % 400}@sosial.example",
            "engagement": {"replies": 1, "reposts": 0, "likes": 3},
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
        lines.append(json.dumps(post, ensure_ascii=False).encode())
    return lines


def bench_validate(n: int = 100_000) -> dict[str, Any]:
    lines = landing_lines(n)
    started = time.perf_counter()
    posts = [Post.model_validate_json(line) for line in lines]
    seconds = time.perf_counter() - started
    return {"stage": "validate landing lines → Post", "n": len(posts), "seconds": seconds, "rate": n / seconds}


def bench_load(n: int = 100_000, batch: int = 5_000, chunk: int = WRITE_CHUNK_ROWS) -> dict[str, Any]:
    """Batches of `batch` posts written as `flows.load` writes them: through a `PostWriter`, which spills them to
    local Parquet and writes one transaction per chunk of up to `chunk` posts (`chunk` 0: one transaction per
    batch, `Store.load_batch` on the Arrow table). The time includes the spill."""
    posts = [Post.model_validate_json(line) for line in landing_lines(n)]
    shas = [sha256_text(p.text) for p in posts]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.init()
        tables = [posts_to_arrow(posts[i : i + batch], shas[i : i + batch], "bench") for i in range(0, n, batch)]
        seconds, writes, longest = _write(store, "bench", tables, chunk, Path(tmp) / "spill")
        rerun, _, _ = _write(store, "bench-2", tables, chunk, Path(tmp) / "spill")
        rows = store.query("SELECT count(*) AS n, count(DISTINCT run_id) AS runs FROM posts")[0]
        size_mib = (Path(tmp) / "bench.duckdb").stat().st_size / 2**20
    assert rows == {"n": n, "runs": 1}, rows  # the rerun added and changed nothing
    how = f"spilled, writes of up to {chunk:,} posts" if chunk else "one write per batch"
    return {
        "stage": f"load into DuckDB (batches of {batch}, {how}, new posts)",
        "n": n,
        "seconds": seconds,
        "rate": n / seconds,
        "note": f"{writes} writes, longest {longest:.2f} s; rerun of the same posts: {n / rerun:,.0f} posts/s, "
        f"nothing added; file {size_mib:.0f} MiB",
    }


def _write(store: Store, run_id: str, tables: list[pa.Table], chunk: int, spill: Path) -> tuple[float, int, float]:
    """Seconds to write `tables`, how many transactions, the longest one."""
    started = time.perf_counter()
    if not chunk:
        longest = 0.0
        for table in tables:
            one = time.perf_counter()
            store.load_batch(run_id, table, None, [])
            longest = max(longest, time.perf_counter() - one)
        return time.perf_counter() - started, len(tables), longest
    with PostWriter(store, run_id, max_rows=chunk, spill_dir=spill) as writer:
        for table in tables:
            writer.add(table, None, [])
    return time.perf_counter() - started, writer.writes, writer.longest_write_s


def bench_arrow(n: int = 100_000) -> dict[str, Any]:
    posts = [Post.model_validate_json(line) for line in landing_lines(n)]
    started = time.perf_counter()
    shas = [sha256_text(p.text) for p in posts]
    posts_to_arrow(posts, shas, "bench")
    seconds = time.perf_counter() - started
    return {"stage": "Post → Arrow columns", "n": n, "seconds": seconds, "rate": n / seconds}
