"""The nightly flow: crawl every enabled spider, load what each landed, refresh the review queue, record the run.

A spider that fails after its retries does not cost the others their posts: everything that landed is loaded, the
run is recorded as `partial`, and then the flow fails so Prefect shows it. A rerun loads nothing twice (posts are
upserted on their key, predictions are keyed by post, model version and text, the queue by post).
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from flows.crawl import CrawlResult, crawl
from flows.health import run_alerts, send_alert
from flows.load import LoadResult, load
from models.predict import Classifier
from pipeline.config import Settings
from pipeline.errors import CrawlError
from pipeline.review import pending_count, refresh_queue
from pipeline.secrets import local_secret
from pipeline.storage import Store, publish_snapshot
from pipeline.watchlist import read_watchlist


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def prepare(settings: Settings) -> Store:
    """Create or migrate the store; load the watchlist file when one is configured (bad rows are reported)."""
    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    if settings.watchlist_path is not None:
        rows, problems = read_watchlist(settings.watchlist_path)
        for problem in problems:
            get_run_logger().warning("watchlist line %d skipped: %s", problem.line, problem.reason)
        store.replace_watchlist(rows)
    return store


def spider_row(
    result: LoadResult, crawl_state: str, attempts: int, crawl_seconds: float, started: datetime, detail: str
) -> dict[str, Any]:
    status = "ok" if crawl_state == "ok" and not result.targets_failed else crawl_state
    if crawl_state == "ok" and result.targets_failed:
        status = "partial"
    return {
        "spider": result.spider,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "status": status,
        "attempts": attempts,
        "crawl_seconds": crawl_seconds,
        "load_seconds": result.seconds,
        "fetched": result.fetched,
        "new_posts": result.new_posts,
        "updated_posts": result.updated_posts,
        "rejected": result.rejected,
        "targets_ok": result.targets_ok,
        "targets_failed": len(result.targets_failed),
        "detail": "; ".join(([detail] if detail else []) + result.targets_failed)[:4000],
    }


def _totals(results: list[LoadResult], queued: int) -> dict[str, Any]:
    flagged: Counter[str] = Counter()
    for r in results:
        flagged.update(r.flagged_per_label)
    return {
        "fetched": sum(r.fetched for r in results),
        "new_posts": sum(r.new_posts for r in results),
        "updated_posts": sum(r.updated_posts for r in results),
        "rejected": sum(r.rejected for r in results),
        "classified": sum(r.classified for r in results),
        "flagged": sum(flagged.values()),
        "queued": queued,
        "flagged_per_label": dict(sorted(flagged.items())),
    }


@task(name="alert", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def notify(url: str, payload: dict[str, Any]) -> int:
    """Prefect task: POST the run's alerts to the operator's webhook (retried: it is I/O)."""
    return send_alert(url, payload)


@task(name="snapshot", cache_policy=NO_CACHE)
def publish(settings: Settings) -> None:
    """Prefect task: publish the analysts' snapshot so that their notebooks never touch the live store."""
    store = Store(settings.database, settings.lock_timeout_s)
    salt = local_secret(settings.data_dir, "pseudonym-salt")
    info = publish_snapshot(store, settings.snapshot_path, settings.timezone, salt)
    get_run_logger().info("snapshot published: %s (%.1f s)", info.path, info.seconds)


@flow(name="pantau-nightly")
def nightly(
    run_id: str | None = None, spiders: list[str] | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One nightly run. `overrides` are Settings fields (e.g. data_dir, replay_url) on top of the environment."""
    settings = Settings.from_env(**(overrides or {}))
    run_id = run_id or new_run_id()
    spiders = spiders or settings.spiders
    logger = get_run_logger()
    store = prepare(settings)
    store.start_run(run_id, spiders)
    started = datetime.now(UTC)
    futures: dict[str, PrefectFuture[CrawlResult]] = {
        name: crawl.with_options(retries=settings.crawl_retries).submit(settings, name, run_id) for name in spiders
    }
    results, failures = [], []
    # the classifier may start a helper process for the second core: close it when the loads are done
    with Classifier.load(settings.model_dir) as classifier:
        version = classifier.version
        for name, future in futures.items():
            future.wait()
            state = future.state
            crawl_state, detail, seconds, attempts = "ok", "", 0.0, settings.crawl_retries + 1
            if state.is_completed():
                done = future.result()
                seconds, attempts = done.seconds, done.attempts
            else:
                crawl_state, detail = "failed", str(state.message or state.name)
                failures.append(f"{name}: {detail}")
                logger.error("spider %s failed after retries: %s; loading what it landed", name, detail)
            result = load(settings, name, run_id, classifier)
            results.append(result)
            store.record_spider(run_id, spider_row(result, crawl_state, attempts, seconds, started, detail))
    return close_run(settings, store, run_id, results, failures, version)


def close_run(
    settings: Settings,
    store: Store,
    run_id: str,
    results: list[LoadResult],
    failures: list[str],
    model_version: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """After the loads (shared with the sharded run, flows/shards.py): refresh the queue, record the run, publish the
    snapshot, alert; return the summary (with `extra`), or raise CrawlError when something failed."""
    logger = get_run_logger()
    queued = refresh_queue(store, run_id, model_version)
    totals = _totals(results, queued)
    status = "partial" if failures else "ok"
    store.finish_run(run_id, status, totals, "; ".join(failures))
    if settings.snapshot_after_run:
        publish(settings)
    alerts = run_alerts(store, settings, run_id)
    if alerts:
        logger.warning("run %s needs attention: %s", run_id, "; ".join(alerts))
        if settings.alert_webhook_url:
            notify.submit(
                settings.alert_webhook_url, {"run_id": run_id, "status": status, "alerts": alerts, **totals}
            ).wait()
    summary = {
        "run_id": run_id,
        "status": status,
        **totals,
        "pending": pending_count(store),
        "alerts": alerts,
        "reject_reasons": dict(sum((r.reject_reasons for r in results), Counter()).most_common(10)),
        **(extra or {}),
    }
    if failures:
        raise CrawlError(f"run {run_id} is partial: {'; '.join(failures)}")
    return summary
