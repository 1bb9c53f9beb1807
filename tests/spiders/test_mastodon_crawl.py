"""Real crawls: the replay server and `scrapy crawl mastodon` as subprocesses, with the flow's exact command
line (politeness off), checking the three landing files against the dataset."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import Reject, parse_post
from spiders.replay import BUNDLED_DATA
from tests.spiders.helpers import (
    BAD_DATASET,
    PROJECT_ROOT,
    TINY_LATE_FROM,
    TINY_TAG,
    USER_AGENT,
    account_target,
    clean_env,
    read_jsonl,
    run_spider,
    spider_command,
    start_replay,
    tag_target,
    tiny_dataset,
)

pytestmark = pytest.mark.slow

RINA, BUDI, SARI = "rina_guru@sosial.example", "budi_camat@pemda.example", "sari_bidan@guru.example"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tiny_dataset(tmp_path / "data")


def dataset_ids(data: Path, *, late: bool | None = None, tag: str | None = None) -> set[str]:
    ids = set()
    for row in read_jsonl(data / "statuses.jsonl"):
        is_late = datetime.fromisoformat(row["created_at"]) >= TINY_LATE_FROM
        if (late is None or is_late == late) and (tag is None or tag in row["tags"]):
            ids.add(row["id"])
    return ids


def newest(ids: set[str]) -> str:
    return max(ids, key=lambda i: (len(i), i))


def landed_posts(run_landing: Path, run_id: str) -> list:
    """Every line of the posts file must be a valid Post, read exactly as the flow will read it."""
    lines = (run_landing / f"{run_id}.jsonl").read_bytes().decode("utf-8").splitlines()
    return [parse_post(line) for line in lines]


def test_crawl_lands_every_post_and_one_row_per_target(data: Path, tmp_path: Path) -> None:
    targets = [account_target(a) for a in (RINA, BUDI, SARI, "nobody@sosial.example")]
    targets.append(tag_target(TINY_TAG, "sosial.example"))
    with start_replay(data_dir=data) as replay:
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    posts = landed_posts(run.landing, "run1")
    keys = [p.key for p in posts]
    assert len(keys) == len(set(keys)), "a post landed twice"
    assert {p.platform_post_id for p in posts} == dataset_ids(data)  # tag posts are all account posts too
    assert run.rejects == []
    rows = {t["target"]: t for t in run.targets}
    assert len(run.targets) == 5
    rina = {r["id"] for r in read_jsonl(data / "statuses.jsonl") if r["account_id"] == "1001"}
    assert rows[f"account:{RINA}"] == {
        "target": f"account:{RINA}",
        "status": "ok",
        "newest_id": newest(rina),
        "pages": 2,
        "fetched": 45,
        "rejected": 0,
        "detail": "45 posts and 0 rejects in 2 pages",
    }
    assert rows[f"account:{BUDI}"]["fetched"] == 7 and rows[f"account:{BUDI}"]["pages"] == 1
    assert rows[f"account:{SARI}"] | {"detail": ""} == {
        "target": f"account:{SARI}",
        "status": "ok",
        "newest_id": None,
        "pages": 1,
        "fetched": 0,
        "rejected": 0,
        "detail": "",
    }
    assert rows["account:nobody@sosial.example"]["status"] == "not_found"
    assert rows[f"tag:{TINY_TAG}@sosial.example"]["fetched"] == len(dataset_ids(data, tag=TINY_TAG))
    boost = next(p for p in posts if p.repost_of)
    assert boost.text and boost.author.handle == RINA
    assert stats["requests"]["robots"] == 1  # robots.txt is asked for before the API (ROBOTSTXT_OBEY)
    assert set(stats["user_agents"]) == {USER_AGENT}  # every request names pantau and a contact
    summary = re.search(
        r"mastodon run run1 closed \(finished\): 5 targets \(1 not_found, 4 ok\), (\d+) posts, "
        r"(\d+) duplicates dropped, 0 rejects",
        run.log,
    )
    assert summary, run.log[-2000:]
    assert int(summary.group(1)) - int(summary.group(2)) == len(posts)


def test_incremental_crawl_fetches_only_new_posts(data: Path, tmp_path: Path) -> None:
    clock = (TINY_LATE_FROM - timedelta(seconds=1)).isoformat()
    first_targets = [account_target(RINA), account_target(BUDI), tag_target(TINY_TAG, "sosial.example")]
    with start_replay("--clock", clock, data_dir=data) as replay:
        first = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=first_targets,
            base_url=replay.url,
            run_id="first",
        )
        cursors = {t["target"]: t["newest_id"] for t in first.targets}
        replay.set_clock(None)  # the late posts are published
        before = replay.stats()
        second_targets = [{**t, "since_id": cursors[t["target"]]} for t in first_targets]
        second = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=second_targets,
            base_url=replay.url,
            run_id="second",
        )
        after = replay.stats()
        cursors = {t["target"]: t["newest_id"] for t in second.targets}
        third_targets = [{**t, "since_id": cursors[t["target"]]} for t in second_targets]
        third = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=third_targets,
            base_url=replay.url,
            run_id="third",
        )
    assert first.returncode == second.returncode == third.returncode == 0, second.log[-3000:]
    assert {p.platform_post_id for p in landed_posts(first.landing, "first")} == dataset_ids(data, late=False)
    assert {p.platform_post_id for p in landed_posts(second.landing, "second")} == dataset_ids(data, late=True)
    api_calls = after["api_requests"] - before["api_requests"]
    assert api_calls == 5, f"2 lookups + 3 one-page timelines expected, got {api_calls}: {after}"
    assert all(t["status"] == "ok" and t["newest_id"] for t in second.targets)
    assert {t["newest_id"] for t in second.targets} <= dataset_ids(data, late=True)
    assert landed_posts(third.landing, "third") == []
    assert all(t["status"] == "ok" and t["newest_id"] is None and t["fetched"] == 0 for t in third.targets)


def test_bad_input_becomes_rejects_and_other_targets_still_land(tmp_path: Path) -> None:
    names = ("bad_data", "html_page", "locked_api", "cut_off", "good_one")
    targets = [account_target(f"{n}@sosial.example") for n in names]
    with start_replay(data_dir=BAD_DATASET) as replay:
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
    assert run.returncode == 0, run.log[-3000:]
    status = {t["target"].split(":")[1].split("@")[0]: t for t in run.targets}
    assert {n: status[n]["status"] for n in names} == {
        "bad_data": "ok",
        "html_page": "error",
        "locked_api": "unauthorized",
        "cut_off": "error",
        "good_one": "ok",
    }
    assert (status["bad_data"]["fetched"], status["bad_data"]["rejected"]) == (3, 6)
    assert status["locked_api"]["detail"].endswith("This API requires an authenticated user")
    posts = landed_posts(run.landing, "run1")
    assert sorted(p.author.handle.split("@")[0] for p in posts) == ["bad_data"] * 3 + ["good_one"] * 3
    (run.landing / "run1.rejects.jsonl").read_bytes().decode("utf-8")  # evidence stays valid UTF-8
    rejects = [Reject.model_validate(r) for r in run.rejects]
    assert all(r.stage == "crawl" and r.source == "mastodon" and r.run_id == "run1" and r.raw for r in rejects)
    reasons = " | ".join(r.reason for r in rejects)
    for expected in (
        "status without id",
        "posted_at: Value error, posted_at has no time zone",
        "engagement.replies: Input should be a valid integer",
        "status id: expected a string, got number",
        "text is 119999 bytes, over the 100000-byte limit",
        "content: invalid UTF-8 (byte 0xe9",
        "expected JSON, got text/html",
        "malformed JSON: ",
    ):
        assert expected in reasons, f"{expected!r} not in {reasons}"
    assert len(rejects) == 8


def test_faults_are_retried_and_nothing_is_missing(data: Path, tmp_path: Path) -> None:
    targets = [account_target(RINA), account_target(BUDI), tag_target(TINY_TAG, "sosial.example")]
    with start_replay("--fault-every", "3", data_dir=data) as replay:
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    assert stats["faults"].get("500", 0) >= 1 and stats["faults"].get("429", 0) >= 1
    assert {p.platform_post_id for p in landed_posts(run.landing, "run1")} == dataset_ids(data)
    assert all(t["status"] == "ok" for t in run.targets)
    assert "'retry/count'" in run.log


def test_rate_limit_headers_make_the_spider_wait(data: Path, tmp_path: Path) -> None:
    targets = [account_target(RINA), account_target(BUDI), tag_target(TINY_TAG, "sosial.example")]
    with start_replay("--rate-limit", "3", "--rate-window", "5", data_dir=data) as replay:
        started = time.monotonic()
        run = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=targets,
            base_url=replay.url,
            settings={"CONCURRENT_REQUESTS": "1"},
        )
        elapsed = time.monotonic() - started
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    assert stats["api_requests"] == 6 and stats["rate_limited"] == 0  # waited instead of hitting 429
    assert {p.platform_post_id for p in landed_posts(run.landing, "run1")} == dataset_ids(data)
    assert "'pantau/ratelimit/waits'" in run.log and elapsed > 5


def test_exhausted_rate_limit_marks_the_target_and_keeps_its_cursor(data: Path, tmp_path: Path) -> None:
    with start_replay("--rate-limit", "1", "--rate-window", "300", data_dir=data) as replay:
        run = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=[account_target(RINA)],
            base_url=replay.url,
            settings={"RETRY_TIMES": "1", "PANTAU_RATELIMIT_MAX_WAIT": "0.2"},
        )
    assert run.returncode == 0, run.log[-3000:]
    [row] = run.targets
    assert row["status"] == "rate_limited" and row["newest_id"] is None
    assert row["detail"].startswith("HTTP 429 on /api/v1/accounts/1001/statuses: Too many requests")


def test_max_pages_bounds_the_crawl(data: Path, tmp_path: Path) -> None:
    with start_replay(data_dir=data) as replay:
        run = run_spider(
            "mastodon",
            landing_dir=tmp_path / "landing",
            targets=[account_target(RINA)],
            base_url=replay.url,
            settings={"PANTAU_MAX_PAGES": "1"},
        )
    [row] = run.targets
    assert (row["status"], row["pages"], row["fetched"]) == ("ok", 1, 40)
    assert "stopped at PANTAU_MAX_PAGES=1" in row["detail"]


def test_unreadable_targets_file_fails_the_process(tmp_path: Path) -> None:
    run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=[], base_url=None)
    # An empty list is a valid, empty run, and the flow still finds all three files.
    assert run.returncode == 0
    for name in ("run1.jsonl", "run1.rejects.jsonl", "run1.targets.jsonl"):
        assert (run.landing / name).read_bytes() == b""
    (tmp_path / "targets-run1.json").write_text("{not json")
    command = spider_command(
        "mastodon",
        run_id="run1",
        landing_dir=tmp_path / "landing",
        targets_file=tmp_path / "targets-run1.json",
        base_url=None,
        settings={},
    )
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=clean_env(SCRAPY_SETTINGS_MODULE="spiders.settings"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "targets_file" in done.stderr


def test_generated_dataset_crawl(tmp_path: Path) -> None:
    with start_replay("--generate", "2000", "--seed", "3") as replay:
        accounts = replay.accounts()
        targets = [account_target(a["acct"]) for a in accounts]
        started = time.monotonic()
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
        elapsed = time.monotonic() - started
    assert run.returncode == 0, run.log[-3000:]
    posts = landed_posts(run.landing, "run1")
    assert len(posts) == 2000 == sum(a["statuses"] for a in accounts)
    assert all(t["status"] == "ok" for t in run.targets) and len(run.targets) == len(accounts)
    print(f"\ngenerated crawl: {len(posts)} posts in {elapsed:.1f}s = {len(posts) / elapsed:.0f} posts/s")
    assert json.loads((run.landing / "run1.targets.jsonl").read_text().splitlines()[0])["pages"] >= 1


def test_bundled_dataset_crawl(tmp_path: Path) -> None:
    """Every status of the bundled sample becomes a Post (it is clean data), found by its account target."""
    statuses = read_jsonl(BUNDLED_DATA / "statuses.jsonl")
    with start_replay() as replay:
        accounts = replay.accounts()
        targets = [account_target(a["acct"]) for a in accounts] + [tag_target(TINY_TAG, "sosial.example")]
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
    assert run.returncode == 0, run.log[-3000:]
    assert run.rejects == []
    assert {p.platform_post_id for p in landed_posts(run.landing, "run1")} == {s["id"] for s in statuses}
    assert len(run.targets) == len(accounts) + 1 and all(t["status"] == "ok" for t in run.targets)
