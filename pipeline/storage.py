"""The DuckDB store: the only module that opens the database.

DuckDB allows one writing process per file, and any other open (even read-only) fails while it is held. So every
caller opens a short-lived connection through `Store.connect()`, which retries a bounded time while another process
holds the lock, and closes it at once. Nothing keeps the file open between requests; no connection leaves this
module's context managers.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.asn import asn_likelihood
from pipeline.errors import StoreLockedError
from pipeline.migrations import apply_migrations
from pipeline.schema import Post, Reject
from pipeline.views import VIEWS
from pipeline.views import render as render_view

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
TARGET_STATE = ("resume", "resume_newest", "etag", "last_modified")  # crawl_target_state, besides its keys


def _is_lock_error(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LoadCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: LoadCounts) -> LoadCounts:
        return LoadCounts(self.new + other.new, self.updated + other.updated, self.unchanged + other.unchanged)


POST_COLUMNS = [
    "platform",
    "platform_post_id",
    "url",
    "author_platform_id",
    "author_handle",
    "text",
    "text_sha256",
    "language",
    "posted_at",
    "first_collected_at",
    "collected_at",
    "watch_target",
    "replies",
    "reposts",
    "likes",
    "quotes",
    "views",
    "media_urls",
    "reply_to",
    "repost_of",
    "raw",
    "raw_sha256",
    "schema_version",
    "run_id",
]
_UPDATABLE = [c for c in POST_COLUMNS if c not in ("platform", "platform_post_id", "first_collected_at")]


class Store:
    """A handle on the DuckDB file; cheap to create, holds no connection."""

    def __init__(self, path: Path, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. Readers use read-write connections too: read-only buys nothing against a
        writer in another process (both are refused), and inside one process DuckDB refuses to mix the two."""
        con = self._open(read_only)
        try:
            yield con
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{self.path} stayed locked by another process for {self.lock_timeout_s:.0f} s; "
                        "stop the other writer or raise PANTAU_LOCK_TIMEOUT_S"
                    ) from exc
            # jitter keeps two waiting writers from retrying in lockstep
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)

    @contextmanager
    def transaction(self, memory_limit_mb: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on a short connection. `memory_limit_mb` caps DuckDB's memory while it runs (what does not
        fit goes to a temporary file beside the database) and is reset afterwards: the limit belongs to the database
        instance, which another connection of this process may share."""
        with self.connect() as con:
            if memory_limit_mb is not None:
                con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                if memory_limit_mb is not None:
                    con.execute("RESET memory_limit")

    # --- set-up -----------------------------------------------------------------------------------------------

    def init(self) -> list[str]:
        """Create the file if needed and apply pending migrations; return the names applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as con:
            return apply_migrations(con, _now())

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one read query on a short connection; rows as dicts."""
        with self.connect() as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def audit(
        self, con: duckdb.DuckDBPyConnection, actor: str, action: str, entity: str, key: str, detail: dict[str, Any]
    ) -> None:
        con.execute(
            "INSERT INTO audit_log (logged_at, actor, action, entity, entity_key, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [_now(), actor, action, entity, key, json.dumps(detail, ensure_ascii=False, default=str)],
        )

    # --- watchlist and cursors ---------------------------------------------------------------------------------

    def replace_watchlist(self, rows: Sequence[dict[str, Any]], actor: str = "pipeline") -> int:
        now = _now()
        cols = [
            "kind",
            "platform",
            "handle",
            "name",
            "agency",
            "region_code",
            "region_name",
            "nip",
            "identified_by",
            "enabled",
            "election",
        ]
        rows = [{"election": "", **r} for r in rows]  # election is optional in the watchlist file
        table = pa.Table.from_pylist([{c: r[c] for c in cols} | {"updated_at": now} for r in rows])
        with self.transaction() as con:
            con.register("incoming", table)
            con.execute("DELETE FROM watchlist")
            con.execute(f"INSERT INTO watchlist ({', '.join(cols)}, updated_at) SELECT * FROM incoming")
            self.audit(con, actor, "replace", "watchlist", "*", {"rows": len(rows)})
        return len(rows)

    def watchlist(self, enabled_only: bool = True) -> list[dict[str, Any]]:
        where = "WHERE enabled" if enabled_only else ""
        return self.query(f"SELECT * FROM watchlist {where} ORDER BY kind, platform, handle")

    def cursors(self, source: str) -> dict[str, str]:
        rows = self.query("SELECT target, since_id FROM crawl_cursors WHERE source = ?", [source])
        return {r["target"]: r["since_id"] for r in rows}

    def advance_cursors(self, source: str, run_id: str, newest: dict[str, str]) -> int:
        """Move each target's cursor forward to `newest[target]`; never backward. IDs compare as (length, text)."""
        current = self.cursors(source)
        moved = {t: i for t, i in newest.items() if t not in current or _id_key(i) > _id_key(current[t])}
        if not moved:
            return 0
        with self.transaction() as con:
            con.executemany(  # a handful of targets per spider: executemany's per-row cost does not matter here
                "INSERT INTO crawl_cursors VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, target) DO UPDATE SET "
                "since_id = excluded.since_id, updated_at = excluded.updated_at, run_id = excluded.run_id",
                [[source, t, i, _now(), run_id] for t, i in moved.items()],
            )
        return len(moved)

    def target_state(self, source: str) -> dict[str, dict[str, str]]:
        """What each target's last run left besides its cursor: resume point and feed validators (non-null only)."""
        rows = self.query(
            "SELECT target, resume, resume_newest, etag, last_modified FROM crawl_target_state WHERE source = ?",
            [source],
        )
        return {r.pop("target"): {k: v for k, v in r.items() if v is not None} for r in rows}

    def save_target_state(self, source: str, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Store the state of every target that finished this run (a targets row is its whole state: what it
        does not carry is cleared); targets without a row keep theirs."""
        keep = [r for r in rows if any(r.get(k) for k in TARGET_STATE)]
        clear = [r["target"] for r in rows if not any(r.get(k) for k in TARGET_STATE)]
        with self.transaction() as con:
            if clear:
                con.execute(
                    "DELETE FROM crawl_target_state WHERE source = ? AND list_contains(?, target)", [source, clear]
                )
            if keep:
                con.executemany(  # a handful of targets: executemany's per-row cost does not matter
                    f"INSERT OR REPLACE INTO crawl_target_state (source, target, {', '.join(TARGET_STATE)}, "
                    "updated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [[source, r["target"], *(r.get(k) or None for k in TARGET_STATE), _now(), run_id] for r in keep],
                )

    def record_deletions(self, run_id: str, rows: Sequence[dict[str, Any]]) -> int:
        """Note flagged posts found gone; the first notice is kept (the post and its versions stay as evidence)."""
        known = [r for r in rows if r.get("platform") and r.get("platform_post_id")]
        if not known:
            return 0
        with self.transaction() as con:
            before = con.execute("SELECT count(*) FROM post_deletions").fetchone()[0]  # type: ignore[index]
            con.executemany(  # a few flagged posts a night: executemany's per-row cost does not matter
                "INSERT INTO post_deletions VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    [r["platform"], r["platform_post_id"], r.get("noticed_at") or _now(), run_id, r.get("detail", "")]
                    for r in known
                ],
            )
            added = int(con.execute("SELECT count(*) FROM post_deletions").fetchone()[0]) - int(before)  # type: ignore[index]
            self.audit(con, "pipeline", "notice_deletions", "post_deletions", run_id, {"added": added})
        return added

    def recheck_posts(self, platform: str, since: datetime) -> list[dict[str, Any]]:
        """Flagged posts of a platform first captured since `since` and not yet known to be gone: fetched again
        so that an edit is kept as a version and a deletion is noticed."""
        return self.query(
            "SELECT p.platform_post_id, p.url, p.watch_target FROM posts p "
            "JOIN review_items r USING (platform, platform_post_id) "
            "WHERE p.platform = ? AND p.first_collected_at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM post_deletions d WHERE d.platform = p.platform "
            "AND d.platform_post_id = p.platform_post_id) ORDER BY p.platform_post_id",
            [platform, since],
        )

    # --- loading ------------------------------------------------------------------------------------------------

    def predicted_keys(self, keys: pa.Table, model_version: str) -> set[tuple[str, str, str]]:
        """Which (platform, platform_post_id, text_sha256) of `keys` this model version has already labelled."""
        with self.connect() as con:
            con.register("k", keys)
            rows = con.execute(
                "SELECT p.platform, p.platform_post_id, p.text_sha256 FROM predictions p "
                "JOIN k USING (platform, platform_post_id, text_sha256) WHERE p.model_version = ?",
                [model_version],
            ).fetchall()
        return {(a, b, c) for a, b, c in rows}

    def load_batch(
        self,
        run_id: str,
        posts: pa.Table | Path,
        predictions: pa.Table | Path | None,
        rejects: Sequence[Reject],
        memory_limit_mb: int | None = None,
    ) -> LoadCounts:
        """Upsert one deduplicated batch of posts with their authors, predictions and rejects, in one transaction.
        `posts` and `predictions` are Arrow tables, or Arrow IPC files of the same columns (`PostWriter`'s spill,
        memory-mapped: DuckDB reads the pages as it inserts, nothing is copied first). A load of many batches goes
        through `PostWriter`, which writes them in fewer, larger transactions. `memory_limit_mb` caps DuckDB's memory
        for this write (see `transaction`)."""
        posts, predictions = _arrow(posts), _arrow(predictions) if predictions is not None else None
        with self.transaction(memory_limit_mb) as con:
            counts = LoadCounts()
            if posts.num_rows:
                con.register("batch", posts)
                counts = self._upsert_posts(con, run_id, posts.num_rows)
                con.unregister("batch")
            if predictions is not None and predictions.num_rows:
                con.register("preds", predictions)
                con.execute("INSERT INTO predictions SELECT * FROM preds ON CONFLICT DO NOTHING")
                con.unregister("preds")
            self._insert_rejects(con, rejects)
        return counts

    def _upsert_posts(self, con: duckdb.DuckDBPyConnection, run_id: str, rows: int) -> LoadCounts:
        """Upsert the `rows` posts of the relation `batch`."""
        # Insert the new, update only what changed, skip the rest: DuckDB's ON CONFLICT DO UPDATE rewrites every
        # row it touches and costs ~10x a plain insert, and most rows of a re-crawl are unchanged.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_state AS SELECT b.platform, b.platform_post_id, "
            "p.platform IS NULL AS is_new, p.raw_sha256 IS DISTINCT FROM b.raw_sha256 AS is_changed, "
            "p.text_sha256 IS DISTINCT FROM b.text_sha256 AS text_changed "
            "FROM batch b LEFT JOIN posts p USING (platform, platform_post_id)"
        )
        new, changed = con.execute(
            "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new AND is_changed) FROM batch_state"
        ).fetchone() or (0, 0)
        if changed:
            self._update_changed(con, run_id)
        columns = ", ".join("b." + c for c in POST_COLUMNS)
        if new == rows:  # all new (a first crawl): no join to pick them out
            con.execute(f"INSERT INTO posts SELECT {columns} FROM batch b")
        elif new:
            con.execute(
                f"INSERT INTO posts SELECT {columns} FROM batch b "
                "JOIN batch_state s USING (platform, platform_post_id) WHERE s.is_new"
            )
        self._upsert_authors(con)
        con.execute("DROP TABLE batch_state")
        return LoadCounts(new=new, updated=changed, unchanged=rows - new - changed)

    def _update_changed(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        # an edited text keeps its earlier version: evidence is never overwritten
        con.execute(
            "INSERT INTO post_versions SELECT p.platform, p.platform_post_id, p.text, p.raw, p.raw_sha256, "
            "p.collected_at, ?, ? FROM posts p JOIN batch_state s USING (platform, platform_post_id) "
            "WHERE s.text_changed AND NOT s.is_new",
            [_now(), run_id],
        )
        sets = ", ".join(f"{c} = b.{c}" for c in _UPDATABLE)
        con.execute(
            f"UPDATE posts SET {sets} FROM batch b JOIN batch_state s USING (platform, platform_post_id) "
            "WHERE s.is_changed AND NOT s.is_new "
            "AND posts.platform = b.platform AND posts.platform_post_id = b.platform_post_id"
        )

    def _upsert_authors(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_authors AS SELECT platform, author_platform_id AS platform_id, "
            "author_handle AS handle, author_display_name AS display_name, author_bio AS bio, author_url AS url, "
            "collected_at AS seen_at FROM (SELECT *, row_number() OVER (PARTITION BY platform, author_platform_id "
            "ORDER BY collected_at DESC) AS rn FROM batch) WHERE rn = 1"
        )
        # A capture that carries no bio (a search hit, a re-fetched post) keeps the bio already known.
        con.execute(
            "UPDATE authors SET handle = a.handle, display_name = a.display_name, "
            "bio = CASE WHEN a.bio = '' THEN authors.bio ELSE a.bio END, url = a.url, "
            "last_seen_at = greatest(authors.last_seen_at, a.seen_at) FROM batch_authors a "
            "WHERE authors.platform = a.platform AND authors.platform_id = a.platform_id"
        )
        con.execute(
            "INSERT INTO authors (platform, platform_id, handle, display_name, bio, url, first_seen_at, last_seen_at) "
            "SELECT a.platform, a.platform_id, a.handle, a.display_name, a.bio, a.url, "
            "a.seen_at, a.seen_at FROM batch_authors a ANTI JOIN authors USING (platform, platform_id)"
        )
        self._score_authors(con)
        con.execute("DROP TABLE batch_authors")

    def _score_authors(self, con: duckdb.DuckDBPyConnection) -> None:
        """ASN-likelihood of this batch's authors from their bio and display name as now stored (pipeline.asn)."""
        rows = con.execute(
            "SELECT a.platform, a.platform_id, a.display_name, a.bio FROM authors a "
            "JOIN batch_authors b USING (platform, platform_id)"
        ).fetchall()
        signals = [asn_likelihood(bio or "", name or "") for _, _, name, bio in rows]
        scored = pa.table(
            {
                "platform": [r[0] for r in rows],
                "platform_id": [r[1] for r in rows],
                "score": [s.score for s in signals],
                "reasons": [s.reasons for s in signals],
            },
            schema=pa.schema(
                [
                    ("platform", pa.string()),
                    ("platform_id", pa.string()),
                    ("score", pa.float64()),
                    ("reasons", pa.list_(pa.string())),
                ]
            ),
        )
        con.register("asn_signals", scored)
        con.execute(
            "UPDATE authors SET asn_score = s.score, asn_reasons = s.reasons FROM asn_signals s "
            "WHERE authors.platform = s.platform AND authors.platform_id = s.platform_id"
        )
        con.unregister("asn_signals")

    def _insert_rejects(self, con: duckdb.DuckDBPyConnection, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        table = pa.Table.from_pylist(
            [r.model_dump(include={"run_id", "stage", "source", "reason", "raw", "at"}) for r in rejects]
        )
        con.register("rej", table)
        con.execute(
            "INSERT INTO rejects (run_id, stage, source, reason, raw, rejected_at) "
            'SELECT run_id, stage, source, reason, raw, "at" FROM rej'
        )
        con.unregister("rej")

    def add_rejects(self, rejects: Sequence[Reject]) -> None:
        with self.transaction() as con:
            self._insert_rejects(con, rejects)

    # --- runs ---------------------------------------------------------------------------------------------------

    def start_run(self, run_id: str, spiders: Sequence[str]) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO crawl_runs (run_id, started_at, status, spiders) VALUES (?, ?, 'running', ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL",
                [run_id, _now(), list(spiders)],
            )
            self.audit(con, "pipeline", "start", "crawl_run", run_id, {"spiders": list(spiders)})

    def record_spider(self, run_id: str, row: dict[str, Any]) -> None:
        cols = list(row)
        with self.transaction() as con:
            con.execute(
                f"INSERT OR REPLACE INTO crawl_run_spiders (run_id, {', '.join(cols)}) "
                f"VALUES (?, {', '.join('?' for _ in cols)})",
                [run_id, *row.values()],
            )

    def finish_run(self, run_id: str, status: str, totals: dict[str, Any], detail: str = "") -> None:
        with self.transaction() as con:
            con.execute(
                "UPDATE crawl_runs SET finished_at = ?, status = ?, fetched = ?, new_posts = ?, updated_posts = ?, "
                "rejected = ?, classified = ?, flagged = ?, queued = ?, flagged_per_label = ?, detail = ? "
                "WHERE run_id = ?",
                [
                    _now(),
                    status,
                    totals["fetched"],
                    totals["new_posts"],
                    totals["updated_posts"],
                    totals["rejected"],
                    totals["classified"],
                    totals["flagged"],
                    totals["queued"],
                    json.dumps(totals["flagged_per_label"]),
                    detail,
                    run_id,
                ],
            )
            self.audit(con, "pipeline", "finish", "crawl_run", run_id, {"status": status, **totals})

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM crawl_runs ORDER BY started_at DESC LIMIT ?", [limit])

    def run_spiders(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM crawl_run_spiders WHERE run_id = ? ORDER BY spider", [run_id])

    def execute_in_transaction(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Run a few statements atomically (used by pipeline.review for queue changes)."""
        with self.transaction() as con:
            for sql, params in statements:
                con.execute(sql, list(params))


# A load writes in chunks much larger than its validation batches (PANTAU_BATCH_SIZE bounds the Post objects in
# memory). Every write is a short connection whose close checkpoints what it added, and a checkpoint after a small
# append also rewrites the row group that earlier small appends left (DuckDB merges them): 100,000 posts written 5,000
# at a time were compressed and written ~5x over, and in 20,000s ~3x. So the rows waiting for a write are spilled to
# an Arrow IPC file on local disk (0.05-0.11 s per 100,000 posts: the columns as they are in memory, ~1.6 kB a post)
# instead of being held in memory, and DuckDB reads that file memory-mapped as it inserts. (A Parquet spill took
# 0.14 s to write and ~0.1 s more to read back.) What a write still costs in memory is DuckDB's own: the rows it
# inserts and compresses. Measured on the 100,000-post nightly run (README, Benchmarks): one write of everything
# peaked at 1,883 MiB over all processes; with DuckDB held to 256 MiB for each write, writes of half a row group
# (61,440 posts) 1,484-1,497 MiB, too close to the run's 1.5 GiB (1,536 MiB), and of a third (40,960) 1,452 MiB.
# The last costs ~30% of load speed against one write (README, Benchmarks).
WRITE_CHUNK_ROWS = 40_960
WRITE_MEMORY_MB = 256
WRITE_CHUNK_BYTES = 32 * 2**20


class PostWriter:
    """Writes a load's batches to the store in chunks of up to `max_rows` posts and rejects, or `max_bytes` of
    rejects: each chunk is one transaction on one short connection (`Store.load_batch`), so the file is held only
    while a chunk is written, never while the next batch is validated or classified. Posts and predictions waiting
    for their write are spilled to Arrow IPC files in a private folder under `spill_dir` (default: the system's
    temporary folder), removed after each write and when the writer closes.

    A batch that shares a key with rows still waiting is written after them, never merged with them: every capture
    is applied in order, as if each batch were its own transaction (an edit keeps the earlier text in post_versions,
    a prediction already waiting counts in `predicted_keys`). What is still waiting is written by `flush()`, which a
    `with` block calls on a clean exit; on an error it is not written (the load is redone from the landing file)."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        max_rows: int = WRITE_CHUNK_ROWS,
        max_bytes: int = WRITE_CHUNK_BYTES,
        spill_dir: Path | None = None,
    ) -> None:
        self.store, self.run_id = store, run_id
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.counts = LoadCounts()
        self.writes = 0
        self.longest_write_s = 0.0  # the longest a write held the store (and waited for it)
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
            _remove_stale_spills(spill_dir)
        self._spill = tempfile.TemporaryDirectory(prefix="pantau-load-", dir=spill_dir)
        self._posts = _Spill(Path(self._spill.name) / "posts.arrow", POSTS_ARROW_SCHEMA)
        self._predictions = _Spill(Path(self._spill.name) / "predictions.arrow", PREDICTIONS_SCHEMA)
        self._rejects: list[Reject] = []
        self._keys: set[tuple[str, str]] = set()  # (platform, platform_post_id) of the waiting posts
        self._rows = self._bytes = 0  # waiting posts and rejects; bytes of the waiting rejects

    def __enter__(self) -> PostWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()

    def close(self) -> None:
        """Drop what is still waiting (unwritten) and remove the spill folder."""
        self._posts.discard()
        self._predictions.discard()
        self._spill.cleanup()

    def predicted_keys(self, keys: pa.Table, model_version: str) -> set[tuple[str, str, str]]:
        """`Store.predicted_keys`, after writing any waiting posts that share a key with `keys`."""
        self._write_if_waiting(keys)
        return self.store.predicted_keys(keys, model_version)

    def add(self, posts: pa.Table | None, predictions: pa.Table | None, rejects: Sequence[Reject]) -> None:
        """Queue one deduplicated batch (`load_batch`'s arguments); write the chunk once it is full."""
        if posts is not None and posts.num_rows:
            self._write_if_waiting(posts)
            self._posts.write(posts)
            self._keys.update(_keys_of(posts))
            self._rows += posts.num_rows
        if predictions is not None and predictions.num_rows:
            self._predictions.write(predictions)
        if rejects:
            self._rejects.extend(rejects)
            self._rows += len(rejects)
            self._bytes += sum(len(r.raw) + len(r.reason) for r in rejects)
        if self._rows >= self.max_rows or self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> LoadCounts:
        """Write everything waiting in one transaction; return its counts (also added to `counts`)."""
        if not (self._posts.rows or self._predictions.rows or self._rejects):
            return LoadCounts()
        posts = self._posts.finish() or POSTS_ARROW_SCHEMA.empty_table()
        predictions = self._predictions.finish()
        started = time.monotonic()
        counts = self.store.load_batch(self.run_id, posts, predictions, self._rejects, WRITE_MEMORY_MB)
        self.longest_write_s = max(self.longest_write_s, time.monotonic() - started)
        self.writes += 1
        self.counts += counts
        self._posts.discard()
        self._predictions.discard()
        self._rejects, self._keys = [], set()
        self._rows = self._bytes = 0
        return counts

    def _write_if_waiting(self, table: pa.Table) -> None:
        # a set kept up as batches come: an Arrow is_in would hash every waiting key again for each batch
        if self._keys and not self._keys.isdisjoint(_keys_of(table)):
            self.flush()


STALE_SPILL_S = 24 * 3600


def _remove_stale_spills(spill_dir: Path) -> None:
    """Remove spill folders a killed load left behind (untouched for a day: no load runs that long)."""
    cutoff = time.time() - STALE_SPILL_S
    for folder in spill_dir.glob("pantau-load-*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # removed meanwhile by another load
            continue


class _Spill:
    """Rows of one schema appended to an Arrow IPC file: writing is little more than a copy of the buffers."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.rows = 0
        self._writer: pa.ipc.RecordBatchFileWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pa.ipc.new_file(str(self.path), self.schema)
        self._writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)
        self.rows += table.num_rows

    def finish(self) -> Path | None:
        """Close the file for reading; None if nothing was written."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)
        self.rows = 0


def _arrow(source: pa.Table | Path) -> pa.Table:
    """An Arrow table, or the table of an Arrow IPC file, memory-mapped (its pages are read when DuckDB scans them)."""
    if isinstance(source, Path):
        return pa.ipc.open_file(pa.memory_map(str(source))).read_all()
    return source


def _keys_of(table: pa.Table) -> zip[tuple[str, str]]:
    return zip(table["platform"].to_pylist(), table["platform_post_id"].to_pylist(), strict=True)


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    parquet_dir: Path
    tables: dict[str, int]
    seconds: float


def publish_snapshot(store: Store, dest: Path, tz: str, salt: str) -> SnapshotInfo:
    """Publish a read-only copy for analysts: `dest/pantau.duckdb` (tables + the views of pipeline.views) and
    `dest/parquet/<table>.parquet`. The live file is held only while it is copied; an analyst's open snapshot never
    blocks a writer, and a new snapshot replaces the old one by rename, so an open one stays readable."""
    started = time.monotonic()
    dest.mkdir(parents=True, exist_ok=True)
    token = f"{int(time.time() * 1000)}-{random.randrange(16**6):06x}"
    staged_db, staged_parquet = dest / f".pantau-{token}.duckdb", dest / f".parquet-{token}"
    staged_parquet.mkdir()
    with store.connect() as con:
        con.execute("CHECKPOINT")  # with our lock held and the WAL folded in, the file on disk is consistent
        shutil.copyfile(store.path, staged_db)
    snap = duckdb.connect(str(staged_db))
    try:
        tables = _analyst_tables(snap)
        for name, (_, sql) in VIEWS.items():
            snap.execute(f"CREATE OR REPLACE VIEW {name} AS {render_view(sql, tz, salt)}")
        for table in tables:
            snap.execute(f"COPY {table} TO '{staged_parquet / table}.parquet' (FORMAT parquet, COMPRESSION zstd)")
        snap.execute("CHECKPOINT")
    finally:
        snap.close()
    os.replace(staged_db, dest / "pantau.duckdb")
    _swap_dir(staged_parquet, dest / "parquet")
    return SnapshotInfo(dest / "pantau.duckdb", dest / "parquet", tables, time.monotonic() - started)


def _analyst_tables(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
    return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in sorted(names)}  # type: ignore[index]


def _swap_dir(staged: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staged.rename(final)
    if old.exists():
        shutil.rmtree(old)


def query_snapshot(path: Path, sql: str) -> pa.Table:
    """Run an analyst's query on a snapshot, read-only and without access to other files (no ATTACH of the live
    store, which would block its writer)."""
    if not path.exists():
        raise FileNotFoundError(f"no snapshot at {path}; run `pantau snapshot` first")
    con = duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    finally:
        con.close()


def _id_key(platform_id: str) -> tuple[int, str]:
    """Order numeric string IDs without casting them (they may exceed 64 bits on some platforms)."""
    return (len(platform_id), platform_id)


_TS = pa.timestamp("us", tz="UTC")
POSTS_ARROW_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("platform_post_id", pa.string()),
        ("url", pa.string()),
        ("author_platform_id", pa.string()),
        ("author_handle", pa.string()),
        ("text", pa.string()),
        ("text_sha256", pa.string()),
        ("language", pa.string()),
        ("posted_at", _TS),
        ("first_collected_at", _TS),
        ("collected_at", _TS),
        ("watch_target", pa.string()),
        ("replies", pa.int64()),
        ("reposts", pa.int64()),
        ("likes", pa.int64()),
        ("quotes", pa.int64()),
        ("views", pa.int64()),
        ("media_urls", pa.list_(pa.string())),
        ("reply_to", pa.string()),
        ("repost_of", pa.string()),
        ("raw", pa.string()),
        ("raw_sha256", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("author_display_name", pa.string()),
        ("author_bio", pa.string()),
        ("author_url", pa.string()),
    ]
)


PREDICTIONS_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("platform_post_id", pa.string()),
        ("model_version", pa.string()),
        ("text_sha256", pa.string()),
        ("label", pa.string()),
        ("scores", pa.string()),
        ("flag_score", pa.float64()),
        ("flagged", pa.bool_()),
        ("reasons", pa.list_(pa.string())),
        ("predicted_at", _TS),
        ("run_id", pa.string()),
    ]
)


def posts_to_arrow(posts: Sequence[Post], text_shas: Sequence[str], run_id: str) -> pa.Table:
    """Columns of a batch of validated posts, in the shape `load_batch` expects."""
    if len(posts) != len(text_shas):
        raise ValueError(f"{len(posts)} posts but {len(text_shas)} text hashes")
    authors = [p.author for p in posts]
    engagement = [p.engagement for p in posts]
    collected = [p.collected_at for p in posts]
    columns: dict[str, list[Any]] = {  # one pass per column: a list comprehension each, no per-value appends
        "platform": [p.platform.value for p in posts],
        "platform_post_id": [p.platform_post_id for p in posts],
        "url": [p.url for p in posts],
        "author_platform_id": [a.platform_id for a in authors],
        "author_handle": [a.handle for a in authors],
        "text": [p.text for p in posts],
        "text_sha256": list(text_shas),
        "language": [p.language for p in posts],
        "posted_at": [p.posted_at for p in posts],
        "first_collected_at": collected,
        "collected_at": collected,
        "watch_target": [p.watch_target for p in posts],
        "replies": [e.replies for e in engagement],
        "reposts": [e.reposts for e in engagement],
        "likes": [e.likes for e in engagement],
        "quotes": [e.quotes for e in engagement],
        "views": [e.views for e in engagement],
        "media_urls": [p.media_urls for p in posts],
        "reply_to": [p.reply_to for p in posts],
        "repost_of": [p.repost_of for p in posts],
        "raw": [p.raw for p in posts],
        "raw_sha256": [p.raw_sha256 for p in posts],
        "schema_version": [p.schema_version for p in posts],
        "run_id": [run_id] * len(posts),
        "author_display_name": [a.display_name for a in authors],
        "author_bio": [a.bio for a in authors],
        "author_url": [a.url for a in authors],
    }
    return pa.table(columns, schema=POSTS_ARROW_SCHEMA)
