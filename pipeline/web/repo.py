"""Every query the review workspace runs, on short connections of `pipeline.storage.Store`.

Values always travel as parameters; SQL built from pieces (the queue's WHERE clause, the item-state lookups, the
rows of a multi-row audit insert) is made of fixed strings only, chosen by which filters are set or how many rows
there are. Callers hold a `Gate` session (see `db.py`) and, for writes, its write lock (a lone audit append needs
none). Every statement costs DuckDB about half a millisecond whatever it does, so the hot paths (a decision, a
lease) read what they check in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from pipeline.errors import WorkspaceError
from pipeline.storage import Store
from pipeline.web.foureyes import Decision, can_act, next_status
from pipeline.web.taxonomy import OPEN_STATUSES

EXCERPT_CHARS = 280
PAGE_SIZE = 50
OTHERS_SHOWN = 20  # the account's other queued posts on an item page, newest first
OTHERS_COLUMNS = ("platform", "platform_post_id", "status", "label", "flag_score", "posted_at", "excerpt")
Key = tuple[str, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def entity_key(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


# --- users and sign-in ------------------------------------------------------------------------------------------


def get_user(store: Store, username: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM users WHERE username = ?", [username])
    return rows[0] if rows else None


def list_users(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT username, role, enabled, created_at, created_by FROM users ORDER BY username")


def add_user(store: Store, username: str, password_hash: str, role: str, actor: str, now: datetime) -> None:
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise WorkspaceError("user_exists")
        con.execute(
            "INSERT INTO users VALUES (?, ?, ?, true, ?, ?, ?, ?)",
            [username, password_hash, role, now, now, actor, now],
        )
        store.audit(con, actor, "add_user", "user", username, {"role": role})


def set_enabled(store: Store, username: str, enabled: bool, actor: str, now: datetime) -> None:
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise WorkspaceError("no_user")
        # disabling also ends the account's open sessions
        con.execute(
            "UPDATE users SET enabled = ?, sessions_after = ?, updated_at = ? WHERE username = ?",
            [enabled, now, now, username],
        )
        store.audit(con, actor, "enable_user" if enabled else "disable_user", "user", username, {})


def end_sessions(store: Store, username: str, now: datetime) -> None:
    """Invalidate every session of this user issued before now (sign-out ends copies of the cookie too)."""
    with store.transaction() as con:
        con.execute("UPDATE users SET sessions_after = ?, updated_at = ? WHERE username = ?", [now, now, username])
        store.audit(con, username, "logout", "user", username, {})


def record_login(store: Store, username: str, client: str, ok: bool, now: datetime) -> None:
    with store.transaction() as con:
        con.execute(
            "INSERT INTO login_attempts (attempted_at, username, client, succeeded) VALUES (?, ?, ?, ?)",
            [now, username, client, ok],
        )
        if ok:
            store.audit(con, username, "login", "user", username, {"client": client})


def recent_failures(store: Store, username: str, client: str, since: datetime) -> tuple[int, int]:
    """Failed sign-ins since `since` (and since the account's last success): (for this account, from this client)."""
    row = store.query(
        "SELECT count(*) FILTER (WHERE username = ? AND attempted_at > coalesce((SELECT max(attempted_at) "
        "FROM login_attempts WHERE username = ? AND succeeded), ?)) AS by_user, "
        "count(*) FILTER (WHERE client = ?) AS by_client "
        "FROM login_attempts WHERE NOT succeeded AND attempted_at > ?",
        [username, username, since, client, since],
    )[0]
    return int(row["by_user"]), int(row["by_client"])


# --- the queue --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrowed the queue to; every value is validated before it gets here."""

    view: str = "todo"  # 'todo' (what I may decide), 'open', 'all', or one status
    region: str | None = None
    agency: str | None = None
    platform: str | None = None
    label: str | None = None
    posted_from: datetime | None = None  # UTC instants, inclusive
    posted_before: datetime | None = None  # exclusive
    watchlist_only: bool = False
    page: int = 1


@dataclass
class _Where:
    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


_DECIDED_BY_ME = (
    "EXISTS (SELECT 1 FROM review_decisions d WHERE d.platform = q.platform "
    "AND d.platform_post_id = q.platform_post_id AND d.reviewer = ?)"
)
_JOIN_WATCH = (
    "LEFT JOIN (SELECT platform, lower(handle) AS handle, any_value(agency) AS agency, "
    "any_value(region_code) AS region_code FROM watchlist WHERE kind = 'account' GROUP BY ALL) w "
    "ON w.platform = q.platform AND w.handle = lower(q.author_handle)"
)
_LIVE_LEASE = (
    "LEFT JOIN review_leases l ON l.platform = q.platform AND l.platform_post_id = q.platform_post_id "
    "AND l.expires_at > ?"
)
_ORDER = "ORDER BY q.priority DESC, q.platform_post_id"
_QUEUE_COLUMNS = (
    "q.platform, q.platform_post_id, q.status, q.priority, q.label, q.flag_score, q.on_watchlist, "
    "q.author_handle, q.posted_at, q.excerpt"
)


def _where(flt: QueueFilter, user: str, role: str) -> _Where:
    w = _Where()
    if flt.view == "todo":
        w.add(
            f"(q.status = 'pending' OR (q.status IN ('second_opinion', 'second_review') AND NOT {_DECIDED_BY_ME}) "
            f"OR (q.status = 'disputed' AND ? AND NOT {_DECIDED_BY_ME}))",
            user,
            role == "supervisor",
            user,
        )
    elif flt.view == "open":
        w.add(f"q.status IN ({', '.join('?' for _ in OPEN_STATUSES)})", *OPEN_STATUSES)
    elif flt.view != "all":
        w.add("q.status = ?", flt.view)
    if flt.platform:
        w.add("q.platform = ?", flt.platform)
    if flt.label:
        w.add("q.label = ?", flt.label)
    if flt.watchlist_only:
        w.add("q.on_watchlist")
    if flt.posted_from:
        w.add("q.posted_at >= ?", flt.posted_from)
    if flt.posted_before:
        w.add("q.posted_at < ?", flt.posted_before)
    if flt.region:
        w.add("w.region_code = ?", flt.region)
    if flt.agency:
        w.add("w.agency = ?", flt.agency)
    return w


def _matching(flt: QueueFilter) -> str:
    """FROM the queue copy; the watchlist is joined only when a filter needs it."""
    return "FROM review_queue q " + (_JOIN_WATCH if flt.region or flt.agency else "")


# The workspace's copy of the queue (`review_queue`): review_items' fields plus what it shows of each post, so the
# queue is ranked from one small table and never scans `posts`. The workspace updates both tables together when
# it decides; when the pipeline has queued or re-ranked items (review_items.updated_at moves) or a nightly run
# finished (a post may have been edited), the copy is brought up to date.
# posts change in a nightly run (edits) and in a retention purge (texts emptied: the copy must forget them too)
_POSTS_CHANGED = """
coalesce(greatest((SELECT max(finished_at) FROM crawl_runs),
                  (SELECT max(logged_at) FROM audit_log WHERE action = 'purge' AND entity = 'posts'))
         > (SELECT max(synced_at) FROM review_queue), false)
"""
_STALE = f"""
SELECT (SELECT count(*) FROM review_items) <> (SELECT count(*) FROM review_queue)
    OR coalesce((SELECT max(updated_at) FROM review_items) > (SELECT max(item_updated_at) FROM review_queue), false)
    OR {_POSTS_CHANGED}
"""
_COPY_NEW = """
INSERT INTO review_queue
SELECT r.platform, r.platform_post_id, r.status, r.priority, r.label, r.flag_score, r.on_watchlist,
       p.author_platform_id, p.author_handle, p.posted_at, left(p.text, ?), p.text_sha256, r.updated_at, ?
FROM (SELECT * FROM review_items ANTI JOIN review_queue USING (platform, platform_post_id)) r
JOIN posts p ON p.platform = r.platform AND p.platform_post_id = r.platform_post_id
"""
_COPY_CHANGED = """
UPDATE review_queue SET status = r.status, priority = r.priority, label = r.label, flag_score = r.flag_score,
       on_watchlist = r.on_watchlist, item_updated_at = r.updated_at
FROM review_items r
WHERE r.platform = review_queue.platform AND r.platform_post_id = review_queue.platform_post_id
  AND r.updated_at IS DISTINCT FROM review_queue.item_updated_at
"""
_COPY_POSTS = """
UPDATE review_queue SET author_handle = p.author_handle, excerpt = left(p.text, ?), text_sha256 = p.text_sha256,
       synced_at = ?
FROM posts p WHERE p.platform = review_queue.platform AND p.platform_post_id = review_queue.platform_post_id
"""


def queue_stale(store: Store) -> bool:
    row = store.query(_STALE.strip() + " AS stale")
    return bool(row[0]["stale"])


def sync_queue(store: Store, now: datetime) -> int:
    """Bring the queue copy up to date with review_items and posts; return how many items were added."""
    with store.transaction() as con:
        added = con.execute(_COPY_NEW, [EXCERPT_CHARS, now]).fetchone()
        con.execute(_COPY_CHANGED)
        changed = con.execute(f"SELECT {_POSTS_CHANGED}").fetchone()
        if changed and changed[0]:
            con.execute(_COPY_POSTS, [EXCERPT_CHARS, now])
    return int(added[0]) if added else 0


def queue_page(
    store: Store, flt: QueueFilter, user: str, role: str, known_count: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of the filtered queue, highest priority first, and how many items match (counted unless
    `known_count` is given). The server answers from its in-memory copy (`QueueCache.filtered_page`); this is the
    SQL answer that copy is tested against."""
    w = _where(flt, user, role)
    with store.connect() as con:
        rows = _all(
            con,
            f"SELECT {_QUEUE_COLUMNS} {_matching(flt)} WHERE {w.sql()} {_ORDER} LIMIT ? OFFSET ?",
            [*w.params, PAGE_SIZE, (flt.page - 1) * PAGE_SIZE],
        )
        if known_count is not None:
            return rows, known_count
        total = con.execute(f"SELECT count(*) {_matching(flt)} WHERE {w.sql()}", w.params).fetchone()
    return rows, int(total[0]) if total else 0


def watch_entries(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """Watchlist accounts by (platform, lower-cased handle): name, agency, region (for the queue's rows)."""
    rows = store.query(
        "SELECT platform, lower(handle) AS handle, name, agency, region_code, region_name FROM watchlist "
        "WHERE kind = 'account'"
    )
    return {(r["platform"], r["handle"]): r for r in rows}


def filter_options(store: Store) -> dict[str, list[Any]]:
    """Regions and agencies of the watchlist (for the queue's filter menus)."""
    with store.connect() as con:
        regions = con.execute(
            "SELECT DISTINCT region_code, region_name FROM watchlist WHERE region_code <> '' ORDER BY region_name"
        ).fetchall()
        agencies = con.execute("SELECT DISTINCT agency FROM watchlist WHERE agency <> '' ORDER BY agency").fetchall()
    return {"regions": regions, "agencies": [a for (a,) in agencies]}


# --- leases -----------------------------------------------------------------------------------------------------


def take_next(store: Store, flt: QueueFilter, user: str, role: str, now: datetime, minutes: float) -> Key | None:
    """Lease the highest-priority item of the filtered queue that this person may decide and nobody else holds."""
    with store.transaction() as con:
        return _take_next(store, con, flt, user, role, now, minutes)


def _take_next(
    store: Store, con: Any, flt: QueueFilter, user: str, role: str, now: datetime, minutes: float
) -> Key | None:
    key = _next_by_query(con, flt, user, role, now)
    if key is not None:
        _lease(store, con, key, user, now, minutes)
    return key


def _next_by_query(
    con: Any, flt: QueueFilter, user: str, role: str, now: datetime, skip: Collection[Key] = ()
) -> Key | None:
    """The highest-priority item of the filtered queue that this person may decide and nobody else holds (other
    than those in `skip`)."""
    todo = QueueFilter(**{**flt.__dict__, "view": "todo"})
    w = _where(todo, user, role)
    for key in sorted(skip):
        w.add("NOT (q.platform = ? AND q.platform_post_id = ?)", *key)
    row = con.execute(
        f"SELECT q.platform, q.platform_post_id {_matching(todo)} {_LIVE_LEASE} "
        f"WHERE {w.sql()} AND (l.holder IS NULL OR l.holder = ?) {_ORDER} LIMIT 1",
        [now, *w.params, user],
    ).fetchone()
    return None if row is None else (row[0], row[1])


def lease_first(store: Store, candidates: list[Key], user: str, role: str, now: datetime, minutes: float) -> Key | None:
    """Lease the first of `candidates` that this person may still decide and nobody else holds (each is re-checked
    in the store: the candidates come from the server's in-memory queue)."""
    with store.transaction() as con:
        key = _first_acceptable(con, candidates, user, role, now)
        if key is not None:
            _lease(store, con, key, user, now, minutes)
        return key


# What decides whether a person may lease or decide an item, in one round trip of point lookups (a UNION ALL of
# them costs a third of the same lookups as scalar subqueries, whose cross product DuckDB plans as joins): the
# item's status, its live holder, whether this person decided it before. (Decisions read the items of a whole group
# at once instead: see `_Group`.)
_STATE = """
SELECT '{p}status' AS what, status AS value FROM review_items
 WHERE platform_post_id = ${p}id AND platform = ${p}platform
UNION ALL
SELECT '{p}holder', holder FROM review_leases
 WHERE platform_post_id = ${p}id AND platform = ${p}platform AND expires_at > $now
UNION ALL
(SELECT '{p}decided', reviewer FROM review_decisions
  WHERE platform_post_id = ${p}id AND platform = ${p}platform AND reviewer = $user LIMIT 1)
"""


def _state_sql(prefix: str = "") -> str:
    return _STATE.replace("{p}", prefix)


def _state_of(values: dict[str, Any], prefix: str, user: str) -> tuple[str | None, str | None, bool]:
    """(status, live holder, decided before) from the rows of `_STATE` (None: not queued)."""
    return values.get(f"{prefix}status"), values.get(f"{prefix}holder"), values.get(f"{prefix}decided") == user


def _first_acceptable(con: Any, candidates: list[Key], user: str, role: str, now: datetime) -> Key | None:
    for key in candidates:
        rows = con.execute(_state_sql(), {"platform": key[0], "id": key[1], "now": now, "user": user}).fetchall()
        if _acceptable(*_state_of(dict(rows), "", user), user, role):
            return key
    return None


def _acceptable(status: str | None, holder: str | None, decided_before: bool, user: str, role: str) -> bool:
    """Whether this person may lease an item: it is queued, nobody else holds it, and they may decide it."""
    return status is not None and holder in (None, user) and can_act(status, role, bool(decided_before))


def take_lease(store: Store, key: Key, user: str, role: str, now: datetime, minutes: float) -> None:
    with store.transaction() as con:
        rows = con.execute(_state_sql(), {"platform": key[0], "id": key[1], "now": now, "user": user}).fetchall()
        status, holder, decided_before = _state_of(dict(rows), "", user)
        if status is None:
            raise WorkspaceError("not_found")
        if not can_act(status, role, decided_before):
            raise WorkspaceError("final" if status in ("confirmed", "dismissed") else "own_item")
        if holder is not None and holder != user:
            raise WorkspaceError("held")
        _lease(store, con, key, user, now, minutes)


def release_lease(store: Store, key: Key, user: str) -> None:
    with store.transaction() as con:
        con.execute(
            "DELETE FROM review_leases WHERE platform = ? AND platform_post_id = ? AND holder = ?", [*key, user]
        )


def _lease(store: Store, con: Any, key: Key, user: str, now: datetime, minutes: float) -> None:
    # one item at a time per reviewer: taking one lets go of the others (and of an expired lease on this one);
    # a delete and an insert cost a third of DuckDB's ON CONFLICT upsert
    con.execute(
        "DELETE FROM review_leases WHERE holder = ? OR (platform_post_id = ? AND platform = ?)", [user, key[1], key[0]]
    )
    con.execute("INSERT INTO review_leases VALUES (?, ?, ?, ?, ?)", [*key, user, now, now + timedelta(minutes=minutes)])
    store.audit(con, user, "lease", "review_item", entity_key(key), {"minutes": minutes})


# --- decisions --------------------------------------------------------------------------------------------------
#
# Decisions are written in groups (see `groupcommit.py`): one transaction, hence one commit and one fsync, for every
# decision that arrived while the previous group was being written. Each is still checked on its own and in order,
# against the store as the group's earlier decisions left it: the state of every item involved is read in one round
# trip at the start, the checks and the four-eyes rule run on that state in memory (`_Group`), and the net changes
# are written at the end in one statement per table, whatever the group's size. A decision refused by its checks
# writes nothing and gets its own error; the others of its group are written.


@dataclass(frozen=True)
class DecisionRequest:
    """One person's decision as it waits to be written: what they saw (the text's sha256) and the items to lease
    next, best first, if they are still free (from the server's in-memory queue; each is checked in the store)."""

    key: Key
    user: str
    role: str
    decision: Decision
    seen_sha: str
    candidates: tuple[Key, ...] = ()


@dataclass(frozen=True)
class AccessLog:
    """An evidence view or export to record in the audit log. It rides along with a group of decisions: an append
    conflicts with nothing, and sharing the group's commit spares the store a commit (and its fsync) per page."""

    user: str
    action: str
    key: Key
    detail: dict[str, Any]


Decided = tuple[str, Key | None]  # the item's new status, and the next item leased (None: nothing left)
EXTRA_CANDIDATES_READ = 2  # candidates per decision read up front beyond the group's size (more when needed)

# The state of items, read with point lookups by post id (the platform is matched in Python): status, every
# reviewer who decided it, and (once per group) every live lease and the sha256 of the decided items' texts.
_READ_STATUS = "SELECT 'status' AS what, platform, platform_post_id, status AS value FROM review_items WHERE {ids}"
_READ_DECIDED = "SELECT 'decided', platform, platform_post_id, reviewer FROM review_decisions WHERE {ids}"
_READ_HOLDERS = "SELECT 'holder', platform, platform_post_id, holder FROM review_leases WHERE expires_at > ?"
_READ_SHA = "SELECT 'sha', platform, platform_post_id, text_sha256 FROM posts WHERE {ids}"
_INSERT_DECISIONS = (
    "INSERT INTO review_decisions (platform, platform_post_id, reviewer, decision, category, skb_item, note, "
    "decided_at, role, status_before, status_after, dismiss_reason, text_sha256) VALUES "
)


def _marks(n: int, width: int = 1) -> str:
    """`n` comma-separated placeholders (or tuples of `width` of them): fixed strings, only their count varies."""
    one = "?" if width == 1 else "(" + ", ".join("?" for _ in range(width)) + ")"
    return ", ".join(one for _ in range(n))


def _exactly(keys: list[Key]) -> tuple[str, list[Any]]:
    """A condition matching these keys, led by an IN list on the indexed post id; and its parameters."""
    pairs = " OR ".join("(platform_post_id = ? AND platform = ?)" for _ in keys)
    return (
        f"platform_post_id IN ({_marks(len(keys))}) AND ({pairs})",
        [k[1] for k in keys] + [v for k in keys for v in (k[1], k[0])],
    )


@contextmanager
def _transaction_begun_by_first_statement(store: Store) -> Iterator[Any]:
    """`Store.transaction`, but the caller's first statement begins it (`BEGIN TRANSACTION; SELECT ...`): one round
    trip fewer, which counts when the caller holds the write lock."""
    with store.connect() as con:
        try:
            yield con
        except BaseException:
            with suppress(duckdb.Error):  # nothing to roll back if it failed before the transaction began
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


class _Group:
    """A group's view of the items it touches, and the writes it owes. Items are read once (the first read also
    begins the transaction and reads every live lease); each accepted decision then changes the view in memory, as
    its statements would have changed the store, so that the next decision is checked against it."""

    def __init__(self, now: datetime, lease_minutes: float) -> None:
        self.now = now
        self.lease_minutes = lease_minutes
        self.status: dict[Key, str | None] = {}  # None: not queued
        self.decided: dict[Key, set[str]] = {}  # who decided the item so far
        self.sha: dict[Key, str] = {}
        self.holders: dict[Key, str] = {}  # every live lease
        self.begun = False
        # the net writes, in the order the decisions were accepted
        self.decisions: list[list[Any]] = []
        self.moved: dict[Key, str] = {}  # each item's last status
        self.unleased: dict[Key, None] = {}  # lease rows deleted by item
        self.let_go: dict[str, None] = {}  # holders all of whose leases were deleted
        self.leased: dict[Key, str] = {}  # lease rows inserted (and not deleted again)
        self.logged: list[tuple[Any, ...]] = []
        self.touched: set[Key] = set()  # items whose state in the store the group has changed (or will)

    def read(self, con: Any, keys: list[Key], shas: list[Key] | None = None) -> None:
        """Read the items not read yet (an item read before keeps the state the group gave it)."""
        fresh = [k for k in dict.fromkeys(keys) if k not in self.status]
        ids = sorted({k[1] for k in fresh})
        sha_ids = sorted({k[1] for k in shas or []})
        parts: list[str] = []
        params: list[Any] = []
        if ids:
            where = f"platform_post_id IN ({_marks(len(ids))})"
            parts += [_READ_STATUS.format(ids=where), _READ_DECIDED.format(ids=where)]
            params += [*ids, *ids]
        if not self.begun:
            parts.append(_READ_HOLDERS)
            params.append(self.now)
        if sha_ids:
            parts.append(_READ_SHA.format(ids=f"platform_post_id IN ({_marks(len(sha_ids))})"))
            params += sha_ids
        if not parts:
            return
        sql = "\nUNION ALL\n".join(parts)
        rows = con.execute(sql if self.begun else "BEGIN TRANSACTION;\n" + sql, params).fetchall()
        self.begun = True
        wanted = set(fresh)
        for k in fresh:
            self.status[k] = None
            self.decided[k] = set()
        for what, platform, post_id, value in rows:
            k = (platform, post_id)
            if what == "holder":
                self.holders[k] = value
            elif what == "sha":
                self.sha[k] = value
            elif k in wanted and what == "status":
                self.status[k] = value
            elif k in wanted:
                self.decided[k].add(value)

    def acceptable(self, key: Key, user: str, role: str) -> bool:
        """Whether this person may lease the item now: it is queued, nobody else holds it, they may decide it."""
        status = self.status[key]
        return _acceptable(status, self.holders.get(key), user in self.decided[key], user, role)

    def accept(self, r: DecisionRequest, before: str, after: str) -> None:
        d = r.decision
        self.decisions.append(
            [*r.key, r.user, d.decision, d.category, d.skb_item, d.note, self.now, r.role, before, after]
            + [d.dismiss_reason, r.seen_sha]
        )
        self.status[r.key] = self.moved[r.key] = after
        self.decided[r.key].add(r.user)
        self.touched.add(r.key)
        detail = {"decision": d.decision, "from": before, "to": after, "category": d.category, "skb_item": d.skb_item}
        self.logged.append(_audit_row(r.user, "decide", entity_key(r.key), detail))

    def lease_next(self, r: DecisionRequest, following: Key | None) -> None:
        """The decided item's lease goes; with a next item, as `_lease` does, every other lease this person holds
        and an expired one on the next item go too, and the next item is leased."""
        self._unlease(r.key)
        if following is None:
            return
        self.let_go[r.user] = None
        for k in [k for k, h in self.holders.items() if h == r.user]:
            self._unlease(k)
        self._unlease(following)
        self.holders[following] = self.leased[following] = r.user
        self.logged.append(_audit_row(r.user, "lease", entity_key(following), {"minutes": self.lease_minutes}))

    def _unlease(self, key: Key) -> None:
        self.holders.pop(key, None)
        self.leased.pop(key, None)
        self.unleased[key] = None
        self.touched.add(key)

    def write(self, con: Any) -> None:
        """The group's net changes, one statement per table (only the access log if every decision was refused)."""
        if not self.decisions:
            if self.logged:
                _audit(con, self.logged)
            return
        con.execute(_INSERT_DECISIONS + _marks(len(self.decisions), 13), [v for row in self.decisions for v in row])
        moved = list(self.moved)
        cases = " ".join("WHEN platform_post_id = ? AND platform = ? THEN ?" for _ in moved)
        which, which_params = _exactly(moved)
        case_params = [v for k in moved for v in (k[1], k[0], self.moved[k])]
        for table, stamp in (("review_items", "updated_at"), ("review_queue", "item_updated_at")):
            con.execute(
                f"UPDATE {table} SET status = CASE {cases} END, {stamp} = ? WHERE {which}",
                [*case_params, self.now, *which_params],
            )
        gone, gone_params = _exactly(list(self.unleased))
        if self.let_go:
            gone = f"holder IN ({_marks(len(self.let_go))}) OR ({gone})"
            gone_params = [*self.let_go, *gone_params]
        con.execute(f"DELETE FROM review_leases WHERE {gone}", gone_params)
        if self.leased:
            expires = self.now + timedelta(minutes=self.lease_minutes)
            con.execute(
                f"INSERT INTO review_leases VALUES {_marks(len(self.leased), 5)}",
                [v for k, holder in self.leased.items() for v in (*k, holder, self.now, expires)],
            )
        _audit(con, self.logged)


def decide_group(
    store: Store, requests: Sequence[DecisionRequest | AccessLog], now: datetime, lease_minutes: float
) -> list[Decided | WorkspaceError | None]:
    """Write a group of decisions (and access logs) in one transaction: each decision, in order, is checked against
    the store as the earlier ones left it (the item is queued and not held by someone else, the four-eyes rule, the
    text unchanged), then appended, the item moved on in both queue tables, and its decider's next item leased (the
    first still acceptable of their candidates, else by query). Returns, for each decision, the item's new status
    and the next item's key, or the WorkspaceError that refused it (it wrote nothing); None for an access log. A
    DuckDB error fails the whole group: nothing of it is written.

    The caller holds the write lock. The transaction makes about eight round trips to DuckDB, however many
    decisions it carries: one read of everything checked, one more per decision only when its read candidates were
    all taken, then one insert or update per table and the commit."""
    group = _Group(now, lease_minutes)
    decisions = [r for r in requests if isinstance(r, DecisionRequest)]
    with _transaction_begun_by_first_statement(store) as con:
        up_front = len(decisions) + EXTRA_CANDIDATES_READ
        keys = [r.key for r in decisions] + [c for r in decisions for c in r.candidates[:up_front]]
        group.read(con, keys, shas=[r.key for r in decisions])
        outcomes: list[Decided | WorkspaceError | None] = []
        for r in requests:
            if isinstance(r, AccessLog):
                group.logged.append(_audit_row(r.user, r.action, entity_key(r.key), r.detail))
                outcomes.append(None)
                continue
            try:
                outcomes.append(_decide_one(con, group, r))
            except WorkspaceError as refused:
                outcomes.append(refused)
        group.write(con)
    return outcomes


def _decide_one(con: Any, group: _Group, r: DecisionRequest) -> Decided:
    """Check one decision against the group's view and apply it there; WorkspaceError says why not (before any
    change, so a refused decision leaves no trace)."""
    status, holder = group.status.get(r.key), group.holders.get(r.key)
    if status is None:
        raise WorkspaceError("not_found")
    if holder is not None and holder != r.user:
        raise WorkspaceError("held")
    after = next_status(status, r.decision.decision, r.role, r.user in group.decided[r.key])
    if group.sha.get(r.key) != r.seen_sha:
        raise WorkspaceError("text_changed")
    group.accept(r, status, after)
    following = _following(con, group, r)
    group.lease_next(r, following)
    return after, following


def _following(con: Any, group: _Group, r: DecisionRequest) -> Key | None:
    """This person's next item: the first of their candidates still acceptable as the group stands, else the
    store's ranking, leaving out every item the group changed (the store does not show those changes yet)."""
    candidates = [c for c in r.candidates if c != r.key]
    for n, key in enumerate(candidates):
        if key not in group.status:
            group.read(con, candidates[n:])  # the rest of this person's candidates, in one round trip
        if group.acceptable(key, r.user, r.role):
            return key
    return _next_by_query(con, QueueFilter(), r.user, r.role, group.now, skip=group.touched | {r.key})


def decide(
    store: Store,
    key: Key,
    user: str,
    role: str,
    d: Decision,
    seen_sha: str,
    now: datetime,
    lease_minutes: float,
    candidates: list[Key] | None = None,
) -> Decided:
    """One decision in a transaction of its own (`decide_group` of one); WorkspaceError if it is refused."""
    request = DecisionRequest(key, user, role, d, seen_sha, tuple(candidates or ()))
    (outcome,) = decide_group(store, [request], now, lease_minutes)
    if isinstance(outcome, WorkspaceError):
        raise outcome
    assert outcome is not None
    return outcome


def _audit_row(actor: str, action: str, key: str, detail: dict[str, Any]) -> tuple[Any, ...]:
    """An audit row about a review item, as `Store.audit` writes it."""
    return (datetime.now(UTC), actor, action, "review_item", key, json.dumps(detail, ensure_ascii=False, default=str))


def _audit(con: Any, rows: list[tuple[Any, ...]]) -> None:
    """Audit rows in one insert."""
    con.execute(
        "INSERT INTO audit_log (logged_at, actor, action, entity, entity_key, detail) VALUES "
        + ", ".join("(?, ?, ?, ?, ?, ?)" for _ in rows),
        [v for row in rows for v in row],
    )


# --- evidence ---------------------------------------------------------------------------------------------------


def _one(con: Any, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def _all(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def evidence(
    store: Store, key: Key, now: datetime, others_of: Callable[[Key, str], list[dict[str, Any]]] | None = None
) -> dict[str, Any] | None:
    """Everything the item page and the case file show about one review item, or None if it is not queued.
    The account's other queued posts are read from the queue copy, or got from `others_of(key, author id)`."""
    with store.connect() as con:
        item = _one(con, "SELECT * FROM review_items WHERE platform_post_id = ? AND platform = ?", [key[1], key[0]])
        post = _one(con, "SELECT * FROM posts WHERE platform_post_id = ? AND platform = ?", [key[1], key[0]])
        if item is None or post is None:
            return None
        # the prediction of this text by the queueing model, else of this text, else the latest; a post has a few
        # predictions at most, so they are ranked here (ranking them in SQL costs more than reading them all)
        prediction = max(
            _all(con, "SELECT * FROM predictions WHERE platform_post_id = ? AND platform = ?", [key[1], key[0]]),
            key=lambda p: (
                p["text_sha256"] == post["text_sha256"],
                p["model_version"] == item["model_version"],
                p["predicted_at"] is not None,
                p["predicted_at"] or _EPOCH,
            ),
            default=None,
        )
        author = _one(
            con,
            "SELECT * FROM authors WHERE platform_id = ? AND platform = ?",
            [post["author_platform_id"], key[0]],
        )
        watch = _all(
            con,
            "SELECT * FROM watchlist WHERE platform = ? AND kind = 'account' AND lower(handle) = lower(?)",
            [key[0], post["author_handle"]],
        )
        versions = _all(
            con,
            "SELECT * FROM post_versions WHERE platform_post_id = ? AND platform = ? ORDER BY superseded_at",
            [key[1], key[0]],
        )
        deletions = _all(
            con, "SELECT * FROM post_deletions WHERE platform_post_id = ? AND platform = ?", [key[1], key[0]]
        )
        decisions = decisions_of(con, key)
        lease = _one(
            con,
            "SELECT holder, expires_at FROM review_leases WHERE platform = ? AND platform_post_id = ? "
            "AND expires_at > ?",
            [*key, now],
        )
        if others_of is not None:
            others = others_of(key, post["author_platform_id"])
        else:
            others = _all(
                con,
                f"SELECT {', '.join(OTHERS_COLUMNS)} FROM review_queue WHERE author_platform_id = ? AND platform = ? "
                f"AND platform_post_id <> ? ORDER BY posted_at DESC LIMIT {OTHERS_SHOWN}",
                [post["author_platform_id"], key[0], key[1]],
            )
    if prediction is not None:
        prediction["scores"] = json.loads(prediction["scores"]) if prediction["scores"] else {}
    return {
        "item": item,
        "post": post,
        "prediction": prediction,
        "author": author,
        "watch": watch,
        "versions": versions,
        "deletions": deletions,
        "decisions": decisions,
        "lease": lease,
        "others": others,
    }


def decisions_of(con: Any, key: Key) -> list[dict[str, Any]]:
    return _all(
        con,
        "SELECT * FROM review_decisions WHERE platform = ? AND platform_post_id = ? ORDER BY decided_at, decision_id",
        list(key),
    )


def audit_trail(store: Store, key: Key) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The item's decisions and every audit-log row about it, oldest first."""
    with store.connect() as con:
        decisions = decisions_of(con, key)
        log = _all(
            con,
            "SELECT logged_at, actor, action, detail FROM audit_log WHERE entity = 'review_item' AND entity_key = ? "
            "ORDER BY logged_at, audit_id",
            [entity_key(key)],
        )
    return decisions, log
