"""Crawl one spider: write its targets file, run `scrapy crawl` in a subprocess, report what it wrote.

Spiders are started by name in a subprocess (Twisted's reactor cannot restart inside one process), never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import CrawlError
from pipeline.storage import Store


@dataclass(frozen=True)
class CrawlResult:
    spider: str
    landing: Path
    seconds: float
    targets: int
    attempts: int = 1


def landing_paths(settings: Settings, spider: str, run_id: str) -> dict[str, Path]:
    base = settings.landing_dir.resolve() / spider
    return {
        "posts": base / f"{run_id}.jsonl",
        "rejects": base / f"{run_id}.rejects.jsonl",
        "targets": base / f"{run_id}.targets.jsonl",
        "input": base / f"{run_id}.input.json",
        "log": base / f"{run_id}.log",
    }


def _default_instance(accounts: list[dict[str, Any]]) -> str | None:
    instances = Counter(row["handle"].split("@", 1)[1].lower() for row in accounts)
    return instances.most_common(1)[0][0] if instances else None


def build_targets(store: Store, spider: str) -> list[dict[str, Any]]:
    """The spider's targets from the enabled watchlist rows of its platform, with each target's cursor."""
    rows = [r for r in store.watchlist(enabled_only=True) if r["platform"] == spider]
    cursors = store.cursors(spider)
    accounts = [r for r in rows if r["kind"] == "account"]
    default_instance = _default_instance(accounts)
    targets = []
    for row in rows:
        value, _, instance = row["handle"].lstrip("#@").partition("@")
        if row["kind"] == "account":
            target = {
                "target": f"account:{row['handle'].lower()}",
                "kind": "account",
                "value": row["handle"].lower(),
                "instance": instance.lower(),
            }
        else:
            instance = instance or default_instance or ""
            target = {
                "target": f"tag:{value.lower()}@{instance}",
                "kind": "hashtag",
                "value": value.lower(),
                "instance": instance.lower(),
            }
        target["since_id"] = cursors.get(target["target"])
        targets.append(target)
    return targets


def spider_command(settings: Settings, spider: str, run_id: str, targets_file: Path) -> list[str]:
    """The exact `scrapy crawl` command line for one spider and run."""
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        spider,
        "-a",
        f"run_id={run_id}",
        "-a",
        f"landing_dir={settings.landing_dir.resolve()}",
        "-a",
        f"targets_file={targets_file}",
    ]
    if settings.replay_url:
        cmd += ["-a", f"base_url={settings.replay_url}"]
    scrapy_settings = {
        "USER_AGENT": settings.full_user_agent(),
        "CONCURRENT_REQUESTS": settings.concurrent_requests,
        "DOWNLOAD_DELAY": settings.download_delay_s,
        "AUTOTHROTTLE_ENABLED": settings.autothrottle,
        "PANTAU_MAX_PAGES": settings.max_pages_per_target,
        "LOG_LEVEL": "INFO",
    }
    for key, value in scrapy_settings.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def run_spider(settings: Settings, spider: str, run_id: str, targets: list[dict[str, Any]]) -> CrawlResult:
    """Run the spider to completion; raise CrawlError (so Prefect retries) if it exits with an error."""
    paths = landing_paths(settings, spider, run_id)
    paths["input"].parent.mkdir(parents=True, exist_ok=True)
    paths["input"].write_text(json.dumps(targets, ensure_ascii=False, indent=1), encoding="utf-8")
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "spiders.settings", "PYTHONPATH": str(PROJECT_ROOT)}
    started = time.monotonic()
    with paths["log"].open("ab") as log:
        try:
            proc = subprocess.run(
                spider_command(settings, spider, run_id, paths["input"]),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=settings.crawl_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CrawlError(f"spider {spider} ran over {settings.crawl_timeout_s:.0f} s; see {paths['log']}") from None
    if proc.returncode != 0:
        raise CrawlError(f"spider {spider} exited with code {proc.returncode}; see {paths['log']}")
    return CrawlResult(spider, paths["posts"], time.monotonic() - started, len(targets))


@task(name="crawl", cache_policy=NO_CACHE, retry_delay_seconds=2)
def crawl(settings: Settings, spider: str, run_id: str) -> CrawlResult:
    """Prefect task: build targets from the store, then crawl. Retried on failure (set by the flow)."""
    targets = build_targets(Store(settings.database, settings.lock_timeout_s), spider)
    attempt = task_run.get_run_count() or 1
    get_run_logger().info("crawling %s: %d targets (attempt %d)", spider, len(targets), attempt)
    result = run_spider(settings, spider, run_id, targets)
    return CrawlResult(result.spider, result.landing, result.seconds, result.targets, attempt)
