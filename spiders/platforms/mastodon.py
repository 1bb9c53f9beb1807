"""The Mastodon spider: which API requests to make for each watch target, and when a target's paging ends.

Parsing is in spiders.pages.mastodon; this module only builds requests, follows pages and turns HTTP
failures into the target's status (401 -> unauthorized, 404 -> not_found, 429 after retries -> rate_limited).

Kind `recheck` (value a status id, instance the instance it was collected from: ids are each instance's own)
fetches a flagged status again with `GET /api/v1/statuses/:id`: the answer lands as a Post like any other, so a
changed text is an edit (the load keeps the earlier version); a 404 (Mastodon's `{"error": "Record not found"}`:
deleted, or no longer public) is a deletion, noticed now. A 401 (the instance wants a login) is `unauthorized`,
a 403 (the status is refused to us) `not_public`: neither says the status is gone.

    SCRAPY_SETTINGS_MODULE=spiders.settings python -m scrapy crawl mastodon \\
        -a run_id=RUN -a landing_dir=/abs/data/landing -a targets_file=/abs/targets.json \\
        [-a base_url=http://127.0.0.1:PORT]
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.base import PantauSpider, TargetRun, safe_text
from spiders.items import TargetStatus
from spiders.pages.mastodon import (
    StatusPage,
    body_text,
    id_key,
    newest_of,
    parse_account,
    parse_status,
    parse_statuses,
)

PAGE_LIMIT = 40  # the API's maximum page size: fewest requests per post
GONE = (404, 410)  # a re-fetched status answered so is deleted (or no longer public)


class MastodonSpider(PantauSpider):
    name = "mastodon"
    kinds: ClassVar[frozenset[str]] = frozenset({"account", "hashtag", "recheck"})

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        for run in self.open_runs():
            if run.target.kind == "account":
                yield self._request(run, "/api/v1/accounts/lookup", {"acct": run.target.value}, "lookup")
            elif run.target.kind == "recheck":
                yield self._recheck_request(run)
            else:
                yield self._page_request(run, f"/api/v1/timelines/tag/{quote(run.target.value.lstrip('#'), safe='')}")

    def _request(self, run: TargetRun, path: str, params: dict[str, Any], step: str) -> Request:
        callback = self.parse_lookup if step == "lookup" else self.parse_page
        return Request(
            f"{self.origin(run.target)}{path}?{urlencode(params)}",
            callback=callback,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": path},
            headers={"Accept": "application/json"},
            # Two targets may share a URL (one tag on two instances behind one base_url): fetch both.
            dont_filter=True,
        )

    def _recheck_request(self, run: TargetRun) -> Request:
        path = f"/api/v1/statuses/{quote(run.target.value, safe='')}"
        return Request(
            f"{self.origin(run.target)}{path}",
            callback=self.parse_recheck,
            errback=self.on_recheck_error,
            cb_kwargs={"run": run, "path": path},
            headers={"Accept": "application/json"},
            meta={"handle_httpstatus_list": list(GONE)},  # a deletion is an answer, not a failure
            dont_filter=True,
        )

    def _page_request(self, run: TargetRun, path: str, max_id: str | None = None) -> Request:
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        if max_id is not None:
            params["max_id"] = max_id
        if run.target.since_id is not None:
            # Mastodon's Link "next" drops since_id: add it back on every page of an incremental crawl.
            params["since_id"] = run.target.since_id
        run.cursor = max_id
        return self._request(run, path, params, "page")

    def parse_lookup(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        found = parse_account(response.body, _header(response, "Content-Type"))
        if found.account_id is None:
            yield self.reject(run, f"account lookup: {found.error}", body_text(response.body))
            yield self.finish(run, "error", f"account lookup: {found.error}")
            return
        yield self._page_request(run, f"/api/v1/accounts/{quote(found.account_id, safe='')}/statuses")

    def parse_recheck(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        run.pages += 1
        if response.status in GONE:
            said = _mastodon_error(response.body)
            if said is None:  # not Mastodon speaking (a proxy, a moved site): no grounds to call the status deleted
                yield self.finish(
                    run, "not_found", f"HTTP {response.status} on {path} without Mastodon's error body; not a deletion"
                )
            else:
                detail = f"the instance answers HTTP {response.status}" + (f": {safe_text(said)}" if said else "")
                yield from self.gone(run, "mastodon", run.target.value, detail)
            return
        result = parse_status(
            response.body,
            _header(response, "Content-Type"),
            status_id=run.target.value,
            target=run.target.watch_target,
            instance=run.target.instance,
            collected_at=datetime.now(UTC),
        )
        for post in result.posts:
            yield self.post(run, post)
        for bad in result.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if result.error is not None:
            yield self.finish(run, "error", f"recheck: {result.error}")
        elif result.rejects:
            yield self.finish(run, "ok", f"fetched again but rejected: {result.rejects[0].reason}")
        else:
            edited = f"; edited at {result.edited_at}" if result.edited_at else ""
            yield self.finish(run, "ok", f"fetched again{edited}")

    def on_recheck_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if run.finished:
            return
        status, detail = _failure_status(failure, failure.request.cb_kwargs["path"])
        if status == "unauthorized":
            detail += "; the instance wants a login, the status cannot be checked"
        elif isinstance(failure.value, HttpError) and failure.value.response.status == 403:
            status, detail = "not_public", detail + "; the status is not shown without a login"
        yield self.finish(run, status, detail)

    def parse_page(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        page = parse_statuses(
            response.body,
            _header(response, "Content-Type"),
            target=run.target.target,
            instance=run.target.instance,
            collected_at=datetime.now(UTC),
            link=_header(response, "Link"),
        )
        run.pages += 1
        run.newest_id = newest_of(run.newest_id, page.newest_id)
        for post in page.posts:
            yield self.post(run, post)
        for bad in page.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if page.error is not None:
            yield self.finish(run, "error", f"page {run.pages}: {page.error}")
            return
        yield self._next(run, path, page)

    def _next(self, run: TargetRun, path: str, page: StatusPage) -> Any:
        """The next page's request, or the target's row when paging is over."""
        if page.count < PAGE_LIMIT:  # a short or empty page is the last one
            return self.finish(run, "ok", self._done_detail(run))
        max_id = page.next_max_id or page.oldest_id  # Link "next" when the server sends one
        if max_id is None or (run.cursor is not None and id_key(max_id) >= id_key(run.cursor)):
            return self.finish(run, "ok", self._done_detail(run) + "; the server offered no older page")
        if run.pages >= self.max_pages:
            gap = " between since_id and this page" if run.target.since_id else ""
            return self.finish(
                run,
                "ok",
                self._done_detail(run) + f"; stopped at PANTAU_MAX_PAGES={self.max_pages}, older "
                f"posts{gap} not fetched (next max_id {max_id})",
            )
        return self._page_request(run, path, max_id)

    def _done_detail(self, run: TargetRun) -> str:
        since = f" newer than {run.target.since_id}" if run.target.since_id else ""
        return f"{run.fetched} posts{since} and {run.rejected} rejects in {run.pages} pages"

    def on_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if run.finished:
            return
        status, detail = _failure_status(failure, failure.request.cb_kwargs["path"])
        yield self.finish(run, status, detail)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value is not None else None


def _failure_status(failure: Failure, path: str) -> tuple[TargetStatus, str]:
    """Map a failed request (after RetryMiddleware gave up) to the target's status and a readable detail."""
    exc = failure.value
    if isinstance(exc, HttpError):
        response = exc.response
        code = response.status
        detail = f"HTTP {code} on {path}{_error_message(response)}"
        if code == 401:
            return "unauthorized", detail
        if code == 404:
            return "not_found", detail
        if code == 429:
            return "rate_limited", detail + " (retries exhausted)"
        return "error", detail
    if isinstance(exc, IgnoreRequest):
        return "error", f"request to {path} not sent: {exc or 'ignored by a downloader middleware'}"
    return "error", f"{type(exc).__name__} on {path}: {exc}"


def _mastodon_error(body: bytes) -> str | None:
    """The message of Mastodon's error body {"error": "..."}; None when the body is not one."""
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return message if isinstance(message, str) else None


def _error_message(response: Response) -> str:
    """Mastodon explains refusals as {"error": "..."}; other bodies are not worth quoting."""
    message = _mastodon_error(response.body)
    if message is None:
        return ""
    # A JSON escape can smuggle in a lone surrogate, which the UTF-8 targets file could not hold.
    return ": " + message.encode("utf-8", "backslashreplace").decode("utf-8")
