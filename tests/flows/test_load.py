"""Loading landing files: bad lines become rejects with reasons, a killed spider loses nothing and duplicates
nothing once the next crawl has run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.crawl import build_targets, landing_paths, run_spider, spider_command
from flows.load import load_spider
from models.predict import Classifier
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.storage import Store
from pipeline.watchlist import read_watchlist
from tests.conftest import make_post, write_jsonl
from tests.spiders.helpers import clean_env, start_replay, write_watchlist


@pytest.fixture(scope="module")
def classifier() -> Iterator[Classifier]:
    with Classifier.load(workers=0) as model:
        yield model


def test_bad_landing_lines_become_rejects_and_good_ones_load(tmp_path: Path, classifier: Classifier) -> None:
    settings = Settings.from_env(data_dir=tmp_path, batch_size=3)
    Store(settings.database).init()
    paths = landing_paths(settings, "mastodon", "r1")
    no_id = make_post(2)
    del no_id["platform_post_id"]
    lines: list[object] = [
        make_post(1),
        "{not json",
        no_id,
        make_post(3, posted_at="2024-11-01T07:00:00"),
        make_post(4, text="x" * 100_001),
        make_post(5),
        make_post(5),  # the same post twice in one batch is loaded once
        make_post(6),
    ]
    write_jsonl(paths["posts"], lines)
    with paths["posts"].open("ab") as fh:
        fh.write(b'{"platform": "mastodon", "text": "\xff\xfe rusak"}\n')
        fh.write(b'{"platform": "mastodon", "platform_post_id": "99", "te')  # cut off mid-line, no newline
    write_jsonl(
        paths["rejects"],
        [
            {
                "stage": "crawl",
                "source": "mastodon",
                "reason": "expected JSON, got text/html",
                "raw": "<html>",
                "run_id": "r1",
            },
            "garbage",
        ],
    )
    write_jsonl(
        paths["targets"],
        [
            {"target": "account:a@x", "status": "ok", "newest_id": "7"},
            {
                "target": "account:b@x",
                "status": "unauthorized",
                "newest_id": None,
                "detail": "This API requires an authenticated user",
            },
        ],
    )

    result = load_spider(settings, "mastodon", "r1", classifier)

    store = Store(settings.database)
    assert (result.fetched, result.new_posts, result.classified) == (12, 3, 3)
    assert result.rejected == 8
    reasons = [r["reason"] for r in store.query("SELECT reason FROM rejects ORDER BY reject_id")]
    assert reasons[0] == "expected JSON, got text/html"
    assert reasons[1].startswith("unreadable reject line 2")
    joined = " | ".join(reasons)
    for expected in (
        "line 2: record: Invalid JSON",
        "line 3: platform_post_id: Field required",
        "has no time zone",
        "over the 100000-byte limit",
        "line 9: record: Invalid JSON",
        "line 10: record: Invalid JSON",
    ):
        assert expected in joined
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == 3
    assert store.cursors("mastodon") == {"account:a@x": "7"}
    assert result.targets_ok == 1 and result.targets_failed == [
        "account:b@x: unauthorized This API requires an authenticated user"
    ]


def test_reloading_the_same_landing_file_adds_nothing(tmp_path: Path, classifier: Classifier) -> None:
    settings = Settings.from_env(data_dir=tmp_path)
    Store(settings.database).init()
    write_jsonl(landing_paths(settings, "mastodon", "r1")["posts"], [make_post(i) for i in range(20)])
    first = load_spider(settings, "mastodon", "r1", classifier)
    again = load_spider(settings, "mastodon", "r1", classifier)
    assert (first.new_posts, first.classified) == (20, 20)
    assert (again.new_posts, again.updated_posts, again.unchanged_posts, again.classified) == (0, 0, 20, 0)
    assert Store(settings.database).query("SELECT count(*) AS n FROM predictions")[0]["n"] == 20


def test_batches_are_written_together_and_a_post_seen_again_keeps_its_first_text(
    tmp_path: Path, classifier: Classifier
) -> None:
    settings = Settings.from_env(data_dir=tmp_path, batch_size=4)
    store = Store(settings.database)
    store.init()
    edited = make_post(2, text="teks yang sudah diedit")
    # batches of 4: posts 0-3, 4-7, then 8, 9 and post 2 again, edited (a re-fetch later in the same file)
    write_jsonl(landing_paths(settings, "mastodon", "r1")["posts"], [make_post(i) for i in range(10)] + [edited])
    result = load_spider(settings, "mastodon", "r1", classifier)
    # the first two batches in one write; the third after it, as post 2 was still waiting to be written
    assert result.writes == 2
    assert (result.fetched, result.new_posts, result.updated_posts, result.classified) == (11, 10, 1, 11)
    assert store.query("SELECT text, superseded_by_run FROM post_versions") == [
        {"text": "kabar ke-2", "superseded_by_run": "r1"}
    ]
    assert store.query("SELECT count(*) AS n FROM predictions")[0]["n"] == 11  # both texts of post 2


@pytest.mark.slow
def test_spider_killed_mid_crawl_loses_and_duplicates_nothing(tmp_path: Path, classifier: Classifier) -> None:
    with start_replay("--generate", "3000", "--seed", "5") as replay:
        accounts = [a["acct"] for a in replay.accounts()]
        rows, _ = read_watchlist(write_watchlist(tmp_path / "w.csv", accounts))
        # slow enough that the kill lands mid-crawl: one request at a time, 20 ms apart
        settings = Settings.from_env(
            data_dir=tmp_path / "data",
            replay_url=replay.url,
            download_delay_s=0.02,
            autothrottle=False,
            concurrent_requests=1,
        )
        store = Store(settings.database)
        store.init()
        store.replace_watchlist(rows)
        paths = landing_paths(settings, "mastodon", "killed")
        paths["input"].parent.mkdir(parents=True, exist_ok=True)
        paths["input"].write_text(json.dumps(build_targets(store, "mastodon")), encoding="utf-8")
        env = clean_env(SCRAPY_SETTINGS_MODULE="spiders.settings")
        proc = subprocess.Popen(
            spider_command(settings, "mastodon", "killed", paths["input"]),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(replay.stats()["requests"].values()) < 30:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        finished_targets = sum(1 for _ in _safe_lines(paths["targets"]))
        assert finished_targets < len(accounts), "the kill should land mid-crawl"

        killed = load_spider(settings, "mastodon", "killed", classifier)
        assert len(store.cursors("mastodon")) == killed.targets_ok < len(accounts)

        fast = Settings.from_env(
            data_dir=tmp_path / "data", replay_url=replay.url, download_delay_s=0, autothrottle=False
        )
        run_spider(fast, "mastodon", "next", build_targets(store, "mastodon"))
        after = load_spider(fast, "mastodon", "next", classifier)
    total = store.query("SELECT count(*) AS n, count(DISTINCT platform_post_id) AS d FROM posts")[0]
    assert total == {"n": 3000, "d": 3000}
    assert killed.new_posts + after.new_posts == 3000
    assert len(store.cursors("mastodon")) == len(accounts)
    bad = store.query("SELECT reason FROM rejects WHERE reason NOT LIKE '%Invalid JSON%'")
    assert bad == []  # at most the line the kill cut in half


def _safe_lines(path: Path) -> Iterator[bytes]:
    if path.exists():
        yield from (line for line in path.read_bytes().splitlines() if line.endswith(b"}"))
