"""One test over every registered spider: crawl its replay route over loopback with the targets the bundled demo
watchlist gives it, exactly as the flow would, and check that every item it landed is a valid Post."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapy.settings import Settings as ScrapySettings
from scrapy.spiderloader import SpiderLoader

from pipeline.schema import Platform, parse_post
from pipeline.targets import watch_targets
from pipeline.watchlist import read_watchlist
from spiders.replay import BUNDLED_DATA
from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import USER_AGENT, ReplayProcess, run_spider, start_replay

pytestmark = pytest.mark.slow


def registered_spiders() -> list[str]:
    loader = SpiderLoader.from_settings(ScrapySettings({"SPIDER_MODULES": ["spiders.platforms"]}))
    return sorted(loader.list())


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayProcess]:
    with start_replay() as server:
        yield server


def demo_targets(spider: str) -> list[dict]:
    rows, problems = read_watchlist(BUNDLED_DATA / "watchlist.csv")
    assert problems == []
    return [{**t, "since_id": None} for t in watch_targets([r for r in rows if r["enabled"]], spider)]


def test_spiders_are_registered_under_their_platform_names() -> None:
    names = registered_spiders()
    assert set(names) == {p.value for p in Platform} - {"import"}  # every platform but files has a spider


@pytest.mark.parametrize("spider", registered_spiders())
def test_every_registered_spider_crawls_its_replay_route(spider: str, replay: ReplayProcess, tmp_path: Path) -> None:
    targets = demo_targets(spider)
    assert targets, f"the demo watchlist follows nothing on {spider}"
    run = run_spider(
        spider, landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS
    )
    assert run.returncode == 0, run.log[-3000:]
    lines = (run.landing / "run1.jsonl").read_bytes().decode("utf-8").splitlines()
    posts = [parse_post(line) for line in lines]  # every item, read back exactly as the load reads it
    assert posts, f"{spider} landed nothing"
    assert {p.platform.value for p in posts} == {spider}
    assert len({p.key for p in posts}) == len(posts), "a post landed twice"
    assert {p.watch_target for p in posts} <= {t["target"] for t in targets}
    assert run.rejects == [], run.rejects[:3]  # the bundled sample is clean data
    assert sorted(t["target"] for t in run.targets) == sorted(t["target"] for t in targets)
    assert {t["target"]: t["status"] for t in run.targets} == {t["target"]: "ok" for t in targets}
    assert set(replay.stats()["user_agents"]) == {USER_AGENT}  # every request names pantau and a contact
