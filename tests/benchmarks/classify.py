"""Classifier throughput on generated posts (the generator lives with the model: models/bench.py)."""

from __future__ import annotations

from typing import Any

from models.bench import bench_classify


def bench(n: int = 20_000) -> dict[str, Any]:
    res = bench_classify(n)
    note = f"model load {res['load_seconds']:.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB"
    return {
        "stage": "classify (Classifier.predict)",
        "n": n,
        "seconds": n / res["posts_per_s"],
        "rate": res["posts_per_s"],
        "note": note,
    }
