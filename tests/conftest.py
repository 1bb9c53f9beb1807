"""Shared fixtures: a fresh store per test, one Prefect test harness per session (its start-up costs ~20 s)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.schema import canonical_json, sha256_text
from pipeline.storage import Store

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls: loopback only


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "pantau.duckdb", lock_timeout_s=30)
    s.init()
    return s


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def make_post(i: int, text: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid Post as a dict (the landing-file form), varied by `i`."""
    status = {"id": str(110_000_000_000_000_000 + i), "content": f"<p>{text or f'kabar ke-{i}'}</p>"}
    raw = canonical_json(status)
    post: dict[str, Any] = {
        "platform": "mastodon",
        "platform_post_id": status["id"],
        "url": f"https://sosial.example/@warga{i % 7}/{status['id']}",
        "author": {
            "platform_id": str(900 + i % 7),
            "handle": f"warga{i % 7}@sosial.example",
            "display_name": f"Warga {i % 7}",
            "bio": "Guru SD, abdi negara",
        },
        "text": text or f"kabar ke-{i}",
        "language": "id",
        "posted_at": datetime(2024, 11, 1, tzinfo=UTC).isoformat(),
        "collected_at": datetime(2024, 11, 20, tzinfo=UTC).isoformat(),
        "watch_target": f"account:warga{i % 7}@sosial.example",
        "engagement": {"replies": 1, "reposts": 0, "likes": i % 5},
        "raw": raw,
        "raw_sha256": sha256_text(raw),
    }
    post.update(changes)
    return post


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path
