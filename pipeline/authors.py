"""Authors worth a look: accounts whose bio or display name makes them likely ASN (pipeline.asn) but that the
watchlist does not follow yet, for operators to review and, if they agree, add (`pantau authors suggest`).

A suggestion is a lead, not a finding: the score ranks, the reasons say why, and a person decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.storage import Store
from pipeline.watchlist import watch_key


@dataclass(frozen=True)
class Suggestion:
    platform: str
    handle: str
    display_name: str
    score: float
    reasons: list[str]
    posts: int
    flagged: int
    last_seen_at: object


def suggest_accounts(
    store: Store, min_score: float = 0.5, platform: str | None = None, limit: int = 50
) -> list[Suggestion]:
    """Likely-ASN authors not on the watchlist, most likely first (then most flagged posts)."""
    watched = {(r["platform"], watch_key(r["platform"], r["handle"])) for r in store.watchlist(enabled_only=False)}
    rows = store.query(
        "SELECT a.platform, a.platform_id, a.handle, a.display_name, a.asn_score, a.asn_reasons, a.last_seen_at, "
        "count(p.platform_post_id) AS posts, count(r.platform_post_id) AS flagged "
        "FROM authors a LEFT JOIN posts p ON p.platform = a.platform AND p.author_platform_id = a.platform_id "
        "LEFT JOIN review_items r ON r.platform = p.platform AND r.platform_post_id = p.platform_post_id "
        "WHERE a.asn_score >= ? AND (? IS NULL OR a.platform = ?) AND a.platform NOT IN ('rss') "
        "GROUP BY ALL ORDER BY a.asn_score DESC, flagged DESC, posts DESC, a.handle",
        [min_score, platform, platform],
    )
    found = [
        Suggestion(
            r["platform"], r["handle"], r["display_name"], r["asn_score"], list(r["asn_reasons"] or []),
            r["posts"], r["flagged"], r["last_seen_at"],
        )
        for r in rows
        if not {(r["platform"], watch_key(r["platform"], r[k])) for k in ("handle", "platform_id")} & watched
    ]  # fmt: skip
    return found[:limit]
