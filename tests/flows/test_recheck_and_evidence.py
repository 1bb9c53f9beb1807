"""Flagged posts become recheck targets for a configurable period; a deletion is recorded once, with the time it
was noticed; an edit keeps the earlier version; `pantau evidence` shows where a post came from, its raw payload and
whether its sha256 still matches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from flows.crawl import build_targets
from pipeline.cli import app
from pipeline.schema import Post, canonical_json, sha256_text
from pipeline.storage import Store, posts_to_arrow
from tests.conftest import make_post

NOW = datetime.now(UTC)


def x_post(i: int, text: str, collected: datetime, **raw_extra: object) -> Post:
    raw = canonical_json({"id": str(1850000000000000000 + i), "text": text, **raw_extra})
    return Post.model_validate(
        make_post(
            i,
            text=text,
            platform="x",
            platform_post_id=str(1850000000000000000 + i),
            url=f"https://x.com/hendra_bkj/status/{1850000000000000000 + i}",
            watch_target="account:hendra_bkj",
            collected_at=collected.isoformat(),
            raw=raw,
            raw_sha256=sha256_text(raw),
        )
    )


def load(store: Store, run_id: str, posts: list[Post]) -> None:
    store.load_batch(run_id, posts_to_arrow(posts, [sha256_text(p.text) for p in posts], run_id), None, [])


def flag(store: Store, *post_ids: str) -> None:
    store.execute_in_transaction(
        (
            "INSERT INTO review_items VALUES ('x', ?, 'pending', 1.0, 'campaign', 0.9, 'v', false, ?, ?, 'r1')",
            [post_id, NOW, NOW],
        )
        for post_id in post_ids
    )


def test_flagged_posts_are_fetched_again_within_the_period(store: Store) -> None:
    recent, old, unflagged = (
        x_post(1, "Coblos nomor 2!", NOW),
        x_post(2, "Pilih 02", NOW - timedelta(days=30)),
        x_post(3, "Halo", NOW),
    )
    load(store, "r1", [recent, old, unflagged])
    flag(store, recent.platform_post_id, old.platform_post_id)
    assert [t for t in build_targets(store, "x") if t["kind"] == "recheck"] == []  # recheck_days 0: off
    [target] = [t for t in build_targets(store, "x", recheck_days=14) if t["kind"] == "recheck"]
    assert target == {
        "target": f"recheck:{recent.platform_post_id}",
        "kind": "recheck",
        "value": recent.platform_post_id,
        "instance": "api.x.com",
        "found_by": "account:hendra_bkj",
        "since_id": None,
    }
    notice = {"platform": "x", "platform_post_id": recent.platform_post_id, "detail": "Could not find tweet"}
    assert store.record_deletions("r2", [notice]) == 1
    assert store.record_deletions("r3", [{**notice, "detail": "again"}]) == 0  # the first notice is kept
    assert [t for t in build_targets(store, "x", recheck_days=14) if t["kind"] == "recheck"] == []
    [row] = store.query("SELECT run_id, detail FROM post_deletions")
    assert row == {"run_id": "r2", "detail": "Could not find tweet"}
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == 3  # a deleted post stays as evidence


def test_evidence_shows_origin_versions_deletion_and_raw(tmp_path: Path) -> None:
    store = Store(tmp_path / "pantau.duckdb")
    store.init()
    first = x_post(7, "Sudah saatnya birokrat memimpin ✌️", NOW - timedelta(days=1))
    load(store, "r1", [first])
    load(store, "r2", [x_post(7, "Sudah saatnya kita netral.", NOW, edited=True)])
    store.record_deletions("r3", [{"platform": "x", "platform_post_id": first.platform_post_id, "detail": "hilang"}])
    runner, env = CliRunner(), {"PANTAU_DATA_DIR": str(tmp_path)}
    shown = runner.invoke(app, ["evidence", "x", first.platform_post_id], env=env)
    assert shown.exit_code == 0, shown.output
    out = " ".join(shown.output.split())
    assert "found by: account:hendra_bkj" in out and "matches the raw payload" in out
    assert (
        f"earlier versions: {first.collected_at.strftime('%Y-%m-%d')}" in out and "noticed" in out and "hilang" in out
    )
    raw = runner.invoke(app, ["evidence", "x", first.platform_post_id, "--raw"], env=env).output
    stored = store.query("SELECT raw_sha256 FROM posts")[0]["raw_sha256"]
    assert hashlib.sha256(raw.encode("utf-8")).hexdigest() == stored and '"edited":true' in raw
    [version] = store.query("SELECT text FROM post_versions")
    assert version["text"] == "Sudah saatnya birokrat memimpin ✌️"
    assert runner.invoke(app, ["evidence", "x", "404"], env=env).exit_code == 1
