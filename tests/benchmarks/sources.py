"""Benchmarks of the platform spiders: a whole `scrapy crawl` of N generated posts against the loopback replay
server, with politeness switched to the replay server's generous limits (no delay, no AutoThrottle, 16 requests
at a time). The rate is posts landed per second of the spider's own crawl (Scrapy's elapsed_time_seconds, from
the engine's start to its close); the note gives the wall time of the whole process, start-up included."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import get_json, run_spider, start_replay

GENEROUS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "PANTAU_MAX_PAGES": "100000",
    "LOG_LEVEL": "INFO",
}
HOSTS = {"telegram": "t.me", "bluesky": "public.api.bsky.app", "x": "api.x.com", "youtube": "www.googleapis.com"}
_ELAPSED = re.compile(r"'elapsed_time_seconds': ([0-9.]+)")


def _targets(url: str, platform: str) -> list[dict[str, Any]]:
    rows = get_json(f"{url}/_replay/{platform}/targets")
    targets = []
    for row in rows:
        handle = row["handle"]
        if platform == "youtube":
            targets.append({"target": f"comments:{handle}", "kind": "comments", "value": handle})
        else:
            targets.append({"target": f"{row['kind']}:{handle}", "kind": row["kind"], "value": handle})
    return [{**t, "instance": HOSTS[platform], "since_id": None} for t in targets]


def bench_spider(platform: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, start_replay("--generate", str(n), "--seed", "13") as replay:
        targets = _targets(replay.url, platform)
        started = time.perf_counter()
        run = run_spider(
            platform,
            landing_dir=Path(tmp) / "landing",
            targets=targets,
            base_url=replay.url,
            settings=GENEROUS,
            env=REPLAY_CREDENTIALS,
            timeout=1800,
        )
        wall = time.perf_counter() - started
    if run.returncode != 0 or any(t["status"] != "ok" for t in run.targets):
        raise RuntimeError(f"{platform} crawl failed:\n{run.log[-3000:]}")
    posts = len(run.posts)
    crawl = float(_ELAPSED.search(run.log).group(1))  # type: ignore[union-attr]
    pages = sum(t["pages"] for t in run.targets)
    return {
        "stage": f"crawl {platform} (replay, `scrapy crawl`, {len(targets)} targets)",
        "n": posts,
        "seconds": crawl,
        "rate": posts / crawl,
        "note": f"{pages} pages; wall {wall:.1f} s with start-up = {posts / wall:,.0f} posts/s; "
        f"{len(run.rejects)} rejects",
    }


def bench_telegram(n: int = 10_000) -> dict[str, Any]:
    return bench_spider("telegram", n)


def bench_bluesky(n: int = 20_000) -> dict[str, Any]:
    return bench_spider("bluesky", n)


def bench_x(n: int = 20_000) -> dict[str, Any]:
    return bench_spider("x", n)


def bench_youtube(n: int = 20_000) -> dict[str, Any]:
    return bench_spider("youtube", n)
