"""Benchmarks of the core stages on generated data: validation of landing lines and DuckDB loads."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.schema import Post, canonical_json, sha256_text
from pipeline.storage import Store, posts_to_arrow

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


def bench_load(n: int = 100_000, batch: int = 5_000) -> dict[str, Any]:
    posts = [Post.model_validate_json(line) for line in landing_lines(n)]
    shas = [sha256_text(p.text) for p in posts]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.init()
        tables = [posts_to_arrow(posts[i : i + batch], shas[i : i + batch], "bench") for i in range(0, n, batch)]
        started = time.perf_counter()
        for table in tables:
            store.load_batch("bench", table, None, [])
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        for table in tables:
            store.load_batch("bench-2", table, None, [])
        rerun = time.perf_counter() - again
        rows = store.query("SELECT count(*) AS n FROM posts")[0]["n"]
    assert rows == n
    return {
        "stage": f"load into DuckDB (batches of {batch}, new posts)",
        "n": n,
        "seconds": seconds,
        "rate": n / seconds,
        "note": f"rerun of the same posts: {n / rerun:,.0f} posts/s, nothing added",
    }


def bench_arrow(n: int = 100_000) -> dict[str, Any]:
    posts = [Post.model_validate_json(line) for line in landing_lines(n)]
    started = time.perf_counter()
    shas = [sha256_text(p.text) for p in posts]
    posts_to_arrow(posts, shas, "bench")
    seconds = time.perf_counter() - started
    return {"stage": "Post → Arrow columns", "n": n, "seconds": seconds, "rate": n / seconds}
