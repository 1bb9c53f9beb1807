"""Retention (UU 27/2022): the texts and raw payloads of posts that reviewers dismissed are purged after a set
number of days. Confirmed cases are never touched: their evidence is kept whole. Hashes, keys and decisions stay,
so the audit trail still shows what existed and what was decided.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.storage import Store

# dismissed for long enough, not yet purged, and (defensively) not confirmed
_DUE = """
SELECT p.platform, p.platform_post_id, p.author_handle, p.posted_at, d.last_decided_at
FROM posts p
JOIN review_items r USING (platform, platform_post_id)
JOIN (SELECT platform, platform_post_id, max(decided_at) AS last_decided_at FROM review_decisions GROUP BY ALL) d
  USING (platform, platform_post_id)
WHERE r.status = 'dismissed' AND d.last_decided_at < $cutoff AND (p.raw <> '' OR p.text <> '')
ORDER BY d.last_decided_at
"""


def due_for_purge(store: Store, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The posts a purge would empty now."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    with store.connect() as con:
        cur = con.execute(_DUE, {"cutoff": cutoff})
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def purge(store: Store, days: int, actor: str, now: datetime | None = None) -> int:
    """Empty the text and raw payload (and their earlier versions) of every due post; return how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    with store.transaction() as con:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE due AS SELECT platform, platform_post_id FROM ({_DUE})", {"cutoff": cutoff}
        )
        count = int(con.execute("SELECT count(*) FROM due").fetchone()[0])  # type: ignore[index]
        if count:
            con.execute(
                "UPDATE posts SET text = '', raw = '' FROM due "
                "WHERE posts.platform = due.platform AND posts.platform_post_id = due.platform_post_id"
            )
            con.execute(
                "UPDATE post_versions SET text = '', raw = '' FROM due WHERE post_versions.platform = due.platform "
                "AND post_versions.platform_post_id = due.platform_post_id"
            )
            keys = [f"{a}:{b}" for a, b in con.execute("SELECT * FROM due").fetchall()]
            store.audit(con, actor, "purge", "posts", f"{count} posts", {"retention_days": days, "keys": keys})
        con.execute("DROP TABLE due")
    return count
