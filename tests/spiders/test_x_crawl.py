"""Real X crawls: the replay server and `scrapy crawl x` as subprocesses, over loopback, with the replay bearer token.

`guru_pns` has 150 tweets (two pages of 100), `rahasia` is protected, `rusak` has good and broken tweets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.replay.answers import iso_z
from spiders.replay.platforms import REPLAY_CREDENTIALS
from spiders.replay.x import snowflake
from tests.spiders.helpers import run_spider, start_replay, write_jsonl

pytestmark = pytest.mark.slow

START = datetime(2024, 11, 1, tzinfo=UTC)
LATE = datetime(2024, 11, 20, tzinfo=UTC)
IDS = {"guru_pns": "1001", "rahasia": "1002", "rusak": "1003", "kampanye": "1004"}


def account(name: str, since: str | None = None) -> dict:
    return {"target": f"account:{name}", "kind": "account", "value": name, "instance": "api.x.com", "since_id": since}


def search(query: str, since: str | None = None) -> dict:
    return {"target": f"search:{query}", "kind": "search", "value": query, "instance": "api.x.com", "since_id": since}


def tweet(author: str, n: int, when: datetime, text: str, **extra: object) -> dict:
    row = {"id": snowflake(when, n), "author_id": IDS[author], "created_at": iso_z(when), "text": text, "lang": "in"}
    return {**row, "like_count": n, **extra}


@pytest.fixture
def platform_data(tmp_path: Path) -> Path:
    users = [
        {"id": IDS["guru_pns"], "username": "guru_pns", "name": "Pak Guru", "description": "Guru PNS SD Negeri 4"},
        {"id": IDS["rahasia"], "username": "rahasia", "name": "R", "description": "", "protected": True},
        {"id": IDS["rusak"], "username": "rusak", "name": "Rusak", "description": "uji"},
        {"id": IDS["kampanye"], "username": "kampanye", "name": "Paslon 02", "description": "akun paslon"},
    ]
    original = tweet("kampanye", 1, START, "Coblos nomor 2! #PilkadaUji")
    tweets = [original]
    tweets += [
        tweet("guru_pns", n, START + timedelta(hours=n + 1), f"Kabar sekolah {n} #PilkadaUji") for n in range(140)
    ]
    tweets.append(tweet("guru_pns", 140, START + timedelta(hours=200), "", retweet_of=original["id"]))
    tweets += [tweet("guru_pns", n, LATE + timedelta(hours=n), f"Kabar baru {n}") for n in range(141, 150)]
    tweets += [tweet("rusak", n, START + timedelta(hours=n), f"baik {n}") for n in range(3)]
    bad_id = snowflake(START + timedelta(hours=5), 9)
    tweets += [
        {"id": bad_id, "author_id": IDS["rusak"], "_raw": f'{{"id":"{bad_id}","text":"x","author_id":"9999"}}'},
        {"id": snowflake(START + timedelta(hours=6), 9), "author_id": IDS["rusak"], "_raw": "[1,2]"},
    ]
    root = tmp_path / "platforms"
    write_jsonl(root / "x" / "users.jsonl", users)
    write_jsonl(root / "x" / "tweets.jsonl", tweets)
    return root


def landed(run_landing: Path, run_id: str) -> list:
    return [parse_post(line) for line in (run_landing / f"{run_id}.jsonl").read_bytes().decode().splitlines()]


def test_timelines_search_and_refusals(platform_data: Path, tmp_path: Path) -> None:
    targets = [account(n) for n in ("guru_pns", "rahasia", "rusak", "tidak_ada")] + [search("#pilkadauji")]
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider("x", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS)
    assert run.returncode == 0, run.log[-3000:]
    posts = landed(run.landing, "run1")
    guru = [p for p in posts if p.author.handle == "guru_pns"]
    assert len(guru) == 150 and len({p.key for p in posts}) == len(posts)
    [retweet] = [p for p in guru if p.repost_of]
    assert retweet.text == "RT @kampanye: Coblos nomor 2! #PilkadaUji" and retweet.language == "id"
    rows = {t["target"]: t for t in run.targets}
    assert (rows["account:guru_pns"]["pages"], rows["account:guru_pns"]["fetched"]) == (2, 150)
    assert rows["account:rahasia"]["status"] == "not_public"
    assert rows["account:tidak_ada"]["status"] == "not_found"
    assert rows["search:#pilkadauji"]["fetched"] == 141
    rusak = rows["account:rusak"]
    assert (rusak["status"], rusak["fetched"], rusak["rejected"]) == ("ok", 3, 2)
    assert "tweet is a JSON array, not an object" in rusak["reasons"]
    assert REPLAY_CREDENTIALS["PANTAU_X_BEARER_TOKEN"] not in run.log


def test_since_id_fetches_only_new_posts(platform_data: Path, tmp_path: Path) -> None:
    with start_replay(
        "--platform-data", str(platform_data), "--clock", (LATE - timedelta(seconds=1)).isoformat()
    ) as replay:
        first = run_spider(
            "x", landing_dir=tmp_path / "l", targets=[account("guru_pns")], base_url=replay.url, env=REPLAY_CREDENTIALS
        )
        replay.set_clock(None)
        [row] = first.targets
        second = run_spider(
            "x",
            landing_dir=tmp_path / "l",
            targets=[account("guru_pns", since=row["newest_id"])],
            base_url=replay.url,
            env=REPLAY_CREDENTIALS,
            run_id="run2",
        )
    assert len(first.posts) == 141
    assert sorted(p.text for p in landed(second.landing, "run2")) == sorted(f"Kabar baru {n}" for n in range(141, 150))
    assert second.targets[0]["pages"] == 1


def test_missing_or_wrong_token(platform_data: Path, tmp_path: Path) -> None:
    wrong = {"PANTAU_X_BEARER_TOKEN": "salah-token"}
    with start_replay("--platform-data", str(platform_data)) as replay:
        missing = run_spider("x", landing_dir=tmp_path / "a", targets=[account("guru_pns")], base_url=replay.url)
        refused = run_spider(
            "x", landing_dir=tmp_path / "b", targets=[account("guru_pns")], base_url=replay.url, env=wrong
        )
        sent = replay.stats()["requests"]
    assert missing.returncode == refused.returncode == 0
    assert missing.targets[0]["status"] == "disabled" and "PANTAU_X_BEARER_TOKEN" in missing.targets[0]["detail"]
    assert (
        refused.targets[0]["status"] == "unauthorized" and "check PANTAU_X_BEARER_TOKEN" in refused.targets[0]["detail"]
    )
    assert sent.get("x:user_by_username") == 1  # the disabled run asked nothing
    assert "salah-token" not in refused.log


def test_rate_limit_window_is_waited_for(platform_data: Path, tmp_path: Path) -> None:
    with start_replay("--platform-data", str(platform_data), "--rate-limit", "2", "--rate-window", "5") as replay:
        started = time.monotonic()
        run = run_spider(
            "x",
            landing_dir=tmp_path / "l",
            targets=[account("guru_pns")],
            base_url=replay.url,
            env=REPLAY_CREDENTIALS,
            settings={"CONCURRENT_REQUESTS": "1"},
        )
        elapsed, stats = time.monotonic() - started, replay.stats()
    assert run.returncode == 0 and len(run.posts) == 150
    assert stats["rate_limited"] == 0 and "'pantau/ratelimit/waits'" in run.log and elapsed > 5
