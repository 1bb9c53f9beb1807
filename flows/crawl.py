"""Crawl one spider: write its targets file, run `scrapy crawl` in a subprocess, report what it wrote.

Spiders are started by name in a subprocess (Twisted's reactor cannot restart inside one process), never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import CrawlError
from pipeline.storage import Store
from pipeline.targets import recheck_targets, watch_targets


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
        "deletions": base / f"{run_id}.deletions.jsonl",
        "input": base / f"{run_id}.input.json",
        "log": base / f"{run_id}.log",
    }


def build_targets(store: Store, spider: str, recheck_days: int = 0) -> list[dict[str, Any]]:
    """The spider's targets from the enabled watchlist rows of its platform, with each target's cursor and state;
    with recheck_days, also the flagged posts first captured within that many days, to be fetched again."""
    cursors, state = store.cursors(spider), store.target_state(spider)
    targets = watch_targets(store.watchlist(enabled_only=True), spider)
    for target in targets:
        target["since_id"] = cursors.get(target["target"])
        target.update(state.get(target["target"], {}))  # where a cut-off run stopped, the feed's validators
    if recheck_days > 0:
        since = datetime.now(UTC) - timedelta(days=recheck_days)
        targets += [{**t, "since_id": None} for t in recheck_targets(spider, store.recheck_posts(spider, since))]
    return targets


def scrapy_command(
    spider: str, run_id: str, landing_dir: Path, targets_file: Path, base_url: str | None, options: dict[str, Any]
) -> list[str]:
    """`python -m scrapy crawl SPIDER` with pantau's spider arguments and Scrapy settings (`-s KEY=VALUE`)."""
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"run_id={run_id}"]
    cmd += ["-a", f"landing_dir={landing_dir}", "-a", f"targets_file={targets_file}"]
    if base_url:
        cmd += ["-a", f"base_url={base_url}"]
    for key, value in options.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def spider_command(settings: Settings, spider: str, run_id: str, targets_file: Path) -> list[str]:
    """The exact `scrapy crawl` command line for one spider and run."""
    scrapy_settings = {
        "USER_AGENT": settings.full_user_agent(),
        "CONCURRENT_REQUESTS": settings.concurrent_requests,
        "DOWNLOAD_DELAY": settings.download_delay_s,
        "AUTOTHROTTLE_ENABLED": settings.autothrottle,
        "PANTAU_MAX_PAGES": settings.max_pages_per_target,
        "LOG_LEVEL": "INFO",
    }
    landing_dir = settings.landing_dir.resolve()
    return scrapy_command(spider, run_id, landing_dir, targets_file, settings.replay_url, scrapy_settings)


def run_spider(settings: Settings, spider: str, run_id: str, targets: list[dict[str, Any]]) -> CrawlResult:
    """Run the spider to completion; raise CrawlError (so Prefect retries) if it exits with an error."""
    paths = landing_paths(settings, spider, run_id)
    paths["input"].parent.mkdir(parents=True, exist_ok=True)
    paths["input"].write_text(json.dumps(targets, ensure_ascii=False, indent=1), encoding="utf-8")
    # Secrets travel in the environment only: a command line is visible to every user of the machine.
    env = {
        **os.environ,
        **settings.secret_environment(),
        "SCRAPY_SETTINGS_MODULE": "spiders.settings",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
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
    targets = build_targets(Store(settings.database, settings.lock_timeout_s), spider, settings.recheck_days)
    attempt = task_run.get_run_count() or 1
    get_run_logger().info("crawling %s: %d targets (attempt %d)", spider, len(targets), attempt)
    result = run_spider(settings, spider, run_id, targets)
    return CrawlResult(result.spider, result.landing, result.seconds, result.targets, attempt)


@dataclass(frozen=True)
class TargetResult:
    """How one target of a crawl ended, read back from the landing files (what `pantau crawl` prints)."""

    target: str
    status: str  # a TargetStatus, or "unfinished" when the spider stopped before the target's paging ended
    posts: int = 0  # posts newer than the target's cursor
    skipped: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    detail: str = ""


def target_results(settings: Settings, spider: str, run_id: str) -> list[TargetResult]:
    """One result per target the spider was given (from `<run_id>.input.json` and `.targets.jsonl`)."""
    paths = landing_paths(settings, spider, run_id)
    rows: dict[str, TargetResult] = {}
    if paths["targets"].exists():
        for number, line in enumerate(paths["targets"].read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            result = _target_result(line, number)
            rows[result.target] = result
    asked = _asked_targets(paths["input"])
    unfinished = [
        TargetResult(name, "unfinished", detail="the crawl stopped before this target's paging ended; no cursor move")
        for name in asked
        if name not in rows
    ]
    return list(rows.values()) + unfinished


def _target_result(line: str, number: int) -> TargetResult:
    try:
        row = json.loads(line)
        return TargetResult(
            target=str(row["target"]),
            status=str(row["status"]),
            posts=int(row.get("fetched") or 0),
            skipped=int(row.get("skipped") or 0),
            rejected=int(row.get("rejected") or 0),
            reasons={str(k): int(v) for k, v in (row.get("reasons") or {}).items()},
            detail=str(row.get("detail") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return TargetResult(f"(targets line {number})", "error", detail=f"unreadable targets row: {exc}")


def _asked_targets(path: Path) -> list[str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e["target"] for e in entries if isinstance(e, dict) and isinstance(e.get("target"), str)]
