"""Review-queue rules: which predictions become review items and in what order reviewers see them.

Priority (higher first) = flag_score × author_weight × recency, where
- flag_score is the model's probability that the post is partisan (the sum over the four flagged labels);
- author_weight = 0.3 + 0.7 × ASN-likelihood of the author (pipeline.asn.asn_likelihood, stored per author as
  authors.asn_score from bio and display name when posts are loaded; 1.0 when the account is on the watchlist,
  0.0 for an author not scored yet): from 0.3 for an account nothing marks as a civil servant to 1.0 for a known
  ASN. The floor keeps a clearly partisan post by an unknown account in the queue's upper part; the neutrality
  rules bind ASN, so who wrote a post weighs as much as what it says;
- recency is 0.5 ** (age in days / 7), the age counted back from the newest pending post (not from the clock, so
  that a replayed or late-loaded season ranks the same way): a post loses half its weight every week, because a
  violation is most useful to Bawaslu while the election stage it belongs to is still running.
A model never decides: it only orders this queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.storage import Store

AUTHOR_FLOOR = 0.3  # author_weight = AUTHOR_FLOOR + (1 - AUTHOR_FLOOR) * ASN-likelihood
HALF_LIFE_DAYS = 7.0

_ENQUEUE = """
INSERT INTO review_items
SELECT p.platform, p.platform_post_id, 'pending', 0.0, pr.label, pr.flag_score, pr.model_version,
       w.handle IS NOT NULL, $now, $now, $run_id
FROM predictions pr
JOIN posts p ON p.platform = pr.platform AND p.platform_post_id = pr.platform_post_id
            AND p.text_sha256 = pr.text_sha256
LEFT JOIN (SELECT DISTINCT platform, lower(handle) AS handle FROM watchlist WHERE kind = 'account') w
       ON w.platform = p.platform AND w.handle = lower(p.author_handle)
WHERE pr.flagged AND pr.model_version = $model_version
  AND NOT EXISTS (SELECT 1 FROM review_items r
                  WHERE r.platform = p.platform AND r.platform_post_id = p.platform_post_id)
"""

_REPRIORITISE = f"""
WITH front AS (
  SELECT max(p.posted_at) AS newest FROM review_items r
  JOIN posts p ON p.platform = r.platform AND p.platform_post_id = r.platform_post_id WHERE r.status = 'pending'
)
UPDATE review_items SET
  priority = review_items.flag_score
             * ({AUTHOR_FLOOR} + {1 - AUTHOR_FLOOR}
                * (CASE WHEN review_items.on_watchlist THEN 1.0 ELSE coalesce(a.asn_score, 0.0) END))
             * pow(0.5, greatest(date_diff('second', p.posted_at, front.newest), 0) / 86400.0 / {HALF_LIFE_DAYS}),
  updated_at = $now
FROM posts p
CROSS JOIN front
LEFT JOIN authors a ON a.platform = p.platform AND a.platform_id = p.author_platform_id
WHERE review_items.status = 'pending'
  AND p.platform = review_items.platform AND p.platform_post_id = review_items.platform_post_id
"""


def refresh_queue(store: Store, run_id: str, model_version: str, now: datetime | None = None) -> int:
    """Queue every flagged post of this model version not yet queued, re-rank the pending ones; return how many
    were added."""
    now = now or datetime.now(UTC)
    with store.transaction() as con:
        before = con.execute("SELECT count(*) FROM review_items").fetchone()
        con.execute(_ENQUEUE, {"now": now, "run_id": run_id, "model_version": model_version})
        after = con.execute("SELECT count(*) FROM review_items").fetchone()
        con.execute(_REPRIORITISE, {"now": now})
        added = (after[0] if after else 0) - (before[0] if before else 0)
        store.audit(con, "pipeline", "enqueue", "review_items", run_id, {"added": added})
    return added


def pending_queue(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The pending items, highest priority first, with what a reviewer needs to pick one."""
    return store.query(
        "SELECT r.priority, r.label, r.flag_score, r.on_watchlist, p.platform, p.platform_post_id, "
        "p.author_handle, p.posted_at, p.text, p.url FROM review_items r "
        "JOIN posts p USING (platform, platform_post_id) WHERE r.status = 'pending' "
        "ORDER BY r.priority DESC, p.posted_at DESC LIMIT ?",
        [limit],
    )


def pending_count(store: Store) -> int:
    rows = store.query("SELECT count(*) AS n FROM review_items WHERE status = 'pending'")
    return int(rows[0]["n"])
