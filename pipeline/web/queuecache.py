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
Filtered pages (region, agency, platform, label, dates, watchlist) come from here too: the rows of each narrowing
(the filter without view and page) are found once per load by columnar comparisons (pyarrow) and kept, with their
count by status, which the server's own decisions keep current; no filter value ever reaches SQL. The item page's
list of the account's other queued posts comes from here too.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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
NARROWINGS_KEPT = 64  # narrowings whose rows are kept until the next load
_WAITING = ("second_opinion", "second_review", "disputed")  # decided only by someone who has not decided it yet


def _waiting(role: str) -> tuple[str, ...]:
    """The waiting statuses this role may decide: a disputed item only a supervisor."""
    return _WAITING if role == "supervisor" else _WAITING[:2]


def unfiltered(flt: QueueFilter) -> bool:
    """Whether the cache can answer this filter (only the view and the page are set)."""
    return (
        not (flt.region or flt.agency or flt.platform or flt.label or flt.posted_from or flt.posted_before)
        and not flt.watchlist_only
    )


@dataclass
class _Narrowed:
    """The rows of one narrowing (positions in the ranking, ascending), for the watchlist it was made with, and
    their count by status."""

    positions: list[int]
    members: frozenset[int]
    watch: dict[Key, dict[str, Any]]
    statuses: Counter[str] = field(default_factory=Counter)


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
        self._columns: pa.Table | None = None  # what narrowings compare, one row per ranked row
        self._position: dict[Key, int] = {}
        self._narrowed: dict[QueueFilter, _Narrowed] = {}  # until the next load
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
        position = {key: n for n, key in enumerate(by_key)}
        columns = _columns(rows)
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
            self._columns = columns
            self._position = position
            self._narrowed = {}
            self._marker = (len(rows), newest)
            self._checked = time.monotonic()
            self.loads += 1
        _settle()

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
                n = self._position[key]
                for narrowed in self._narrowed.values():
                    if n in narrowed.members:
                        narrowed.statuses[row["status"]] -= 1
                        narrowed.statuses[status] += 1
                row["status"] = status
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
        if status in _waiting(role):
            return (row["platform"], row["platform_post_id"]) not in decided
        return False

    def _view_test(self, view: str, role: str, decided: set[Key]) -> Callable[[dict[str, Any]], bool]:
        """Whether a row is in the view."""
        if view == "todo":
            return lambda row: self._may_decide(row, role, decided)
        if view == "all":
            return lambda row: True
        if view == "open":
            return lambda row: row["status"] in OPEN_STATUSES
        return lambda row: row["status"] == view

    def _matches(self, view: str, role: str, decided: set[Key]) -> Iterator[dict[str, Any]]:
        test = self._view_test(view, role, decided)
        return (row for row in self._rows if test(row))

    def _count(
        self, counts: Counter[str], view: str, role: str, decided: set[Key], within: frozenset[int] | None = None
    ) -> int:
        """A view's count from the rows' count by status (`counts`): of the whole copy, or of the rows at the
        positions `within` (a narrowing)."""
        if view == "all":
            return sum(counts.values())
        if view == "open":
            return sum(counts[s] for s in OPEN_STATUSES)
        if view != "todo":
            return counts[view]
        waiting = _waiting(role)
        mine = sum(
            1
            for k in decided
            if k in self._position
            and (within is None or self._position[k] in within)
            and self._by_key[k]["status"] in waiting
        )
        return counts["pending"] + sum(counts[s] for s in waiting) - mine

    def page(self, flt: QueueFilter, role: str, decided: set[Key]) -> tuple[list[dict[str, Any]], int]:
        """One page of an unfiltered view and its count."""
        with self._lock:
            return _one_page(self._matches(flt.view, role, decided), flt.page), self._count(
                self._counts, flt.view, role, decided
            )

    def filtered_page(
        self, flt: QueueFilter, role: str, decided: set[Key], watch: dict[Key, dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a filtered view and its count. `watch`: watchlist accounts by (platform, lower-cased handle),
        each with its region_code and agency."""
        rows, narrowed = self._narrowing(replace(flt, view="all", page=1), watch)
        test = self._view_test(flt.view, role, decided)
        page = _one_page((row for row in (rows[n] for n in narrowed.positions) if test(row)), flt.page)
        with self._lock:
            return page, self._count(narrowed.statuses, flt.view, role, decided, narrowed.members)

    def _narrowing(self, narrowing: QueueFilter, watch: dict[Key, dict[str, Any]]) -> tuple[list[Any], _Narrowed]:
        """The rows of a narrowing, found by columnar comparisons outside the lock (a few milliseconds for 50,000
        rows), then counted by status under it; kept until the next load (or until the watchlist changes)."""
        with self._lock:
            rows, columns, kept = self._rows, self._columns, self._narrowed.get(narrowing)
        if kept is not None and kept.watch is watch:
            return rows, kept
        assert columns is not None
        positions = pc.indices_nonzero(_mask(columns, narrowing, watch)).to_pylist()
        narrowed = _Narrowed(positions, frozenset(positions), watch)
        with self._lock:  # counted under the lock, so that no decision's change of status is missed
            narrowed.statuses.update(rows[n]["status"] for n in positions)
            if rows is self._rows and len(self._narrowed) < NARROWINGS_KEPT:
                self._narrowed[narrowing] = narrowed
        return rows, narrowed

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


def _one_page(rows: Iterator[dict[str, Any]], page: int) -> list[dict[str, Any]]:
    """Copies of the rows of page `page` (from 1) of `rows`."""
    start = (page - 1) * PAGE_SIZE
    return [dict(row) for row in itertools.islice(rows, start, start + PAGE_SIZE)]


def _settle() -> None:
    """Take the objects alive now (the new copy's rows above all) out of the garbage collector's sight. The copy is
    long-lived, and each full collection otherwise walks its ~50,000 rows several times over: a pause of 70-100 ms
    (measured at a million posts) that every request in flight waits out. The collection first means no garbage is
    kept; it costs one such pause, once per load."""
    gc.collect()
    gc.freeze()


def _columns(rows: list[dict[str, Any]]) -> pa.Table:
    """What narrowings compare, one row per ranked row: the author's watchlist key is platform and lower-cased
    handle, as the watchlist is matched in SQL."""
    return pa.table(
        {
            "platform": pa.array([r["platform"] for r in rows], pa.string()),
            "label": pa.array([r["label"] for r in rows], pa.string()),
            "on_watchlist": pa.array([bool(r["on_watchlist"]) for r in rows], pa.bool_()),
            "posted_at": pa.array([r["posted_at"] for r in rows], pa.timestamp("us", tz="UTC")),
            "account": pa.array([_account(r["platform"], r["author_handle"]) for r in rows], pa.string()),
        }
    )


def _account(platform: str, handle: str | None) -> str:
    return f"{platform}\n{(handle or '').lower()}"


def _mask(columns: pa.Table, flt: QueueFilter, watch: dict[Key, dict[str, Any]]) -> pa.ChunkedArray:
    """Which rows pass the filter's narrowing fields (all but the view), as `repo.queue_page`'s SQL decides: region
    and agency are those of the author's watchlist account. A null never passes."""
    mask = pc.equal(columns["platform"], columns["platform"])  # true wherever a row is
    if flt.platform:
        mask = pc.and_kleene(mask, pc.equal(columns["platform"], flt.platform))
    if flt.label:
        mask = pc.and_kleene(mask, pc.equal(columns["label"], flt.label))
    if flt.watchlist_only:
        mask = pc.and_kleene(mask, columns["on_watchlist"])
    stamp = pa.timestamp("us", tz="UTC")
    if flt.posted_from:
        mask = pc.and_kleene(mask, pc.greater_equal(columns["posted_at"], pa.scalar(flt.posted_from, stamp)))
    if flt.posted_before:
        mask = pc.and_kleene(mask, pc.less(columns["posted_at"], pa.scalar(flt.posted_before, stamp)))
    if flt.region or flt.agency:
        accounts = [
            _account(*k)
            for k, e in watch.items()
            if (not flt.region or e["region_code"] == flt.region) and (not flt.agency or e["agency"] == flt.agency)
        ]
        mask = pc.and_kleene(mask, pc.is_in(columns["account"], value_set=pa.array(accounts, pa.string())))
    return pc.fill_null(mask, False)


def _markers(store: Store) -> tuple[Any, ...]:
    with store.connect() as con:
        row = con.execute(_MARKERS).fetchone()
    assert row is not None
    return tuple(row)
