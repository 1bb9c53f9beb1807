"""What every pantau spider shares: its arguments, the watch-targets file and per-target bookkeeping.

A platform spider subclasses `PantauSpider`, reads `self.targets`, yields `self.post(...)` and
`self.reject(...)` as it parses, and `self.finish(run, status, detail)` exactly once per target when the
target's paging ends. A target that never finishes (the process was killed) gets no targets row, so the
flow does not advance its cursor.

Spider arguments (`-a name=value`): run_id, landing_dir, targets_file, and optionally base_url (send every
request to that origin, e.g. a loopback replay server, instead of the platform).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import scrapy
from scrapy.crawler import Crawler

from pipeline.errors import InputError
from pipeline.schema import Post, canonical_json
from spiders.items import PostRecord, RejectRecord, TargetRecord, TargetStatus

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

    @property
    def finished(self) -> bool:
        return self.status is not None


def load_targets(path: Path, kinds: frozenset[str]) -> tuple[list[Target], list[tuple[str, str]]]:
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
            target = _target(entry, kinds)
        except ValueError as exc:
            bad.append((f"invalid target entry: {exc}", canonical_json(entry)))
            continue
        if target.target in seen:
            bad.append((f"duplicate target {target.target}: crawled once", canonical_json(entry)))
            continue
        seen.add(target.target)
        targets.append(target)
    return targets, bad


def _target(entry: Any, kinds: frozenset[str]) -> Target:
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
    if since_id is not None and not (isinstance(since_id, str) and since_id.isdigit()):
        raise ValueError(f"since_id must be null or a string of digits, got {since_id!r}")
    return Target(since_id=since_id, **fields)


class PantauSpider(scrapy.Spider):
    """Base of the platform spiders: argument checks, targets, records and the closing summary."""

    kinds: ClassVar[frozenset[str]] = frozenset()
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
        self.targets, self.bad_targets = load_targets(Path(targets_file), self.kinds)
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

    def open_runs(self) -> list[TargetRun]:
        self.runs = {t.target: TargetRun(t) for t in self.targets}
        return list(self.runs.values())

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
        )

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
