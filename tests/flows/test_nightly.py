"""The nightly flow end to end: a real replay server on loopback, real `scrapy crawl` subprocesses, a real DuckDB
file and a real Prefect flow run (one test harness for the session)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.nightly import nightly
from pipeline.errors import CrawlError
from pipeline.storage import Store
from tests.flows.webhook import webhook_receiver
from tests.spiders.helpers import BAD_DATASET, ReplayProcess, start_replay, write_watchlist

DEMO = Path(__file__).resolve().parents[2] / "spiders" / "replay" / "data"

pytestmark = pytest.mark.slow


def _overrides(tmp: Path, replay: ReplayProcess, **more: Any) -> dict[str, Any]:
    return {
        "data_dir": str(tmp),
        "replay_url": replay.url,
        "watchlist_path": str(DEMO / "watchlist.csv"),
        "download_delay_s": 0.0,
        "autothrottle": False,
        "concurrent_requests": 16,
        "crawl_retries": 0,
        **more,
    }


def _expected_posts() -> int:
    """Statuses the demo watchlist reaches: by enabled watched accounts, or carrying a watched hashtag."""
    import csv

    rows = [
        r
        for r in csv.DictReader((DEMO / "watchlist.csv").open(encoding="utf-8"))
        if r["enabled"] == "true" and r["platform"] == "mastodon"  # the other platforms' rows reach other spiders
    ]
    accounts = [json.loads(line) for line in (DEMO / "accounts.jsonl").open(encoding="utf-8")]
    by_id = {a["id"]: a for a in accounts}
    watched = {r["handle"].lower() for r in rows if r["kind"] == "account"}
    tags = {r["handle"].split("@")[0].lower() for r in rows if r["kind"] == "hashtag"}
    count = 0
    for line in (DEMO / "statuses.jsonl").open(encoding="utf-8"):
        s = json.loads(line)
        acct = by_id[s["account_id"]]
        if f"{acct['username']}@{acct['domain']}".lower() in watched or tags & {t.lower() for t in s["tags"]}:
            count += 1
    return count


@pytest.fixture(scope="module")
def demo_replay() -> Iterator[ReplayProcess]:
    with start_replay(data_dir=DEMO) as replay:
        yield replay


def test_demo_night_then_rerun_adds_nothing(prefect_harness: None, tmp_path: Path, demo_replay: ReplayProcess) -> None:
    first = nightly(run_id="night-1", overrides=_overrides(tmp_path, demo_replay))
    expected = _expected_posts()
    store = Store(tmp_path / "pantau.duckdb")
    assert first["status"] == "ok"
    assert first["new_posts"] == expected == store.query("SELECT count(*) AS n FROM posts")[0]["n"]
    assert first["rejected"] == 0
    assert first["classified"] == expected
    assert first["flagged"] == sum(first["flagged_per_label"].values()) > 0
    assert first["queued"] == first["flagged"] == first["pending"]
    assert set(first["flagged_per_label"]) <= {"endorsement", "campaign", "attack", "symbol"}
    run = store.query("SELECT * FROM crawl_runs WHERE run_id = 'night-1'")[0]
    assert run["status"] == "ok" and run["new_posts"] == expected
    spider = store.run_spiders("night-1")[0]
    assert spider["status"] == "ok" and spider["targets_failed"] == 0 and spider["attempts"] == 1
    assert len(store.cursors("mastodon")) == spider["targets_ok"] > 20

    before = demo_replay.stats()["requests"]
    second = nightly(run_id="night-2", overrides=_overrides(tmp_path, demo_replay))
    assert (second["new_posts"], second["updated_posts"], second["classified"], second["queued"]) == (0, 0, 0, 0)
    assert second["pending"] == first["pending"]
    counts = store.query(
        "SELECT (SELECT count(*) FROM posts) AS posts, (SELECT count(*) FROM predictions) AS preds, "
        "(SELECT count(*) FROM review_items) AS items"
    )[0]
    assert counts == {"posts": expected, "preds": expected, "items": first["queued"]}
    # with cursors, the second night asks each target for what is newer only: one short page each (+ lookups);
    # besides, every flagged Mastodon status is fetched once again, to notice edits and deletions
    after = demo_replay.stats()["requests"]
    asked = {kind: after[kind] - before.get(kind, 0) for kind in after}
    flagged_mastodon = store.query("SELECT count(*) AS n FROM review_items WHERE platform = 'mastodon'")[0]["n"]
    assert asked.pop("status", 0) == flagged_mastodon > 0
    assert sum(asked.values()) <= 2 * spider["targets_ok"] + 2


def test_failed_spider_keeps_the_others_posts(
    prefect_harness: None, tmp_path: Path, demo_replay: ReplayProcess
) -> None:
    with webhook_receiver() as (hook, received), pytest.raises(CrawlError, match="partial"):
        nightly(
            run_id="night-f",
            spiders=["mastodon", "nosuchspider"],
            overrides=_overrides(tmp_path, demo_replay, crawl_retries=1, alert_webhook_url=hook),
        )
    assert len(received) == 1 and received[0]["run_id"] == "night-f" and received[0]["status"] == "partial"
    assert any("nosuchspider" in alert for alert in received[0]["alerts"])
    store = Store(tmp_path / "pantau.duckdb")
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == _expected_posts()
    run = store.query("SELECT status, detail FROM crawl_runs WHERE run_id = 'night-f'")[0]
    assert run["status"] == "partial" and "nosuchspider" in run["detail"]
    spiders = {r["spider"]: r for r in store.run_spiders("night-f")}
    assert spiders["mastodon"]["status"] == "ok"
    assert spiders["nosuchspider"]["status"] == "failed" and spiders["nosuchspider"]["attempts"] == 2
    assert "exited with code" in spiders["nosuchspider"]["detail"]


def test_bad_input_becomes_rejects_and_the_run_completes(prefect_harness: None, tmp_path: Path) -> None:
    with start_replay(data_dir=BAD_DATASET) as replay:
        accounts = replay.accounts()
        watchlist = tmp_path / "watchlist.csv"
        write_watchlist(watchlist, [a["acct"] for a in accounts])
        summary = nightly(run_id="night-bad", overrides=_overrides(tmp_path, replay, watchlist_path=str(watchlist)))
    store = Store(tmp_path / "pantau.duckdb")
    assert summary["rejected"] > 0 and summary["new_posts"] > 0
    reasons = " | ".join(r["reason"] for r in store.query("SELECT reason FROM rejects"))
    for expected in ("time zone", "100000-byte limit", "id"):
        assert expected in reasons
    spider = store.run_spiders("night-bad")[0]
    assert spider["status"] == "partial" and spider["targets_failed"] > 0  # html, 401 and malformed targets
    assert store.query("SELECT status FROM crawl_runs WHERE run_id = 'night-bad'")[0]["status"] == "ok"


def test_faults_from_the_server_are_retried_and_nothing_is_missing(prefect_harness: None, tmp_path: Path) -> None:
    with start_replay("--fault-every", "5", data_dir=DEMO) as replay:
        summary = nightly(run_id="night-faults", overrides=_overrides(tmp_path, replay))
        faults = replay.stats()
    assert summary["new_posts"] == _expected_posts()
    assert summary["rejected"] == 0
    assert faults["faults"]
