"""Real Bluesky crawls: the replay server and `scrapy crawl bluesky` as subprocesses, over loopback.

`guru.bsky.social` has 130 posts (two feed pages of 100) and reposts one of `kabar.bsky.social`'s posts;
`rusak.bsky.social` has good posts and broken feed entries. Search needs the replay server's app password."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.replay.answers import iso_z
from spiders.replay.bluesky import tid
from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import run_spider, start_replay, write_jsonl

pytestmark = pytest.mark.slow

START = datetime(2024, 11, 1, tzinfo=UTC)
LATE = datetime(2024, 11, 20, tzinfo=UTC)


def account(handle: str, since: str | None = None) -> dict:
    target = {"target": f"account:{handle}", "kind": "account", "value": handle, "instance": "public.api.bsky.app"}
    return {**target, "since_id": since}


def search(query: str, since: str | None = None) -> dict:
    return {"target": f"search:{query}", "kind": "search", "value": query, "instance": "bsky.social", "since_id": since}


def post_row(actor: str, n: int, when: datetime, text: str) -> dict:
    return {
        "rkey": tid(when, n),
        "actor": actor,
        "createdAt": iso_z(when),
        "text": text,
        "langs": ["id"],
        "likeCount": n,
    }


@pytest.fixture
def platform_data(tmp_path: Path) -> Path:
    actors = [
        {"did": f"did:plc:{name}", "handle": f"{name}.bsky.social", "displayName": name.title(), "description": bio}
        for name, bio in (("guru", "Guru PNS di SD Negeri 1"), ("kabar", "Berita lokal"), ("rusak", "Akun uji"))
    ]
    posts = [post_row("guru.bsky.social", n, START + timedelta(hours=n), f"Kabar {n} #PilkadaUji") for n in range(120)]
    posts += [post_row("guru.bsky.social", n, LATE + timedelta(hours=n), f"Kabar baru {n}") for n in range(120, 129)]
    kabar = post_row(
        "kabar.bsky.social", 1, START + timedelta(minutes=30), "Bawaslu ingatkan netralitas ASN #PilkadaUji"
    )
    posts.append(kabar)
    repost_at = START + timedelta(days=2, minutes=7)
    posts.append(
        {"rkey": tid(repost_at), "actor": "guru.bsky.social", "createdAt": iso_z(repost_at),
         "repost_of": f"at://did:plc:kabar/app.bsky.feed.post/{kabar['rkey']}"}
    )  # fmt: skip
    posts += [post_row("rusak.bsky.social", n, START + timedelta(hours=n), f"Baik {n}") for n in range(3)]
    bad = '{"post":{"uri":"at://did:plc:rusak/app.bsky.feed.post/x","record":{"text":"t","createdAt":"2024-11-01"}}}'
    posts += [
        {"actor": "rusak.bsky.social", "createdAt": "2024-11-01T05:00:00Z", "_raw": bad},
        {"actor": "rusak.bsky.social", "createdAt": "2024-11-01T06:00:00Z", "_raw": '"bukan objek"'},
    ]
    root = tmp_path / "platforms"
    write_jsonl(root / "bluesky" / "actors.jsonl", actors)
    write_jsonl(root / "bluesky" / "posts.jsonl", posts)
    return root


def landed(run_landing: Path, run_id: str) -> list:
    return [parse_post(line) for line in (run_landing / f"{run_id}.jsonl").read_bytes().decode().splitlines()]


def test_feeds_reposts_bios_and_search(platform_data: Path, tmp_path: Path) -> None:
    targets = [account("guru.bsky.social"), account("rusak.bsky.social"), search("#pilkadauji")]
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider(
            "bluesky", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS
        )
    assert run.returncode == 0, run.log[-3000:]
    posts = landed(run.landing, "run1")
    guru = [p for p in posts if p.author.handle == "guru.bsky.social"]
    assert len(guru) == 130 and len({p.key for p in posts}) == len(posts)  # a post found twice lands once
    assert all(p.author.bio == "Guru PNS di SD Negeri 1" for p in posts if p.watch_target.startswith("account:guru"))
    [repost] = [p for p in guru if p.repost_of]
    assert repost.text.startswith("Bawaslu ingatkan") and repost.watch_target == "account:guru.bsky.social"
    assert repost.platform_post_id.startswith("at://did:plc:guru/app.bsky.feed.repost/")
    rows = {t["target"]: t for t in run.targets}
    assert (rows["account:guru.bsky.social"]["pages"], rows["account:guru.bsky.social"]["fetched"]) == (2, 130)
    assert rows["account:guru.bsky.social"]["newest_id"] == (LATE + timedelta(hours=128)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    assert rows["search:#pilkadauji"]["fetched"] == 121  # 120 of guru's and kabar's; a repost is no search hit
    rusak = rows["account:rusak.bsky.social"]
    assert (rusak["status"], rusak["fetched"], rusak["rejected"]) == ("ok", 3, 2)
    assert "feed entry is a JSON string, not an object" in rusak["reasons"]
    assert "post without author" in rusak["reasons"]


def test_missing_or_wrong_secret_disables_search_only(platform_data: Path, tmp_path: Path) -> None:
    targets = [account("kabar.bsky.social"), search("#pilkadauji")]
    wrong = {**REPLAY_CREDENTIALS, "PANTAU_BLUESKY_APP_PASSWORD": "salah"}
    with start_replay("--platform-data", str(platform_data)) as replay:
        missing = run_spider("bluesky", landing_dir=tmp_path / "a", targets=targets, base_url=replay.url)
        refused = run_spider("bluesky", landing_dir=tmp_path / "b", targets=targets, base_url=replay.url, env=wrong)
    assert missing.returncode == refused.returncode == 0
    for run in (missing, refused):
        assert run.target("account:kabar.bsky.social")["status"] == "ok" and len(run.posts) == 1
    disabled = missing.target("search:#pilkadauji")
    assert disabled["status"] == "disabled" and "PANTAU_BLUESKY_APP_PASSWORD" in disabled["detail"]
    assert "search disabled" in missing.log
    unauthorized = refused.target("search:#pilkadauji")
    assert unauthorized["status"] == "unauthorized" and "Invalid identifier or password" in unauthorized["detail"]
    assert "salah" not in refused.log


def test_incremental_feed_and_search(platform_data: Path, tmp_path: Path) -> None:
    targets = [account("guru.bsky.social"), search("#pilkadauji")]
    clock = (LATE - timedelta(seconds=1)).isoformat()
    with start_replay("--platform-data", str(platform_data), "--clock", clock) as replay:
        first = run_spider(
            "bluesky", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS
        )
        cursors = {t["target"]: t["newest_id"] for t in first.targets}
        replay.set_clock(None)
        second = run_spider(
            "bluesky",
            landing_dir=tmp_path / "l",
            targets=[{**t, "since_id": cursors[t["target"]]} for t in targets],
            base_url=replay.url,
            env=REPLAY_CREDENTIALS,
            run_id="run2",
        )
    assert len(landed(first.landing, "run1")) == 122  # guru's 120 and the repost, and kabar's post via search
    new = landed(second.landing, "run2")
    assert sorted(p.text for p in new) == sorted(f"Kabar baru {n}" for n in range(120, 129))
    assert second.target("account:guru.bsky.social")["pages"] == 1
    assert second.target("search:#pilkadauji")["fetched"] == 0  # the late posts carry no tag


def test_429_and_rate_limit_headers_are_honoured(platform_data: Path, tmp_path: Path) -> None:
    with start_replay("--platform-data", str(platform_data), "--rate-limit", "2", "--rate-window", "5") as replay:
        started = time.monotonic()
        run = run_spider(
            "bluesky",
            landing_dir=tmp_path / "l",
            targets=[account("guru.bsky.social")],
            base_url=replay.url,
            settings={"CONCURRENT_REQUESTS": "1"},
        )
        elapsed = time.monotonic() - started
        stats = replay.stats()
    assert run.returncode == 0, run.log[-3000:]
    assert len(run.posts) == 130 and stats["rate_limited"] == 0  # waited for ratelimit-reset instead
    assert "'pantau/ratelimit/waits'" in run.log and elapsed > 5
    with start_replay("--platform-data", str(platform_data), "--fault-every", "2") as replay:
        faulty = run_spider(
            "bluesky", landing_dir=tmp_path / "f", targets=[account("guru.bsky.social")], base_url=replay.url
        )
        assert replay.stats()["faults"]["429"] >= 1
    assert len(faulty.posts) == 130 and faulty.targets[0]["status"] == "ok"
