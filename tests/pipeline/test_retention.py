from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.retention import due_for_purge, purge
from pipeline.schema import parse_post, sha256_text
from pipeline.storage import Store, posts_to_arrow
from tests.conftest import make_post

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _seed(store: Store, cases: dict[int, tuple[str, int]]) -> None:
    """cases: post i -> (review status, days since the last decision)."""
    posts = [parse_post(make_post(i)) for i in cases]
    store.load_batch("r1", posts_to_arrow(posts, [sha256_text(p.text) for p in posts], "r1"), None, [])
    with store.transaction() as con:
        for post, (status, age) in zip(posts, cases.values(), strict=True):
            key = [post.platform.value, post.platform_post_id]
            con.execute(
                "INSERT INTO review_items VALUES (?, ?, ?, 0.5, 'endorsement', 0.9, 'v', true, ?, ?, 'r1')",
                [*key, status, NOW, NOW],
            )
            decision = "violation" if status == "confirmed" else "not_violation"
            con.execute(
                "INSERT INTO review_decisions (platform, platform_post_id, reviewer, decision, note, "
                "decided_at) VALUES (?, ?, 'rina', ?, '', ?)",
                [*key, decision, NOW - timedelta(days=age)],
            )


def test_purge_empties_old_dismissed_posts_only(store: Store) -> None:
    _seed(store, {1: ("dismissed", 100), 2: ("confirmed", 100), 3: ("dismissed", 10), 4: ("pending", 100)})
    due = due_for_purge(store, 90, now=NOW)
    assert [d["platform_post_id"][-1] for d in due] == ["1"]
    before = store.query("SELECT platform_post_id, text, raw, raw_sha256 FROM posts ORDER BY platform_post_id")
    assert purge(store, 90, actor="test", now=NOW) == 1
    after = store.query("SELECT platform_post_id, text, raw, raw_sha256 FROM posts ORDER BY platform_post_id")
    assert after[0]["text"] == after[0]["raw"] == "" and after[0]["raw_sha256"] == before[0]["raw_sha256"]
    assert after[1:] == before[1:]  # the confirmed case's evidence, and everything else, untouched
    assert purge(store, 90, actor="test", now=NOW) == 0  # nothing twice
    audit = store.query("SELECT actor, action, detail FROM audit_log WHERE action = 'purge'")
    assert len(audit) == 1 and audit[0]["actor"] == "test" and "mastodon:" in audit[0]["detail"]


def test_dry_run_changes_nothing(store: Store) -> None:
    _seed(store, {1: ("dismissed", 100)})
    before = store.query("SELECT text, raw FROM posts")
    assert len(due_for_purge(store, 30, now=NOW)) == 1
    assert store.query("SELECT text, raw FROM posts") == before
