"""Load one spider's landing files: validate each line, dedupe, classify what is new, store, advance cursors.

Streams the file in batches (a night's posts never sit in memory at once). Every line that cannot become a Post
is kept as a reject with its reason; nothing is dropped silently and one bad line never stops the load.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import ValidationError

from flows.classify import classify_posts
from flows.crawl import landing_paths
from models.predict import Classifier
from pipeline.config import Settings
from pipeline.schema import Post, Reject, explain_validation_error, sha256_text
from pipeline.storage import PostWriter, Store, posts_to_arrow


@dataclass
class LoadResult:
    spider: str
    fetched: int = 0
    new_posts: int = 0
    updated_posts: int = 0
    unchanged_posts: int = 0
    rejected: int = 0
    classified: int = 0
    flagged_per_label: Counter[str] = field(default_factory=Counter)
    targets_ok: int = 0
    targets_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    writes: int = 0  # transactions that wrote posts, predictions and rejects
    longest_write_s: float = 0.0  # the longest one of them held the store
    reject_reasons: Counter[str] = field(default_factory=Counter)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line.rstrip(b"\r\n")


def _validate(line: bytes, number: int, spider: str, run_id: str) -> Post | Reject:
    try:
        return Post.model_validate_json(line)
    except ValidationError as err:
        reason = explain_validation_error(err)
    text = line.decode("utf-8", "replace")
    return Reject(stage="validate", source=spider, reason=f"line {number}: {reason}", raw=text, run_id=run_id)


def _batches(path: Path, size: int, spider: str, run_id: str) -> Iterator[tuple[list[Post], list[Reject], int]]:
    posts: list[Post] = []
    rejects: list[Reject] = []
    read = 0
    for number, line in _lines(path):
        read += 1
        item = _validate(line, number, spider, run_id)
        (posts if isinstance(item, Post) else rejects).append(item)  # type: ignore[arg-type]
        if len(posts) + len(rejects) >= size:
            yield posts, rejects, read
            posts, rejects, read = [], [], 0
    if posts or rejects or read:
        yield posts, rejects, read


def _dedupe(posts: list[Post]) -> list[Post]:
    """One row per key within a batch (ON CONFLICT cannot take duplicates); the latest capture wins."""
    latest: dict[tuple[str, str], Post] = {}
    for post in posts:
        kept = latest.get(post.key)
        if kept is None or post.collected_at >= kept.collected_at:
            latest[post.key] = post
    return list(latest.values())


def _crawl_rejects(path: Path, spider: str, run_id: str) -> list[Reject]:
    rejects = []
    for number, line in _lines(path):
        try:
            rejects.append(Reject.model_validate_json(line))
        except ValidationError as err:
            rejects.append(
                Reject(
                    stage="crawl",
                    source=spider,
                    raw=line.decode("utf-8", "replace"),
                    run_id=run_id,
                    reason=f"unreadable reject line {number}: {explain_validation_error(err)}",
                )
            )
    return rejects


def _targets(path: Path) -> tuple[dict[str, str], int, list[str]]:
    newest, ok, failed = {}, 0, []
    for _, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            failed.append(f"unreadable target line: {line[:200]!r}")
            continue
        if row.get("status") == "ok":
            ok += 1
            if row.get("newest_id"):
                newest[row["target"]] = str(row["newest_id"])
        else:
            failed.append(f"{row.get('target')}: {row.get('status')} {row.get('detail', '')}".strip())
    return newest, ok, failed


def _target_rows(path: Path, key: str = "target") -> list[dict[str, Any]]:
    """The readable rows of a targets file (what each finished target left: resume point, feed validators) or of
    a deletions file (flagged posts a re-fetch found gone); a line cut off by a killed spider is skipped."""
    rows = []
    for _, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a targets line is reported by _targets; a deletion is noticed again next run
        if isinstance(row, dict) and isinstance(row.get(key), str):
            rows.append(row)
    return rows


def load_spider(settings: Settings, spider: str, run_id: str, classifier: Classifier) -> LoadResult:
    """Load everything one spider landed for this run. Validated and classified in batches of
    `settings.batch_size`; written in larger chunks, each one transaction (`PostWriter`)."""
    started = time.monotonic()
    store = Store(settings.database, settings.lock_timeout_s)
    paths = landing_paths(settings, spider, run_id)
    result = LoadResult(spider)
    crawl_rejects = _crawl_rejects(paths["rejects"], spider, run_id)
    result.fetched += len(crawl_rejects)
    result.rejected += len(crawl_rejects)
    result.reject_reasons.update(r.reason.split(":")[0] for r in crawl_rejects)
    with PostWriter(store, run_id, spill_dir=settings.data_dir / "tmp") as writer:
        writer.add(None, None, crawl_rejects)
        for posts, rejects, read in _batches(paths["posts"], settings.batch_size, spider, run_id):
            _load_batch(writer, classifier, run_id, _dedupe(posts), rejects, result)
            result.fetched += read
    result.new_posts, result.updated_posts = writer.counts.new, writer.counts.updated
    result.unchanged_posts = writer.counts.unchanged
    result.writes, result.longest_write_s = writer.writes, writer.longest_write_s
    newest, result.targets_ok, result.targets_failed = _targets(paths["targets"])
    store.advance_cursors(spider, run_id, newest)
    store.save_target_state(spider, run_id, _target_rows(paths["targets"]))
    store.record_deletions(run_id, _target_rows(paths["deletions"], key="platform_post_id"))
    result.seconds = time.monotonic() - started
    return result


def _load_batch(
    writer: PostWriter,
    classifier: Classifier,
    run_id: str,
    posts: list[Post],
    rejects: list[Reject],
    result: LoadResult,
) -> None:
    shas = [sha256_text(p.text) for p in posts]
    table = posts_to_arrow(posts, shas, run_id)
    done = writer.predicted_keys(table.select(["platform", "platform_post_id", "text_sha256"]), classifier.version)
    todo = [i for i, p in enumerate(posts) if (p.platform.value, p.platform_post_id, shas[i]) not in done]
    predictions: pa.Table | None = None
    if todo:
        predictions, flagged = classify_posts(classifier, [posts[i] for i in todo], [shas[i] for i in todo], run_id)
        result.classified += len(todo)
        result.flagged_per_label.update(flagged)
    writer.add(table, predictions, rejects)
    result.rejected += len(rejects)
    result.reject_reasons.update(r.reason.split(": ", 1)[1].split(":")[0] for r in rejects)


@task(name="load", cache_policy=NO_CACHE)
def load(settings: Settings, spider: str, run_id: str, classifier: Classifier) -> LoadResult:
    """Prefect task: load a spider's landing files. Not retried: a failed load is a bug or a full disk."""
    result = load_spider(settings, spider, run_id, classifier)
    get_run_logger().info(
        "%s: %d fetched, %d new, %d updated, %d rejected, %d classified in %.1f s (%d writes, longest %.1f s)",
        spider,
        result.fetched,
        result.new_posts,
        result.updated_posts,
        result.rejected,
        result.classified,
        result.seconds,
        result.writes,
        result.longest_write_s,
    )
    return result
