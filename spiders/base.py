"""What every pantau spider shares: its arguments, the watch-targets file and per-target bookkeeping.

A platform spider subclasses `PantauSpider`, reads `self.targets`, yields `self.post(...)` and
`self.reject(...)` as it parses, and `self.finish(run, status, detail)` exactly once per target when the
target's paging ends. A target that never finishes (the process was killed) gets no targets row, so the
flow does not advance its cursor.

Spider arguments (`-a name=value`): run_id, landing_dir, targets_file, and optionally base_url (send every
request to that origin, e.g. a loopback replay server, instead of the platform).

A targets entry may carry, besides its cursor `since_id`, the state a previous run left: `resume` (the paging
position where a run that was cut off, e.g. by a spent quota, stopped), `resume_newest` (the newest id that cut-off
run had already collected) and the feed validators `etag` / `last_modified` for conditional requests.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import scrapy
from pydantic import SecretStr
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from pipeline.config import Settings
from pipeline.errors import InputError
from pipeline.schema import Post, canonical_json
from spiders.items import DeletionRecord, PostRecord, RejectRecord, TargetRecord, TargetStatus

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # it names landing files
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class Target:
    """One entry of the targets file, e.g. target="account:rina_guru@sosial.example"."""

    target: str
    kind: str
    value: str
    instance: str
    since_id: str | None = None
    resume: str | None = None
    resume_newest: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    found_by: str | None = None  # a recheck target: the watch target that first found the post

    @property
    def watch_target(self) -> str:
        """What a post found through this target names as its watch_target (a re-fetch keeps the original)."""
        return self.found_by or self.target


@dataclass
class TargetRun:
    """A target's progress in this run; becomes its targets row when paging ends."""

    target: Target
    pages: int = 0
    fetched: int = 0
    rejected: int = 0
    newest_id: str | None = None
    cursor: str | None = None  # the paging position last asked for, to refuse a Link that goes nowhere
    status: TargetStatus | None = None  # set once, when paging ends
    skipped: int = 0  # items seen but not landed: older than the cursor, or not posts at all
    reasons: Counter[str] = field(default_factory=Counter)  # why items of this target were rejected
    resume: str | None = None  # where a cut-off run should carry on next time
    etag: str | None = None
    last_modified: str | None = None

    @property
    def finished(self) -> bool:
        return self.status is not None


DIGITS = re.compile(r"^[0-9]+$")
_STATE_KEYS = ("resume", "resume_newest", "etag", "last_modified", "found_by")


def load_targets(
    path: Path, kinds: frozenset[str], since_id_pattern: re.Pattern[str] = DIGITS
) -> tuple[list[Target], list[tuple[str, str]]]:
    """Good targets, and (reason, raw) for each bad entry; InputError if the file is unusable as a whole."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"targets_file {path}: cannot read a JSON list ({exc})") from None
    if not isinstance(entries, list):
        raise InputError(f"targets_file {path}: expected a JSON list, got {type(entries).__name__}")
    targets: list[Target] = []
    bad: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in entries:
        try:
            target = _target(entry, kinds, since_id_pattern)
        except ValueError as exc:
            bad.append((f"invalid target entry: {exc}", canonical_json(entry)))
            continue
        if target.target in seen:
            bad.append((f"duplicate target {target.target}: crawled once", canonical_json(entry)))
            continue
        seen.add(target.target)
        targets.append(target)
    return targets, bad


def _target(entry: Any, kinds: frozenset[str], since_id_pattern: re.Pattern[str]) -> Target:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {type(entry).__name__}")
    fields = {key: entry.get(key) for key in ("target", "kind", "value", "instance")}
    for key, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string")
    if fields["kind"] not in kinds:
        raise ValueError(f"kind {fields['kind']!r} is not one of {sorted(kinds)}")
    if not _HOST.match(fields["instance"]):
        raise ValueError(f"instance {fields['instance']!r} is not a host name")
    since_id = entry.get("since_id")
    # Ids are opaque strings: a number here may already have lost digits in some JSON writer.
    if since_id is not None and not (isinstance(since_id, str) and since_id_pattern.match(since_id)):
        shape = "a string of digits" if since_id_pattern is DIGITS else f"a string matching {since_id_pattern.pattern}"
        raise ValueError(f"since_id must be null or {shape}, got {since_id!r}")
    state = {key: entry.get(key) for key in _STATE_KEYS}
    for key, value in state.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be null or a string, got {value!r}")
    return Target(since_id=since_id, **fields, **state)


class PantauSpider(scrapy.Spider):
    """Base of the platform spiders: argument checks, targets, records and the closing summary."""

    kinds: ClassVar[frozenset[str]] = frozenset()
    since_id_pattern: ClassVar[re.Pattern[str]] = DIGITS  # the shape of this platform's cursor
    max_pages: int = 50

    def __init__(
        self,
        run_id: str | None = None,
        landing_dir: str | None = None,
        targets_file: str | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not run_id or not _RUN_ID.match(run_id):
            raise ValueError(f"-a run_id must be letters, digits, '.', '_' or '-' (got {run_id!r})")
        if not landing_dir:
            raise ValueError("-a landing_dir is required (the folder that receives <spider>/<run_id>.jsonl)")
        if not targets_file:
            raise ValueError("-a targets_file is required (a JSON list of watch targets)")
        self.run_id = run_id
        self.landing_dir = str(Path(landing_dir).resolve())  # FEEDS builds file paths from it
        self.base_url = base_url.rstrip("/") if base_url else None
        self.targets, self.bad_targets = load_targets(Path(targets_file), self.kinds, self.since_id_pattern)
        self.runs: dict[str, TargetRun] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_pages = crawler.settings.getint("PANTAU_MAX_PAGES", 50)
        if spider.max_pages < 1:
            raise ValueError(f"PANTAU_MAX_PAGES must be at least 1, got {spider.max_pages}")
        return spider

    def origin(self, target: Target) -> str:
        return self.base_url or f"https://{target.instance}"

    def secret(self, name: str) -> str | None:
        """A credential from the environment, read through pipeline.config (its only reader); None when unset.
        Never log it, never put it in a URL: send it in a header or a request body."""
        value = getattr(Settings.from_env(), name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def open_runs(self) -> list[TargetRun]:
        self.runs = {t.target: TargetRun(t) for t in self.targets}
        return list(self.runs.values())

    def url(self, real_url: str) -> str:
        """The URL to request for a platform URL: the same path on base_url when replaying."""
        if not self.base_url:
            return real_url
        scheme_host, _, rest = real_url.partition("://")[2].partition("/")
        return f"{self.base_url}/{rest}" if scheme_host else real_url

    def target_rejects(self) -> list[RejectRecord]:
        for reason, _raw in self.bad_targets:
            self.logger.error("targets_file: %s", reason)
        return [self.reject(None, reason, raw) for reason, raw in self.bad_targets]

    def post(self, run: TargetRun, post: Post) -> PostRecord:
        run.fetched += 1
        self._inc("pantau/posts")
        return PostRecord.from_post(post)

    def reject(self, run: TargetRun | None, reason: str, raw: str) -> RejectRecord:
        if run is not None:
            run.rejected += 1
            run.reasons[reason[:160]] += 1
        self._inc("pantau/rejects")
        return RejectRecord.build(source=self.name, reason=reason, raw=raw, run_id=self.run_id)

    def finish(self, run: TargetRun, status: TargetStatus, detail: str) -> TargetRecord:
        if run.finished:  # a bug, not a data problem: fail loudly (the first verdict's row already went out)
            raise RuntimeError(f"target {run.target.target} finished twice ({status}: {detail})")
        run.status = status
        self._inc(f"pantau/targets/{status}")
        log = self.logger.info if status == "ok" else self.logger.warning
        log(
            "%s: %s, %d pages, %d posts, %d rejects (%s)",
            run.target.target,
            status,
            run.pages,
            run.fetched,
            run.rejected,
            detail,
        )
        return TargetRecord.build(
            target=run.target.target,
            status=status,
            newest_id=run.newest_id,
            pages=run.pages,
            fetched=run.fetched,
            rejected=run.rejected,
            detail=detail,
            skipped=run.skipped,
            reasons=dict(run.reasons.most_common(5)),
            resume=run.resume if status != "ok" else None,
            resume_newest=run.newest_id if status != "ok" and run.resume else None,
            etag=run.etag,
            last_modified=run.last_modified,
        )

    def page_records(self, run: TargetRun, page: Any) -> Iterator[Any]:
        """One time-cursored page's Posts and rejects (Bluesky, YouTube): counts kept, the newest time becomes the
        target's next cursor, and a page unusable as a whole ends the target as `error`."""
        run.pages += 1
        run.skipped += page.skipped
        if page.newest and (run.newest_id is None or page.newest > run.newest_id):
            run.newest_id = page.newest
        for post in page.posts:
            yield self.post(run, post)
        for bad in page.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if page.error is not None:
            yield self.finish(run, "error", f"page {run.pages}: {page.error}")

    def gone(self, run: TargetRun, platform: str, post_id: str, detail: str) -> Iterator[Any]:
        """A re-fetched flagged post is no longer there: the deletion record, then the target's row."""
        self._inc("pantau/deletions")
        yield DeletionRecord.build(platform=platform, platform_post_id=post_id, detail=detail, noticed_at=_now())
        yield self.finish(run, "ok", f"gone: {detail}")

    def recheck_batches(self, runs: list[TargetRun], size: int) -> Iterator[list[TargetRun]]:
        """The recheck targets among runs, in groups of `size` (platforms look posts up by the batch)."""
        rechecks = [run for run in runs if run.target.kind == "recheck"]
        for start in range(0, len(rechecks), size):
            yield rechecks[start : start + size]

    def on_batch_error(self, failure: Failure) -> Iterator[Any]:
        """A failed batch lookup: every target of the batch gets the failure's status."""
        status, detail = failure_status(failure, failure.request.cb_kwargs.get("path", "lookup"))
        for run in failure.request.cb_kwargs["runs"]:
            if not run.finished:
                yield self.finish(run, status, detail)

    def finish_all(self, status: TargetStatus, detail: str) -> list[TargetRecord]:
        """Close every target still open with one verdict (a disabled source, a spent quota)."""
        return [self.finish(run, status, detail) for run in self.runs.values() if not run.finished]

    def _inc(self, key: str) -> None:
        crawler = getattr(self, "crawler", None)  # absent when a test builds the spider without a crawl
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(key)

    def _stat(self, key: str) -> int:
        crawler = getattr(self, "crawler", None)
        return int(crawler.stats.get_value(key, 0)) if crawler is not None and crawler.stats is not None else 0

    def closed(self, reason: str) -> None:
        self.logger.info(self.summary(reason))
        unfinished = [r.target.target for r in self.runs.values() if not r.finished]
        if unfinished:
            self.logger.warning("targets without a result (no cursor advance): %s", ", ".join(unfinished))

    def summary(self, reason: str) -> str:
        """The one-line account of the run that ends the log."""
        statuses = Counter(r.status or "unfinished" for r in self.runs.values())
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
        return (
            f"{self.name} run {self.run_id} closed ({reason}): {len(self.runs)} targets ({by_status}), "
            f"{self._stat('pantau/posts')} posts, {self._stat('pantau/duplicates')} duplicates dropped, "
            f"{self._stat('pantau/rejects')} rejects"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def failure_status(
    failure: Failure, path: str, message: Callable[[bytes], str] | None = None
) -> tuple[TargetStatus, str]:
    """Map a failed request (after RetryMiddleware gave up) to the target's status and a readable detail.

    `message` pulls the platform's own explanation out of an error body (each platform words it differently)."""
    exc = failure.value
    if isinstance(exc, HttpError):
        response = exc.response
        code = response.status
        said = message(response.body) if message is not None else ""
        detail = f"HTTP {code} on {path}" + (f": {safe_text(said)}" if said else "")
        if code in (401, 403):
            return "unauthorized", detail
        if code in (404, 410):
            return "not_found", detail
        if code == 429:
            return "rate_limited", detail + " (retries exhausted)"
        return "error", detail
    if isinstance(exc, IgnoreRequest):
        return "error", f"request to {path} not sent: {exc or 'ignored by a downloader middleware'}"
    return "error", f"{type(exc).__name__} on {path}: {exc}"


def safe_text(text: str) -> str:
    """Text fit for the UTF-8 landing files: a lone surrogate from a JSON escape becomes \\udNNN."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value is not None else None
