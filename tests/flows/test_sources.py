"""Collection through the flow's own functions (build_targets → run_spider → load_spider) for every platform:
secrets reach spiders through the environment only and are never written down; a spider killed with SIGKILL
halfway loses and duplicates nothing once the next run has collected the rest; a spent YouTube quota resumes the
next night from the stored page token; a feed's validators are kept between runs."""

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
from spiders.replay import BUNDLED_DATA
from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import ReplayProcess, clean_env, get_json, start_replay

pytestmark = pytest.mark.slow

SECRETS = {name.removeprefix("PANTAU_").lower(): value for name, value in REPLAY_CREDENTIALS.items()}
HEADER = "kind,platform,handle,name,agency,region_code,region_name,nip,identified_by,enabled\n"


@pytest.fixture(scope="module")
def classifier() -> Iterator[Classifier]:
    with Classifier.load(workers=0) as model:
        yield model


def settings_for(data_dir: Path, replay: ReplayProcess, **knobs: object) -> Settings:
    defaults = {"download_delay_s": 0, "autothrottle": False, "concurrent_requests": 8}
    return Settings.from_env({}, data_dir=data_dir, replay_url=replay.url, **{**defaults, **SECRETS, **knobs})


def store_with_watchlist(settings: Settings, watchlist: Path) -> Store:
    store = Store(settings.database)
    store.init()
    rows, problems = read_watchlist(watchlist)
    assert problems == []
    store.replace_watchlist(rows)
    return store


def generated_watchlist(path: Path, replay: ReplayProcess, platform: str) -> Path:
    rows = get_json(f"{replay.url}/_replay/{platform}/targets")
    lines = [f"{r['kind']},{platform},{r['handle']},,,35.91,Kabupaten Tanah Merah,,uji,true\n" for r in rows]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def test_secrets_travel_in_the_environment_and_are_never_written_down(tmp_path: Path) -> None:
    with start_replay() as replay:
        settings = settings_for(tmp_path, replay)
        store = store_with_watchlist(settings, BUNDLED_DATA / "watchlist.csv")
        for spider in ("bluesky", "x", "youtube"):
            targets = build_targets(store, spider)
            command = " ".join(spider_command(settings, spider, "r1", tmp_path / "t.json"))
            assert not any(secret in command for secret in SECRETS.values())
            run_spider(settings, spider, "r1", targets)
            rows = [
                json.loads(line) for line in landing_paths(settings, spider, "r1")["targets"].read_text().splitlines()
            ]
            assert {r["status"] for r in rows} == {"ok"}, rows  # the secrets did arrive
    written = [p for p in settings.landing_dir.rglob("*") if p.is_file()]
    assert len(written) == 3 * 6  # posts, rejects, targets, deletions, input and log per spider
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaked = [name for name, secret in SECRETS.items() if secret in text and name != "bluesky_handle"]
        assert leaked == [], f"{path.name} holds {leaked}"


@pytest.mark.parametrize(
    ("spider", "generate", "kill_after"),
    [("telegram", 2000, 30), ("bluesky", 2000, 8), ("x", 2000, 8), ("youtube", 4000, 15), ("rss", 400, 100)],
)
def test_spider_killed_mid_crawl_loses_and_duplicates_nothing(
    spider: str, generate: int, kill_after: int, tmp_path: Path, classifier: Classifier
) -> None:
    with start_replay("--generate", str(generate), "--seed", "5") as replay:
        settings = settings_for(tmp_path / "data", replay, download_delay_s=0.02, concurrent_requests=1)
        store = store_with_watchlist(settings, generated_watchlist(tmp_path / "w.csv", replay, spider))
        paths = landing_paths(settings, spider, "killed")
        paths["input"].parent.mkdir(parents=True, exist_ok=True)
        targets = build_targets(store, spider)
        paths["input"].write_text(json.dumps(targets), encoding="utf-8")
        proc = subprocess.Popen(
            spider_command(settings, spider, "killed", paths["input"]),
            cwd=PROJECT_ROOT,
            env=clean_env(SCRAPY_SETTINGS_MODULE="spiders.settings", **REPLAY_CREDENTIALS),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _platform_requests(replay, spider) < kill_after:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = load_spider(settings, spider, "killed", classifier)
        assert killed.targets_ok < len(targets), "the kill should land mid-crawl"
        fast = settings_for(tmp_path / "data", replay)
        run_spider(fast, spider, "next", build_targets(store, spider))
        after = load_spider(fast, spider, "next", classifier)
        expected = _published(replay, spider)
    total = store.query("SELECT count(*) AS n, count(DISTINCT platform_post_id) AS d FROM posts")[0]
    assert total == {"n": expected, "d": expected}
    assert killed.new_posts + after.new_posts == expected and after.targets_ok == len(targets)


def _platform_requests(replay: ReplayProcess, platform: str) -> int:
    return sum(n for kind, n in replay.stats()["requests"].items() if kind.startswith(f"{platform}:"))


def _published(replay: ReplayProcess, platform: str) -> int:
    health = replay.health()["platforms"][platform]
    keys = {"telegram": ["messages"], "bluesky": ["feed_items"], "x": ["tweets"], "youtube": ["comments", "videos"]}
    return sum(health[k] for k in keys.get(platform, ["articles"]))


def test_spent_quota_resumes_the_next_night_from_the_stored_page(tmp_path: Path, classifier: Classifier) -> None:
    with start_replay("--generate", "2000", "--seed", "9") as replay:
        settings = settings_for(tmp_path / "data", replay, concurrent_requests=1)
        store = store_with_watchlist(settings, generated_watchlist(tmp_path / "w.csv", replay, "youtube"))
        get_json(f"{replay.url}/_replay/youtube/quota?limit=6&reset=1", "POST")
        run_spider(settings, "youtube", "night1", build_targets(store, "youtube"))
        first = load_spider(settings, "youtube", "night1", classifier)
        state = store.target_state("youtube")
        resumed = build_targets(store, "youtube")
        get_json(f"{replay.url}/_replay/youtube/quota?limit=10000&reset=1", "POST")  # the next day
        run_spider(settings, "youtube", "night2", resumed)
        second = load_spider(settings, "youtube", "night2", classifier)
        expected = _published(replay, "youtube")
    assert first.targets_failed and all("rate_limited" in f for f in first.targets_failed)  # the quota stopped it
    assert any(s.get("resume") for s in state.values()) and store.cursors("youtube") != {}
    assert [t for t in resumed if t.get("resume")], "the stored page token goes back to the spider"
    assert first.new_posts + second.new_posts == expected == store.query("SELECT count(*) AS n FROM posts")[0]["n"]
    assert second.targets_failed == [] and store.target_state("youtube") == {}  # nothing left to resume


def test_feed_validators_are_kept_and_sent_back(tmp_path: Path, classifier: Classifier) -> None:
    watchlist = tmp_path / "w.csv"
    watchlist.write_text(HEADER + "feed,rss,https://bawaslu-tanahmerah.example/berita/feed.atom,,,35.91,X,,uji,true\n")
    with start_replay() as replay:
        settings = settings_for(tmp_path / "data", replay)
        store = store_with_watchlist(settings, watchlist)
        run_spider(settings, "rss", "r1", build_targets(store, "rss"))
        load_spider(settings, "rss", "r1", classifier)
        [second] = build_targets(store, "rss")
        run_spider(settings, "rss", "r2", [second])
        result = load_spider(settings, "rss", "r2", classifier)
    assert second["etag"] and second["last_modified"] and second["since_id"]
    rows = landing_paths(settings, "rss", "r2")["targets"].read_text()
    assert "feed not modified since the last run (304)" in rows and result.fetched == 0
    assert store.target_state("rss")[second["target"]]["etag"] == second["etag"]
