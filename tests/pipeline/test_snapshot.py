from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipeline.schema import parse_post, sha256_text
from pipeline.secrets import local_secret
from pipeline.storage import Store, posts_to_arrow, publish_snapshot, query_snapshot
from pipeline.views import VIEWS
from tests.conftest import make_post


def _load(store: Store, ids: range, run_id: str) -> None:
    posts = [parse_post(make_post(i)) for i in ids]
    store.load_batch(run_id, posts_to_arrow(posts, [sha256_text(p.text) for p in posts], run_id), None, [])


def test_snapshot_has_tables_views_and_parquet(store: Store, tmp_path: Path) -> None:
    _load(store, range(10), "r1")
    info = publish_snapshot(store, tmp_path / "snap", "Asia/Jakarta", "garam")
    assert info.tables["posts"] == 10
    assert (info.parquet_dir / "posts.parquet").exists()
    for view in VIEWS:
        query_snapshot(info.path, f"SELECT * FROM {view} LIMIT 1")
    pseudo = query_snapshot(info.path, "SELECT DISTINCT author FROM posts_pseudo").column("author").to_pylist()
    assert len(pseudo) == 7 and all(a.startswith("akun-") for a in pseudo)
    assert "warga" not in " ".join(pseudo)
    parquet = duckdb.sql(f"SELECT count(*) FROM '{info.parquet_dir / 'posts.parquet'}'").fetchall()
    assert parquet == [(10,)]


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("DELETE FROM posts", "read-only"),
        ("ATTACH '/tmp/other.duckdb' AS other", "file system operations are disabled"),
        ("COPY posts TO '/tmp/leak.csv'", "file system operations are disabled"),
    ],
)
def test_snapshot_queries_cannot_write_or_reach_other_files(
    store: Store, tmp_path: Path, sql: str, refusal: str
) -> None:
    info = publish_snapshot(store, tmp_path / "snap", "Asia/Jakarta", "garam")
    with pytest.raises(duckdb.Error, match=refusal):
        query_snapshot(info.path, sql)


def test_pseudonyms_are_stable_and_depend_on_the_salt(store: Store, tmp_path: Path) -> None:
    _load(store, range(3), "r1")
    q = "SELECT author FROM posts_pseudo ORDER BY platform_post_id"
    a = query_snapshot(publish_snapshot(store, tmp_path / "a", "Asia/Jakarta", "s1").path, q)
    b = query_snapshot(publish_snapshot(store, tmp_path / "b", "Asia/Jakarta", "s1").path, q)
    c = query_snapshot(publish_snapshot(store, tmp_path / "c", "Asia/Jakarta", "s2").path, q)
    assert a == b and a != c


def test_local_secret_is_private_and_stable(tmp_path: Path) -> None:
    first = local_secret(tmp_path, "pseudonym-salt")
    assert first == local_secret(tmp_path, "pseudonym-salt") and len(first) == 64
    assert (tmp_path / ".pseudonym-salt").stat().st_mode & 0o777 == 0o600


ANALYST = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM posts").fetchone()[0], flush=True)
    sys.stdin.readline()  # hold the snapshot open until told
    print(con.execute("SELECT count(*) FROM posts").fetchone()[0], flush=True)
    """
)


def test_an_open_notebook_never_blocks_the_writer(store: Store, tmp_path: Path) -> None:
    _load(store, range(5), "r1")
    snap = tmp_path / "snap"
    publish_snapshot(store, snap, "Asia/Jakarta", "garam")
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(snap / "pantau.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout is not None and analyst.stdout.readline().strip() == "5"
        _load(store, range(5, 12), "r2")  # the live store takes writes while the analyst reads
        info = publish_snapshot(store, snap, "Asia/Jakarta", "garam")  # and a new snapshot replaces the old
        assert info.tables["posts"] == 12
        out, _ = analyst.communicate("\n", timeout=30)
    finally:
        analyst.kill()
    assert out.strip() == "5"  # the analyst's open snapshot stayed whole
    assert query_snapshot(snap / "pantau.duckdb", "SELECT count(*) AS n FROM posts").column("n").to_pylist() == [12]


def test_review_views_compute_precision_and_kappa(store: Store, tmp_path: Path) -> None:
    _load(store, range(4), "r1")
    pairs = [
        ("violation", "violation"),
        ("violation", "not_violation"),
        ("not_violation", "not_violation"),
        ("violation", "violation"),
    ]
    statuses = ["confirmed", "disputed", "dismissed", "confirmed"]
    ids = [r["platform_post_id"] for r in store.query("SELECT platform_post_id FROM posts ORDER BY 1")]
    with store.transaction() as con:
        for pid, (a, b), status in zip(ids, pairs, statuses, strict=True):
            con.execute(
                "INSERT INTO review_items VALUES ('mastodon', ?, ?, 0.5, 'endorsement', 0.9, 'v', true, "
                "now(), now(), 'r1')",
                [pid, status],
            )
            for offset, (reviewer, decision) in enumerate((("rina", a), ("budi", b))):
                con.execute(
                    "INSERT INTO review_decisions (platform, platform_post_id, reviewer, decision, category, skb_item,"
                    " note, decided_at) VALUES ('mastodon', ?, ?, ?, 'endorsement', '6', '', now() + to_seconds(?))",
                    [pid, reviewer, decision, offset],
                )
    info = publish_snapshot(store, tmp_path / "snap", "Asia/Jakarta", "garam")
    kappa = query_snapshot(info.path, "SELECT * FROM reviewer_agreement").to_pylist()
    # observed 3/4; marginals a: 3 violation, 1 not; b: 2 and 2 -> expected 8/16; kappa (0.75 - 0.5) / 0.5
    assert kappa == [{"double_reviewed": 4, "observed_agreement": 0.75, "expected_agreement": 0.5, "cohen_kappa": 0.5}]
    precision = query_snapshot(info.path, "SELECT * FROM model_precision").to_pylist()
    assert precision == [{"label": "endorsement", "decided": 3, "confirmed": 2, "precision": 0.6667}]
    confirmed = query_snapshot(info.path, "SELECT category, skb_item, items FROM confirmed_violations").to_pylist()
    assert confirmed == [{"category": "endorsement", "skb_item": "6", "items": 2}]


def test_flags_by_candidate_reads_the_reasons_of_each_posts_latest_flagged_prediction(
    store: Store, tmp_path: Path
) -> None:
    _load(store, range(4), "r1")
    posts = store.query("SELECT platform_post_id AS id, text_sha256 AS sha FROM posts ORDER BY 1")
    named = "menyebut paslon nomor 1 Haryo Wicaksono–Siti Komariyah (Pilkada Kabupaten Tanah Merah 2024): 'pak haryo'"
    reasons = [
        [named, "ajakan: coblos"],  # flagged, the registry names the pair
        ["menyebut paslon nomor 2: 'no 2'", "pose jari nomor 2: '✌'"],  # flagged, one post under number 2 once
        ["menyebut paslon nomor 3: '03'"],  # not flagged: not counted
        ["menyebut paslon nomor 1: '01'"],  # flagged, but for an older text than the post's: not counted
    ]
    with store.transaction() as con:
        for n, (post, why) in enumerate(zip(posts, reasons, strict=True)):
            sha = post["sha"] if n != 3 else "0" * 64
            con.execute(
                "INSERT INTO predictions VALUES ('mastodon', ?, 'v', ?, 'endorsement', '{}', 0.9, ?, ?, now(), 'r1')",
                [post["id"], sha, n != 2, why],
            )
    info = publish_snapshot(store, tmp_path / "snap", "Asia/Jakarta", "garam")
    rows = query_snapshot(info.path, "SELECT ballot_number, candidate, flagged FROM flags_by_candidate").to_pylist()
    assert sorted(rows, key=lambda r: r["ballot_number"]) == [
        {"ballot_number": "1", "candidate": "Haryo Wicaksono–Siti Komariyah", "flagged": 1},
        {"ballot_number": "2", "candidate": "", "flagged": 1},
    ]
