from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipeline.errors import MigrationError, StoreLockedError
from pipeline.migrations import MIGRATIONS
from pipeline.schema import Reject, parse_post, sha256_text
from pipeline.storage import PREDICTIONS_SCHEMA, LoadCounts, PostWriter, Store, posts_to_arrow
from tests.conftest import make_post


def _table(posts: list[dict], run_id: str = "r1"):  # type: ignore[no-untyped-def]
    parsed = [parse_post(p) for p in posts]
    return posts_to_arrow(parsed, [sha256_text(p.text) for p in parsed], run_id)


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    assert store.init() == []
    names = [r["name"] for r in store.query("SELECT name FROM schema_migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_unknown_migration_in_database_is_refused(store: Store) -> None:
    with store.transaction() as con:
        con.execute("INSERT INTO schema_migrations VALUES ('9999_future', now())")
    with pytest.raises(MigrationError, match="9999_future"):
        store.init()


def test_zstd_rebuild_of_posts_keeps_every_row_key_and_index(tmp_path: Path) -> None:
    """A store made before 0004 is rebuilt with the same rows; upserts still find them by key afterwards."""
    from pipeline.migrations import apply_migrations

    path = tmp_path / "old.duckdb"
    before = MIGRATIONS[:-1]
    assert MIGRATIONS[-1][0] == "0004_posts_zstd"
    con = duckdb.connect(str(path))
    for _, sql in before:  # the store as 0003 left it
        con.execute(sql)
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    con.executemany("INSERT INTO schema_migrations VALUES (?, now())", [[name] for name, _ in before])
    con.close()
    store = Store(path)
    store.load_batch("r1", _table([make_post(i) for i in range(20)]), None, [])
    rows_before = store.query("SELECT * FROM posts ORDER BY platform_post_id")
    with store.transaction() as con:
        assert apply_migrations(con, datetime.now(UTC)) == ["0004_posts_zstd"]
    assert store.query("SELECT * FROM posts ORDER BY platform_post_id") == rows_before
    ddl = store.query("SELECT sql FROM duckdb_tables() WHERE table_name = 'posts'")[0]["sql"]
    for column in ("url", '"text"', "text_sha256", "raw", "raw_sha256"):
        assert f" {column} VARCHAR USING COMPRESSION ZSTD" in ddl, column
    indexes = store.query("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'posts'")
    assert indexes == [{"index_name": "posts_post_id_idx"}]
    again = store.load_batch("r2", _table([make_post(i) for i in range(25)], "r2"), None, [])
    assert (again.new, again.unchanged) == (5, 20)  # the primary key survived the rebuild
    with pytest.raises(duckdb.ConstraintException):
        with store.transaction() as con:
            con.execute("INSERT INTO posts SELECT * FROM posts LIMIT 1")


def test_upsert_counts_new_updated_unchanged_and_keeps_old_text(store: Store) -> None:
    first = store.load_batch("r1", _table([make_post(i) for i in range(10)]), None, [])
    assert (first.new, first.updated, first.unchanged) == (10, 0, 0)
    edited = make_post(3, text="teks yang sudah diedit")
    again = store.load_batch("r2", _table([make_post(i) for i in range(10) if i != 3] + [edited], "r2"), None, [])
    assert (again.new, again.updated, again.unchanged) == (0, 1, 9)
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == 10
    current = store.query(
        "SELECT text, first_collected_at, run_id FROM posts WHERE platform_post_id = ?", [edited["platform_post_id"]]
    )[0]
    assert current["text"] == "teks yang sudah diedit" and current["run_id"] == "r2"
    versions = store.query("SELECT text, superseded_by_run FROM post_versions")
    assert versions == [{"text": "kabar ke-3", "superseded_by_run": "r2"}]
    assert store.query("SELECT count(*) AS n FROM authors")[0]["n"] == 7


def _predictions(table: pa.Table, model_version: str = "v1") -> pa.Table:
    n = table.num_rows
    return pa.table(
        {
            "platform": table["platform"],
            "platform_post_id": table["platform_post_id"],
            "model_version": [model_version] * n,
            "text_sha256": table["text_sha256"],
            "label": ["non_political"] * n,
            "scores": [json.dumps({"non_political": 1.0})] * n,
            "flag_score": [0.0] * n,
            "flagged": [False] * n,
            "reasons": [[] for _ in range(n)],
            "predicted_at": [datetime(2024, 11, 20, tzinfo=UTC)] * n,
            "run_id": ["r1"] * n,
        },
        schema=PREDICTIONS_SCHEMA,
    )


def _count(store: Store, table: str) -> int:
    return int(store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def test_writer_writes_batches_in_chunks(store: Store) -> None:
    reject = Reject(stage="validate", source="t", reason="bad", raw="{", run_id="r1")
    with PostWriter(store, "r1", max_rows=25) as writer:
        for b in range(5):
            table = _table([make_post(b * 10 + i) for i in range(10)])
            writer.add(table, _predictions(table), [reject])
            if b == 1:  # 20 posts waiting: nothing written yet
                assert (writer.writes, _count(store, "posts"), _count(store, "rejects")) == (0, 0, 0)
    assert writer.writes == 2  # 30 posts once the third batch came, the last 20 at the end of the block
    assert writer.counts == LoadCounts(new=50)
    assert (_count(store, "posts"), _count(store, "predictions"), _count(store, "rejects")) == (50, 50, 5)
    with PostWriter(store, "r2", max_rows=25) as again:
        for b in range(5):
            again.add(_table([make_post(b * 10 + i) for i in range(10)], "r2"), None, [])
    assert again.counts == LoadCounts(unchanged=50)
    assert store.query("SELECT DISTINCT run_id FROM posts") == [{"run_id": "r1"}]


def test_writer_counts_rejects_towards_a_chunk(store: Store) -> None:
    bad = [Reject(stage="validate", source="t", reason="bad", raw="{" * 100, run_id="r1") for _ in range(10)]
    with PostWriter(store, "r1", max_rows=25) as writer:
        for _ in range(5):  # a file of nothing but bad lines is written as it goes, not all at its end
            writer.add(None, None, bad)
    assert (writer.writes, _count(store, "rejects")) == (2, 50)
    with PostWriter(store, "r1", max_bytes=1000) as by_size:
        by_size.add(None, None, bad)  # ~1,000 bytes of rejects: written at once
        assert by_size.writes == 1


def test_writer_applies_a_post_seen_again_after_the_rows_waiting(store: Store) -> None:
    edited = make_post(3, text="teks yang sudah diedit")
    with PostWriter(store, "r1") as writer:
        writer.add(_table([make_post(i) for i in range(5)]), None, [])
        writer.add(_table([edited, make_post(7)]), None, [])  # post 3 again: the first capture is written first
    assert writer.writes == 2
    assert writer.counts == LoadCounts(new=6, updated=1)
    assert store.query("SELECT text FROM posts WHERE platform_post_id = ?", [edited["platform_post_id"]]) == [
        {"text": "teks yang sudah diedit"}
    ]
    assert store.query("SELECT text, superseded_by_run FROM post_versions") == [
        {"text": "kabar ke-3", "superseded_by_run": "r1"}
    ]


def test_writer_counts_predictions_still_waiting(store: Store) -> None:
    table = _table([make_post(i) for i in range(3)])
    keys = table.select(["platform", "platform_post_id", "text_sha256"])
    with PostWriter(store, "r1") as writer:
        writer.add(table, _predictions(table), [])
        assert writer.predicted_keys(_table([make_post(9)]).select(keys.column_names), "v1") == set()
        assert writer.writes == 0  # post 9 is not waiting: nothing had to be written to answer
        done = writer.predicted_keys(keys, "v1")
        assert writer.writes == 1 and len(done) == 3
        assert writer.predicted_keys(keys, "v2") == set()


def test_writer_leaves_the_rows_waiting_unwritten_when_the_load_fails(store: Store, tmp_path: Path) -> None:
    reject = Reject(stage="validate", source="t", reason="bad", raw="{", run_id="r1")
    spill = tmp_path / "spill"
    with pytest.raises(RuntimeError, match="classifier"), PostWriter(store, "r1", spill_dir=spill) as writer:
        writer.add(_table([make_post(1)]), None, [reject])
        assert [f.name for f in spill.glob("*/*.arrow")] == ["posts.arrow"]  # waiting on disk, not in memory
        raise RuntimeError("classifier crashed")
    assert (_count(store, "posts"), _count(store, "rejects"), writer.writes) == (0, 0, 0)
    assert list(spill.iterdir()) == []  # the spill is removed on failure too


def test_a_write_s_memory_limit_is_reset_for_the_instance_it_shares(store: Store) -> None:
    with store.connect() as keeper:  # keeps the database instance open, as the web server's keeper does
        before = keeper.execute("SELECT current_setting('memory_limit')").fetchone()
        table = _table([make_post(i) for i in range(5)])
        with pytest.raises(RuntimeError, match="boom"), store.transaction(memory_limit_mb=64) as con:
            assert con.execute("SELECT current_setting('memory_limit')").fetchone() != before
            raise RuntimeError("boom")
        assert store.load_batch("r1", table, None, [], memory_limit_mb=64).new == 5
        assert keeper.execute("SELECT current_setting('memory_limit')").fetchone() == before


def test_writer_removes_spill_folders_a_killed_load_left(store: Store, tmp_path: Path) -> None:
    import os

    spill = tmp_path / "spill"
    old, recent = spill / "pantau-load-old", spill / "pantau-load-recent"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "posts.arrow").write_bytes(b"ARROW1")
    two_days_ago = datetime.now(UTC).timestamp() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    with PostWriter(store, "r1", spill_dir=spill):
        assert not old.exists() and recent.exists()  # a recent one may belong to a load still running


def test_writer_spills_to_disk_and_cleans_up_after_each_write(store: Store, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    with PostWriter(store, "r1", max_rows=25, spill_dir=spill) as writer:
        for b in range(3):
            table = _table([make_post(b * 10 + i) for i in range(10)])
            writer.add(table, _predictions(table), [])
        assert writer.writes == 1  # 30 posts: the first chunk went, its files with it
        assert list(spill.glob("*/*.arrow")) == []
        writer.add(_table([make_post(99)]), None, [])
        assert [f.name for f in spill.glob("*/*.arrow")] == ["posts.arrow"]
    assert list(spill.iterdir()) == []
    assert (_count(store, "posts"), _count(store, "predictions")) == (31, 30)
    assert store.query("SELECT max(length(raw)) > 0 AS ok FROM posts") == [{"ok": True}]


def test_rejects_are_stored_with_reason(store: Store) -> None:
    store.load_batch("r1", _table([]), None, [Reject(stage="validate", source="t", reason="bad", raw="{", run_id="r1")])
    assert store.query("SELECT stage, reason, raw FROM rejects") == [{"stage": "validate", "reason": "bad", "raw": "{"}]


def test_cursors_only_move_forward_and_compare_as_numbers(store: Store) -> None:
    store.advance_cursors("mastodon", "r1", {"account:a@x": "99", "account:b@x": "5"})
    store.advance_cursors("mastodon", "r2", {"account:a@x": "100", "account:b@x": "40"})
    store.advance_cursors("mastodon", "r3", {"account:a@x": "98"})
    assert store.cursors("mastodon") == {"account:a@x": "100", "account:b@x": "40"}


def test_lock_held_too_long_raises_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    Store(path).init()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time,sys; c=duckdb.connect({str(path)!r}); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match="stayed locked by another process"):
            Store(path, lock_timeout_s=0.5).query("SELECT 1")
    finally:
        holder.communicate("")
    assert Store(path).query("SELECT 1 AS one") == [{"one": 1}]


WRITER = textwrap.dedent(
    """
    import sys
    from pipeline.schema import parse_post, sha256_text
    from pipeline.storage import PREDICTIONS_SCHEMA, LoadCounts, PostWriter, Store, posts_to_arrow
    from tests.conftest import make_post
    path, offset, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    chunked = sys.argv[4:] == ["writer"]
    store = Store(path, lock_timeout_s=60)
    writer = PostWriter(store, f"w{offset}", max_rows=50)
    for b in range(batches):
        posts = [parse_post(make_post(offset + b * 20 + i)) for i in range(20)]
        table = posts_to_arrow(posts, [sha256_text(p.text) for p in posts], f"w{offset}")
        if chunked:
            writer.add(table, None, [])
        else:
            store.load_batch(f"w{offset}", table, None, [])
    writer.flush()
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("mode", ["load_batch", "writer"])
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "shared.duckdb"
    Store(path).init()
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(offset), "30", mode],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for offset in (0, 100_000)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    rows = Store(path).query("SELECT run_id, count(*) AS n FROM posts GROUP BY run_id ORDER BY run_id")
    assert rows == [{"run_id": "w0", "n": 600}, {"run_id": "w100000", "n": 600}]


def test_no_other_module_connects_to_duckdb() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(p.relative_to(root))
        for folder in ("pipeline", "flows", "models", "spiders")
        for p in (root / folder).rglob("*.py")
        if "duckdb.connect" in p.read_text(encoding="utf-8") and p.name != "storage.py"
    ]
    assert offenders == []
    assert duckdb.__version__
