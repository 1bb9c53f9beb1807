"""The ranked queue and the live leases held in the server's memory, so the common queue pages and "open next"
need no query.

Loaded from `review_queue` (ranked by priority, ties by post id) and `review_leases`, and kept in step three ways:
the server's own decisions, leases and releases update the copy in place (the one row, never a reload); every
`CHECK_S` seconds a one-line query, run under the server's write lock so that none of its own writes is half
applied, compares `review_queue`'s row count and newest `item_updated_at`, and `review_leases`' row count and
newest `taken_at`, with the copy's: leases changed elsewhere are read again at once (a few rows), a queue changed
elsewhere (the nightly load, another process) is reloaded in full (outside the lock: the server's own changes
made meanwhile are replayed onto the new copy). A lease is never taken from the copy blindly: `repo` re-checks
each candidate in the store, in the transaction that takes it.
Filtered pages (region, agency, platform, label, dates, watchlist) are answered by SQL instead; their counts are
kept here until the queue changes. The item page's list of the account's other queued posts comes from here too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pipeline.storage import Store
from pipeline.web.repo import OTHERS_COLUMNS, OTHERS_SHOWN, PAGE_SIZE, Key, QueueFilter
from pipeline.web.taxonomy import OPEN_STATUSES

CHECK_S = 2.0
_LOAD = (
    "SELECT platform, platform_post_id, status, priority, label, flag_score, on_watchlist, author_platform_id, "
    "author_handle, posted_at, excerpt, item_updated_at FROM review_queue ORDER BY priority DESC, platform_post_id"
)
_MARKERS = (
    "SELECT (SELECT count(*) FROM review_queue), (SELECT max(item_updated_at) FROM review_queue), "
    "(SELECT count(*) FROM review_leases), (SELECT max(taken_at) FROM review_leases)"
)
_LEASES = "SELECT platform, platform_post_id, holder, taken_at, expires_at FROM review_leases"
COUNTS_KEPT = 256  # filtered counts remembered until the queue changes


def unfiltered(flt: QueueFilter) -> bool:
    """Whether the cache can answer this filter (only the view and the page are set)."""
    return (
        not (flt.region or flt.agency or flt.platform or flt.label or flt.posted_from or flt.posted_before)
        and not flt.watchlist_only
    )


class QueueCache:
    """One per server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the copy (held only for in-memory work)
        self.looking = threading.Lock()  # one request at a time looks at the store for changes
        self._rows: list[dict[str, Any]] = []
        self._by_key: dict[Key, dict[str, Any]] = {}
        self._by_author: dict[Key, list[dict[str, Any]]] = {}  # (platform, author id): rows, newest post first
        self._counts: Counter[str] = Counter()
        self._decided: dict[str, set[Key]] = {}
        self._leases: dict[Key, tuple[str, datetime, datetime]] = {}  # key: (holder, taken_at, expires_at)
        self._filtered_counts: dict[tuple[Any, ...], int] = {}
        self._generation = 0  # moves on whenever a status or the rows change (filtered counts are void then)
        self._marker: tuple[int, Any] | None = None
        self._replay: list[tuple[Key, str, datetime]] | None = None  # own decisions made while a reload runs
        self._checked = -CHECK_S
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._marker is not None

    # --- keeping in step with the store -------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether it is time to look at the store again."""
        return not self.loaded or time.monotonic() - self._checked >= CHECK_S

    def check(self, store: Store) -> bool:
        """Compare the copy with the store; read changed leases again. True if the queue itself must be reloaded.
        Call it under the server's write lock, so that none of the server's own writes is in flight."""
        n, newest, leases, taken = _markers(store)
        with self._lock:
            self._checked = time.monotonic()
            mine = (len(self._leases), max((v[1] for v in self._leases.values()), default=None))
            stale_leases = (int(leases), taken) != mine
        if stale_leases:
            rows = store.query(_LEASES)
            with self._lock:
                self._leases = {
                    (r["platform"], r["platform_post_id"]): (r["holder"], r["taken_at"], r["expires_at"]) for r in rows
                }
        return (int(n), newest) != self._marker

    def load(self, store: Store) -> None:
        """Read the whole queue again (outside the write lock: own decisions made meanwhile are replayed)."""
        with self._lock:
            self._replay = []
        try:
            rows = store.query(_LOAD)
        except BaseException:
            with self._lock:
                self._replay = None
            raise
        newest = max((r["item_updated_at"] for r in rows), default=None)
        by_key = {(r["platform"], r["platform_post_id"]): r for r in rows}
        by_author: dict[Key, list[dict[str, Any]]] = {}
        for r in sorted(rows, key=lambda r: r["posted_at"], reverse=True):
            by_author.setdefault((r["platform"], r["author_platform_id"]), []).append(r)
        with self._lock:
            for key, status, stamp in self._replay or []:
                row = by_key.get(key)
                if row is not None:
                    row["status"] = status
                newest = stamp if newest is None else max(newest, stamp)
            self._replay = None
            self._rows = rows
            self._by_key = by_key
            self._by_author = by_author
            self._counts = Counter(r["status"] for r in rows)
            self._decided = {}
            self._filtered_counts = {}
            self._generation += 1
            self._marker = (len(rows), newest)
            self._checked = time.monotonic()
            self.loads += 1

    def known_decided(self, user: str) -> set[Key] | None:
        """The items this person decided, if the copy knows them (else ask `decided_by`)."""
        with self._lock:
            return self._decided.get(user)

    def decided_by(self, store: Store, user: str) -> set[Key]:
        known = self.known_decided(user)
        if known is None:
            rows = store.query(
                "SELECT DISTINCT platform, platform_post_id FROM review_decisions WHERE reviewer = ?", [user]
            )
            found = {(r["platform"], r["platform_post_id"]) for r in rows}
            with self._lock:  # decisions are never taken back: one made while this was read is kept
                known = self._decided[user] = found | self._decided.get(user, set())
        return known

    # --- the server's own changes (call them under the write lock, after the commit) -----------------------------

    def after_decision(
        self, key: Key, user: str, status: str, stamp: datetime, following: Key | None, expires_at: datetime | None
    ) -> None:
        """Apply the server's own committed decision: the item's new status (its stamp is now review_queue's
        newest item_updated_at), and the leases it let go of and took (`following`, until `expires_at`)."""
        with self._lock:
            row = self._by_key.get(key)
            if row is not None and row["status"] != status:
                self._counts[row["status"]] -= 1
                self._counts[status] += 1
                row["status"] = status
                self._filtered_counts = {}
                self._generation += 1
            known = self._decided.get(user)
            if known is not None:  # else `decided_by` reads them all, this one included, when they are next needed
                known.add(key)
            if self._marker is not None:
                newest = self._marker[1]
                self._marker = (self._marker[0], stamp if newest is None else max(newest, stamp))
            if self._replay is not None:
                self._replay.append((key, status, stamp))
            self._leases.pop(key, None)
            if following is not None and expires_at is not None:
                self._take(following, user, stamp, expires_at)

    def after_lease(self, key: Key, user: str, taken_at: datetime, expires_at: datetime) -> None:
        with self._lock:
            self._take(key, user, taken_at, expires_at)

    def after_release(self, key: Key, user: str) -> None:
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[0] == user:
                del self._leases[key]

    def _take(self, key: Key, user: str, taken_at: datetime, expires_at: datetime) -> None:
        # as repo._lease does: the holder lets go of every other item, and an expired lease on this one goes
        self._drop_holder(user)
        self._leases[key] = (user, taken_at, expires_at)

    def _drop_holder(self, user: str) -> None:
        for k in [k for k, v in self._leases.items() if v[0] == user]:
            del self._leases[k]

    # --- answers ------------------------------------------------------------------------------------------------

    def holders(self, now: datetime) -> dict[Key, str]:
        """Who holds which item now."""
        with self._lock:
            return {k: v[0] for k, v in self._leases.items() if v[2] > now}

    def others(self, key: Key, author_platform_id: str) -> list[dict[str, Any]]:
        """The account's other queued posts, newest first, as `repo.evidence` reads them."""
        with self._lock:
            rows = self._by_author.get((key[0], author_platform_id), [])
            return [{c: r[c] for c in OTHERS_COLUMNS} for r in rows if r["platform_post_id"] != key[1]][:OTHERS_SHOWN]

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

    def candidates(
        self, role: str, decided: set[Key], user: str, now: datetime, skip: Key | None = None, limit: int = 20
    ) -> list[Key]:
        """The highest items this person may decide and nobody else holds (each is checked again in the store)."""
        keys: list[Key] = []
        with self._lock:
            for row in self._matches("todo", role, decided):
                key = (row["platform"], row["platform_post_id"])
                held = self._leases.get(key)
                if key == skip or (held is not None and held[0] != user and held[2] > now):
                    continue
                keys.append(key)
                if len(keys) >= limit:
                    break
        return keys

    def filtered_count(self, key: tuple[Any, ...]) -> int | None:
        """A filtered view's count, if it was counted since the queue last changed."""
        with self._lock:
            return self._filtered_counts.get(key)

    def keep_count(self, key: tuple[Any, ...], n: int, generation: int) -> None:
        """Remember a filtered count, unless the queue changed since `generation` was read (when it was counted)."""
        with self._lock:
            if generation == self._generation and len(self._filtered_counts) < COUNTS_KEPT:
                self._filtered_counts[key] = n

    @property
    def generation(self) -> int:
        """Moves on whenever a status or the rows of the copy change."""
        return self._generation


def _markers(store: Store) -> tuple[Any, ...]:
    with store.connect() as con:
        row = con.execute(_MARKERS).fetchone()
    assert row is not None
    return tuple(row)
