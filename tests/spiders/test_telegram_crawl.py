"""Real Telegram crawls: the replay server and `scrapy crawl telegram` as subprocesses, over loopback.

The dataset is written per test: `kanal_guru` has 45 messages (three preview pages of 20), `kanal_rusak` has good
messages and broken ones, `kanal_tertutup` has no public preview (redirects away from /s/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import Reject, parse_post
from tests.spiders.helpers import run_spider, start_replay, write_jsonl

pytestmark = pytest.mark.slow

START = datetime(2024, 11, 1, tzinfo=UTC)
LATE = datetime(2024, 11, 20, tzinfo=UTC)  # messages from here on are "published later"


def channel_target(name: str, since_id: str | None = None) -> dict:
    return {"target": f"channel:{name}", "kind": "channel", "value": name, "instance": "t.me", "since_id": since_id}


def good_message(channel: str, n: int, when: datetime) -> dict:
    return {"channel": channel, "id": n, "date": when.isoformat(), "text": f"Kabar ke-{n} 👍 #PilkadaTanahMerah",
            "views": 1000 + n * 37}  # fmt: skip


@pytest.fixture
def platform_data(tmp_path: Path) -> Path:
    root = tmp_path / "platforms"
    channels = [
        {"username": name, "title": name.replace("_", " ").title(), "description": "Kanal uji. Dikelola guru PNS."}
        for name in ("kanal_guru", "kanal_rusak")
    ] + [{"username": "kanal_tertutup", "title": "Tertutup", "_behaviour": "private"}]
    messages = [good_message("kanal_guru", n, START + timedelta(hours=n)) for n in range(1, 41)]
    messages += [good_message("kanal_guru", n, LATE + timedelta(hours=n)) for n in range(41, 46)]
    messages += [good_message("kanal_rusak", n, START + timedelta(hours=n)) for n in (1, 2, 6)]
    broken = '<div class="tgme_widget_message js-widget_message" data-post="kanal_rusak/{n}">{inner}</div>'
    messages += [
        {"channel": "kanal_rusak", "id": 3, "_raw_html": broken.format(n=3, inner="<div>tanpa waktu</div>")},
        {
            "channel": "kanal_rusak",
            "id": 4,
            "_raw_html": broken.format(
                n=4,
                inner='<span class="tgme_widget_message_views">??</span><a class="tgme_widget_message_date" '
                'href="https://t.me/kanal_rusak/4"><time datetime="2024-11-01T04:00:00+00:00"></time></a>',
            ),
        },
        {"channel": "kanal_rusak", "id": 5, "_raw_html": broken.format(n="x", inner="")},
    ]
    write_jsonl(root / "telegram" / "channels.jsonl", channels)
    write_jsonl(root / "telegram" / "messages.jsonl", messages)
    return root


def landed(run_landing: Path, run_id: str) -> list:
    return [parse_post(line) for line in (run_landing / f"{run_id}.jsonl").read_bytes().decode().splitlines()]


def test_pages_back_through_the_channel_and_reports_each_target(platform_data: Path, tmp_path: Path) -> None:
    targets = [channel_target(n) for n in ("kanal_guru", "kanal_rusak", "kanal_tertutup")]
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider("telegram", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    posts = landed(run.landing, "run1")
    guru = [p for p in posts if p.watch_target == "channel:kanal_guru"]
    assert sorted(int(p.platform_post_id.split("/")[1]) for p in guru) == list(range(1, 46))
    rows = {t["target"]: t for t in run.targets}
    assert (rows["channel:kanal_guru"]["pages"], rows["channel:kanal_guru"]["newest_id"]) == (3, "45")
    assert rows["channel:kanal_tertutup"]["status"] == "not_public"
    rusak = rows["channel:kanal_rusak"]
    assert (rusak["status"], rusak["fetched"], rusak["rejected"]) == ("ok", 3, 3)
    assert set(rusak["reasons"]) == {
        "message without a time[datetime]",
        "views '??' is not a count such as 987 or 1.2K",
        "message data-post 'kanal_rusak/x' is not channel/id",
    }
    rejects = [Reject.model_validate(r) for r in run.rejects]
    assert all(r.source == "telegram" and r.raw.startswith("<div") for r in rejects)
    assert stats["requests"]["robots"] == 1  # an HTML source: robots.txt first
    assert stats["requests"]["telegram:channel_page"] == 1  # the redirect was followed, never a login


def test_incremental_crawl_reads_only_new_messages(platform_data: Path, tmp_path: Path) -> None:
    with start_replay(
        "--platform-data", str(platform_data), "--clock", (LATE - timedelta(seconds=1)).isoformat()
    ) as replay:
        first = run_spider(
            "telegram", landing_dir=tmp_path / "l", targets=[channel_target("kanal_guru")], base_url=replay.url
        )
        [row] = first.targets
        replay.set_clock(None)
        before = replay.stats()["requests"].get("telegram:preview", 0)
        second = run_spider(
            "telegram",
            landing_dir=tmp_path / "l",
            targets=[channel_target("kanal_guru", since_id=row["newest_id"])],
            base_url=replay.url,
            run_id="run2",
        )
        pages = replay.stats()["requests"]["telegram:preview"] - before
    assert row["newest_id"] == "40" and len(landed(first.landing, "run1")) == 40
    assert sorted(p.platform_post_id for p in landed(second.landing, "run2")) == [
        f"kanal_guru/{n}" for n in range(41, 46)
    ]
    [again] = second.targets
    assert (again["newest_id"], again["skipped"], pages) == ("45", 15, 1)  # one page reached the cursor


def test_faults_and_rate_limits_are_retried(platform_data: Path, tmp_path: Path) -> None:
    with start_replay("--platform-data", str(platform_data), "--fault-every", "2") as replay:
        run = run_spider(
            "telegram", landing_dir=tmp_path / "l", targets=[channel_target("kanal_guru")], base_url=replay.url
        )
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    assert stats["faults"]["500"] >= 1 and stats["faults"]["429"] >= 1
    assert len(landed(run.landing, "run1")) == 45 and run.targets[0]["status"] == "ok"


def test_max_pages_bounds_the_first_crawl(platform_data: Path, tmp_path: Path) -> None:
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider(
            "telegram",
            landing_dir=tmp_path / "l",
            targets=[channel_target("kanal_guru")],
            base_url=replay.url,
            settings={"PANTAU_MAX_PAGES": "1"},
        )
    [row] = run.targets
    assert (row["status"], row["pages"], row["fetched"]) == ("ok", 1, 20)
    assert "stopped at PANTAU_MAX_PAGES=1, messages before 26 not fetched" in row["detail"]
    assert json.loads((run.landing / "run1.targets.jsonl").read_text())["newest_id"] == "45"
