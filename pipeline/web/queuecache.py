"""The ranked queue held in the server's memory, so the common queue pages and "open next" need no scan.

Loaded from `review_queue` (ranked by priority, ties by post id) and kept in step three ways: the server's own
decisions update it in place; every `CHECK_S` seconds a one-line query compares `review_queue`'s row count and
newest `item_updated_at` with the copy's, and any change made elsewhere (the nightly load, another process) reloads
it; a lease is never taken from it blindly: `repo.lease_first` re-checks each candidate in the store.
Filtered pages (region, agency, platform, label, dates, watchlist) are answered by SQL instead.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pipeline.storage import Store
from pipeline.web.repo import PAGE_SIZE, Key, QueueFilter
from pipeline.web.taxonomy import OPEN_STATUSES

CHECK_S = 2.0
_LOAD = (
    "SELECT platform, platform_post_id, status, priority, label, flag_score, on_watchlist, author_handle, "
    "posted_at, excerpt FROM review_queue ORDER BY priority DESC, platform_post_id"
)


def unfiltered(flt: QueueFilter) -> bool:
    """Whether the cache can answer this filter (only the view and the page are set)."""
    return (
        not (flt.region or flt.agency or flt.platform or flt.label or flt.posted_from or flt.posted_before)
        and not flt.watchlist_only
    )


class QueueCache:
    """One per server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._by_key: dict[Key, dict[str, Any]] = {}
        self._counts: Counter[str] = Counter()
        self._decided: dict[str, set[Key]] = {}
        self._marker: tuple[int, Any] | None = None
        self._checked = -CHECK_S
        self.loads = 0

    def refresh(self, store: Store, force: bool = False) -> None:
        """Reload if the store's queue moved on since the last look (looked at most every CHECK_S seconds)."""
        if not force and time.monotonic() - self._checked < CHECK_S:
            return
        row = store.query("SELECT count(*) AS n, max(item_updated_at) AS newest FROM review_queue")[0]
        marker = (int(row["n"]), row["newest"])
        with self._lock:
            self._checked = time.monotonic()
            if marker == self._marker and not force:
                return
        rows = store.query(_LOAD)
        with self._lock:
            self._rows = rows
            self._by_key = {(r["platform"], r["platform_post_id"]): r for r in rows}
            self._counts = Counter(r["status"] for r in rows)
            self._decided = {}
            self._marker = marker
            self.loads += 1

    def decided_by(self, store: Store, user: str) -> set[Key]:
        with self._lock:
            known = self._decided.get(user)
        if known is None:
            rows = store.query(
                "SELECT DISTINCT platform, platform_post_id FROM review_decisions WHERE reviewer = ?", [user]
            )
            known = {(r["platform"], r["platform_post_id"]) for r in rows}
            with self._lock:
                self._decided[user] = known
        return known

    def after_decision(self, key: Key, user: str, status: str, stamp: datetime) -> None:
        """Apply the server's own committed decision (its stamp is now review_queue's newest item_updated_at)."""
        with self._lock:
            row = self._by_key.get(key)
            if row is not None:
                self._counts[row["status"]] -= 1
                self._counts[status] += 1
                row["status"] = status
            self._decided.setdefault(user, set()).add(key)
            if self._marker is not None:
                self._marker = (self._marker[0], stamp)

    # --- answers ------------------------------------------------------------------------------------------------

    def _may_decide(self, row: dict[str, Any], role: str, decided: set[Key]) -> bool:
        status = row["status"]
        if status == "pending":
            return True
        if status in ("second_opinion", "second_review") or (status == "disputed" and role == "supervisor"):
            return (row["platform"], row["platform_post_id"]) not in decided
        return False

    def _matches(self, view: str, role: str, decided: set[Key]) -> Iterator[dict[str, Any]]:
        for row in self._rows:
            if view == "todo":
                if self._may_decide(row, role, decided):
                    yield row
            elif view == "all" or (view == "open" and row["status"] in OPEN_STATUSES) or row["status"] == view:
                yield row

    def _count(self, view: str, role: str, decided: set[Key]) -> int:
        if view == "all":
            return len(self._rows)
        if view == "open":
            return sum(self._counts[s] for s in OPEN_STATUSES)
        if view != "todo":
            return self._counts[view]
        waiting = ("second_opinion", "second_review", "disputed") if role == "supervisor" else OPEN_STATUSES[1:3]
        mine = sum(1 for k in decided if k in self._by_key and self._by_key[k]["status"] in waiting)
        return self._counts["pending"] + sum(self._counts[s] for s in waiting) - mine

    def page(self, flt: QueueFilter, role: str, decided: set[Key]) -> tuple[list[dict[str, Any]], int]:
        """One page of an unfiltered view and its count."""
        start = (flt.page - 1) * PAGE_SIZE
        out: list[dict[str, Any]] = []
        with self._lock:
            for n, row in enumerate(self._matches(flt.view, role, decided)):
                if n >= start + PAGE_SIZE:
                    break
                if n >= start:
                    out.append(dict(row))
            return out, self._count(flt.view, role, decided)

    def candidates(self, role: str, decided: set[Key], skip: Key | None = None, limit: int = 20) -> list[Key]:
        """The highest items this person may decide (leases are checked in the store)."""
        keys: list[Key] = []
        with self._lock:
            for row in self._matches("todo", role, decided):
                key = (row["platform"], row["platform_post_id"])
                if key != skip:
                    keys.append(key)
                if len(keys) >= limit:
                    break
        return keys
