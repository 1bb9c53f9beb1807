"""Real YouTube crawls: the replay server and `scrapy crawl youtube` as subprocesses, over loopback, with the
replay API key and its daily quota.

Channel `UCsekolahNegeriTanahMrh1` has 60 uploads (two playlist pages of 50) and 250 comment threads on its
videos (three pages of 100); each page costs one unit of the quota."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.replay.answers import iso_z
from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import get_json, run_spider, start_replay, write_jsonl

pytestmark = pytest.mark.slow

CHANNEL = "UCsekolahNegeriTanahMrh1"
START = datetime(2024, 10, 1, tzinfo=UTC)
HOST = "www.googleapis.com"


def uploads(channel: str = CHANNEL, **state: object) -> dict:
    return {
        "target": f"uploads:{channel}",
        "kind": "uploads",
        "value": channel,
        "instance": HOST,
        "since_id": None,
        **state,
    }


def comments(channel: str = CHANNEL, **state: object) -> dict:
    return {
        "target": f"comments:{channel}",
        "kind": "comments",
        "value": channel,
        "instance": HOST,
        "since_id": None,
        **state,
    }


@pytest.fixture
def platform_data(tmp_path: Path) -> Path:
    assert len(CHANNEL) == 24
    channel = {"id": CHANNEL, "title": "SMP Negeri Uji", "description": "Kanal sekolah, dikelola guru PNS."}
    videos = [
        {"id": f"vid{n:08d}", "channel_id": CHANNEL, "publishedAt": iso_z(START + timedelta(hours=n), millis=False),
         "title": f"Video {n}", "description": "Kegiatan sekolah"}
        for n in range(60)
    ]  # fmt: skip
    threads = [
        {"id": f"Ugx{n:08d}", "video_id": videos[n % 60]["id"], "author": f"@warga{n % 9}",
         "author_channel_id": f"UCwarga{n % 9:017d}", "text": f"Komentar {n}",
         "publishedAt": iso_z(START + timedelta(days=3, minutes=n), millis=False), "likeCount": n}
        for n in range(250)
    ]  # fmt: skip
    root = tmp_path / "platforms"
    write_jsonl(root / "youtube" / "channels.jsonl", [channel])
    write_jsonl(root / "youtube" / "videos.jsonl", videos)
    write_jsonl(root / "youtube" / "comments.jsonl", threads)
    return root


def set_quota(url: str, **query: str) -> dict:
    return get_json(f"{url}/_replay/youtube/quota?{urllib.parse.urlencode(query)}", "POST")


def ids(run_landing: Path, run_id: str) -> list[str]:
    return [parse_post(line).platform_post_id for line in (run_landing / f"{run_id}.jsonl").read_text().splitlines()]


def test_uploads_and_comment_threads(platform_data: Path, tmp_path: Path) -> None:
    targets = [uploads(), comments(), uploads("UCtidakAdaKanalSeperti00")]
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider(
            "youtube", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS
        )
        used = replay.health()["platforms"]["youtube"]["quota_used"]
    assert run.returncode == 0, run.log[-3000:]
    rows = {t["target"]: t for t in run.targets}
    assert (rows[f"uploads:{CHANNEL}"]["fetched"], rows[f"uploads:{CHANNEL}"]["pages"]) == (60, 2)
    assert (rows[f"comments:{CHANNEL}"]["fetched"], rows[f"comments:{CHANNEL}"]["pages"]) == (250, 3)
    assert rows["uploads:UCtidakAdaKanalSeperti00"]["status"] == "not_found"
    assert used == 1 + 2 + 3 + 1  # channels.list, playlist pages, thread pages, the unknown channel
    video = next(
        p
        for p in map(parse_post, (run.landing / "run1.jsonl").read_text().splitlines())
        if p.platform_post_id == "vid00000059"
    )
    assert video.author.bio == "Kanal sekolah, dikelola guru PNS." and video.text == "Video 59\n\nKegiatan sekolah"
    assert REPLAY_CREDENTIALS["PANTAU_YOUTUBE_API_KEY"] not in run.log
    assert REPLAY_CREDENTIALS["PANTAU_YOUTUBE_API_KEY"] not in (run.landing / "run1.jsonl").read_text()


def test_spent_quota_stops_cleanly_and_the_next_night_resumes(platform_data: Path, tmp_path: Path) -> None:
    targets = [comments(), uploads()]
    with start_replay("--platform-data", str(platform_data)) as replay:
        set_quota(replay.url, limit="2", reset="1")
        first = run_spider(
            "youtube",
            landing_dir=tmp_path / "l",
            targets=targets,
            base_url=replay.url,
            env=REPLAY_CREDENTIALS,
            settings={"CONCURRENT_REQUESTS": "1"},
        )
        sent_after_stop = replay.stats()["requests"].get("youtube:api", 0)
        set_quota(replay.url, limit="10000", reset="1")  # the next day
        rows = {t["target"]: t for t in first.targets}
        resumed = [{**t, **{k: rows[t["target"]].get(k) for k in ("resume", "resume_newest")}} for t in targets]
        second = run_spider(
            "youtube",
            landing_dir=tmp_path / "l",
            targets=resumed,
            base_url=replay.url,
            env=REPLAY_CREDENTIALS,
            run_id="run2",
        )
    assert first.returncode == 0, first.log[-3000:]
    assert {t["status"] for t in first.targets} == {"rate_limited"}
    assert "youtube quota spent" in first.log and sent_after_stop <= 4  # 2 answered, then at most the refused ones
    cut = rows[f"comments:{CHANNEL}"]
    assert cut["resume"] == "CA000100QAA" and cut["resume_newest"] and "carries on next night" in cut["detail"]
    both = ids(first.landing, "run1") + ids(second.landing, "run2")
    assert len(both) == len(set(both)) == 310  # every comment and upload once: nothing lost, nothing twice
    second_rows = {t["target"]: t for t in second.targets}
    assert second_rows[f"comments:{CHANNEL}"]["status"] == "ok"
    assert second_rows[f"comments:{CHANNEL}"]["newest_id"] == cut["resume_newest"]  # the cursor moves to the top
    assert "resume" not in second_rows[f"comments:{CHANNEL}"]


def test_missing_or_wrong_key(platform_data: Path, tmp_path: Path) -> None:
    with start_replay("--platform-data", str(platform_data)) as replay:
        missing = run_spider("youtube", landing_dir=tmp_path / "a", targets=[comments()], base_url=replay.url)
        wrong = run_spider(
            "youtube", landing_dir=tmp_path / "b", targets=[comments()], base_url=replay.url,
            env={"PANTAU_YOUTUBE_API_KEY": "kunci-salah"},
        )  # fmt: skip
    assert missing.targets[0]["status"] == "disabled" and "PANTAU_YOUTUBE_API_KEY" in missing.targets[0]["detail"]
    assert wrong.targets[0]["status"] == "unauthorized" and "API key not valid" in wrong.targets[0]["detail"]
    assert "kunci-salah" not in wrong.log
