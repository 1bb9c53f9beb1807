"""The YouTube spider: channel uploads and comment threads with an API key, within the daily quota.

Targets (instance `www.googleapis.com`): kind `uploads` (value a UC… channel id: `channels.list` for the uploads
playlist and the channel's description, then `playlistItems.list` pages), kind `comments` (the channel's comment
threads, `commentThreads.list?allThreadsRelatedToChannelId=`) and kind `video` (one video's comment threads). Every
page costs one quota unit. The key comes from PANTAU_YOUTUBE_API_KEY and travels in the `X-Goog-Api-Key` header,
never in a URL; without it every target is reported `disabled`.

When the day's quota is spent (403 `quotaExceeded`) the spider stops cleanly: no further request is sent, each
target still open is reported `rate_limited`, and a target cut off mid-paging keeps `resume` (the page token it
was about to read) and `resume_newest` in its targets row. The next night's run starts that target at `resume`,
pages down to its cursor, then moves the cursor to `resume_newest` or newer: nothing is skipped, nothing is read
twice. Kind `recheck` (value a comment id) fetches flagged comments again with `comments.list?id=`, 50 at a
time (one unit): a changed text is an edit, a comment no longer returned is a deletion; videos are not fetched
again. Parsing is in spiders.pages.youtube.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from scrapy import Request
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from pipeline.schema import canonical_json
from spiders.base import PantauSpider, TargetRun, failure_status, header
from spiders.pages.wire import CURSOR_PATTERN, safe_text
from spiders.pages.youtube import (
    QUOTA_EXCEEDED,
    ChannelInfo,
    ListPage,
    api_error,
    comment_to_post,
    comments_by_id,
    error_message,
    parse_channel,
    parse_threads,
    parse_uploads,
)

API = "/youtube/v3"
THREAD_PAGE = 100
UPLOAD_PAGE = 50
QUOTA_DETAIL = "the day's YouTube quota is spent; this target carries on next night"


class YouTubeSpider(PantauSpider):
    name = "youtube"
    kinds: ClassVar[frozenset[str]] = frozenset({"uploads", "comments", "video", "recheck"})
    since_id_pattern: ClassVar[re.Pattern[str]] = re.compile(CURSOR_PATTERN)
    quota_spent = False

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        runs = self.open_runs()
        key = self.secret("youtube_api_key")
        if not key:
            detail = "the youtube spider needs a Data API v3 key: set PANTAU_YOUTUBE_API_KEY to enable it"
            self.logger.warning("youtube disabled: %s", detail)
            for record in self.finish_all("disabled", detail):
                yield record
            return
        self.key = key
        for run in runs:
            run.resume, run.newest_id = run.target.resume, run.target.resume_newest  # a cut-off run carries on
            if self.quota_spent:  # spent while the first targets were read: send nothing more today
                if not run.finished:
                    yield self.finish(run, "rate_limited", QUOTA_DETAIL)
                continue
            if run.target.kind == "recheck":
                continue
            if run.target.kind == "uploads":
                params = {"part": "snippet,contentDetails", "id": run.target.value}
                yield self._request(run, "channels", params, self.parse_channel, token=None)
            else:
                yield self._threads_request(run, run.target.resume)
        if not self.quota_spent:
            for request in self._recheck_requests(runs):
                yield request

    def _request(
        self, run: TargetRun, resource: str, params: dict[str, Any], callback: Any, token: str | None, **kwargs: Any
    ) -> Request:
        if token:
            params = {**params, "pageToken": token}
        return Request(
            f"{self.origin(run.target)}{API}/{resource}?{urlencode(params)}",
            callback=callback,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": f"{API}/{resource}", **kwargs},
            headers={"X-Goog-Api-Key": self.key},
            dont_filter=True,
        )

    def _recheck_requests(self, runs: list[TargetRun]) -> Iterator[Any]:
        for batch in self.recheck_batches(runs, 50):
            comments = [run for run in batch if len(run.target.value) != 11]  # an 11-character id is a video's
            for run in batch:
                if run not in comments:
                    yield self.finish(run, "ok", "videos are not fetched again")
            if comments:
                params = {
                    "part": "snippet",
                    "id": ",".join(r.target.value for r in comments),
                    "textFormat": "plainText",
                }
                yield Request(
                    f"{self.origin(comments[0].target)}{API}/comments?{urlencode(params)}",
                    callback=self.parse_recheck,
                    errback=self.on_recheck_error,
                    cb_kwargs={"runs": comments, "path": f"{API}/comments"},
                    headers={"X-Goog-Api-Key": self.key},
                    dont_filter=True,
                )

    def parse_recheck(self, response: Response, runs: list[TargetRun], path: str) -> Iterator[Any]:
        found, error = comments_by_id(response.body, header(response, "Content-Type"))
        for run in runs:
            run.pages += 1
            if error is not None:
                yield self.finish(run, "error", f"comments.list: {error}")
            elif run.target.value not in found:
                yield from self.gone(run, "youtube", run.target.value, "comments.list no longer returns it")
            else:
                when = datetime.now(UTC)
                comment = found[run.target.value]
                try:
                    yield self.post(run, comment_to_post(comment, target=run.target.watch_target, collected_at=when))
                except ValueError as exc:
                    yield self.reject(run, str(exc), safe_text(canonical_json(comment)))
                yield self.finish(run, "ok", "fetched again")

    def on_recheck_error(self, failure: Failure) -> Iterator[Any]:
        reason = api_error(failure.value.response.body)[0] if isinstance(failure.value, HttpError) else ""
        if reason == QUOTA_EXCEEDED:
            self.quota_spent = True
            for run in failure.request.cb_kwargs["runs"]:
                if not run.finished:
                    yield self.finish(run, "rate_limited", QUOTA_DETAIL)
            return
        yield from self.on_batch_error(failure)

    def _threads_request(self, run: TargetRun, token: str | None) -> Request:
        scope = "videoId" if run.target.kind == "video" else "allThreadsRelatedToChannelId"
        params = {
            "part": "snippet,replies",
            scope: run.target.value,
            "maxResults": THREAD_PAGE,
            "order": "time",
            "textFormat": "plainText",
        }
        run.cursor = token
        return self._request(run, "commentThreads", params, self.parse_threads, token)

    def _uploads_request(self, run: TargetRun, channel: ChannelInfo, token: str | None) -> Request:
        params = {"part": "snippet,contentDetails", "playlistId": channel.uploads, "maxResults": UPLOAD_PAGE}
        run.cursor = token
        return self._request(run, "playlistItems", params, self.parse_uploads, token, channel=channel)

    # ------------------------------------------------------------ callbacks

    def parse_channel(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        if run.finished:
            return
        channel = parse_channel(response.body, header(response, "Content-Type"))
        if channel.channel_id is None:
            status = "not_found" if channel.error and channel.error.startswith("no such channel") else "error"
            yield self.finish(run, status, f"channels.list: {channel.error}")
            return
        yield self._uploads_request(run, channel, run.target.resume)

    def parse_uploads(self, response: Response, run: TargetRun, path: str, channel: ChannelInfo) -> Iterator[Any]:
        if run.finished:
            return
        page = parse_uploads(
            response.body,
            header(response, "Content-Type"),
            target=run.target.target,
            channel=channel,
            since=run.target.since_id,
            collected_at=datetime.now(UTC),
        )
        yield from self.page_records(run, page)
        if page.error is None:
            yield self._next(run, page) or self._uploads_request(run, channel, page.next_token)

    def parse_threads(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        if run.finished:
            return
        page = parse_threads(
            response.body,
            header(response, "Content-Type"),
            target=run.target.target,
            since=run.target.since_id,
            collected_at=datetime.now(UTC),
        )
        yield from self.page_records(run, page)
        if page.error is None:
            yield self._next(run, page) or self._threads_request(run, page.next_token)

    def _next(self, run: TargetRun, page: ListPage) -> Any:
        """The target's row when paging is over (or the quota is gone), else None to read `page.next_token`."""
        done = f"{run.fetched} posts, {run.skipped} skipped and {run.rejected} rejects in {run.pages} pages"
        if page.reached_cursor or page.next_token is None:
            return self.finish(run, "ok", done)
        if run.pages >= self.max_pages:
            return self.finish(run, "ok", done + f"; stopped at PANTAU_MAX_PAGES={self.max_pages}")
        if self.quota_spent:  # another target's answer said so: spend nothing more today
            run.resume = page.next_token
            return self.finish(run, "rate_limited", f"{done}; {QUOTA_DETAIL}")
        return None

    def on_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if run.finished:
            return
        reason = api_error(failure.value.response.body)[0] if isinstance(failure.value, HttpError) else ""
        if reason == QUOTA_EXCEEDED:
            yield from self._stop_for_the_day(run)
            return
        if reason == "invalidPageToken":
            run.resume = None  # a stored token that expired: the next run starts from the newest page
        status, detail = failure_status(failure, failure.request.cb_kwargs["path"], error_message)
        if reason in ("badRequest", "keyInvalid") and "API key" in detail:
            status, detail = "unauthorized", detail + "; check PANTAU_YOUTUBE_API_KEY"
        yield self.finish(run, status, detail)

    def _stop_for_the_day(self, run: TargetRun) -> Iterator[Any]:
        """The quota is spent: this target resumes at the page it asked for, every open one is reported."""
        if not self.quota_spent:
            self.logger.warning("youtube quota spent: stopping; targets carry on next night")
        self.quota_spent = True
        run.resume = run.cursor if run.cursor else run.resume
        yield self.finish(run, "rate_limited", f"{run.fetched} posts before the stop; {QUOTA_DETAIL}")
        for other in self.runs.values():
            if not other.finished and other.pages == 0 and not other.resume:
                # not started: nothing to resume, it simply starts from the newest next night
                yield self.finish(other, "rate_limited", QUOTA_DETAIL)
