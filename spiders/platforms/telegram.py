"""The Telegram spider: public channel previews (`t.me/s/<channel>`), newest page first, older pages with
`?before=<id>` until the cursor, the end of the channel or PANTAU_MAX_PAGES.

Parsing is in spiders.pages.telegram. A channel without a public preview redirects away from `/s/` and is reported
`not_public`; no login is ever attempted. Targets: kind `channel`, value the channel name, instance `t.me`; kind
`recheck`, value `<channel>/<id>` (a flagged post fetched again from the page just after it: a changed text is an
edit, kept by the load as a version; a message no longer there is a deletion).

    SCRAPY_SETTINGS_MODULE=spiders.settings python -m scrapy crawl telegram \\
        -a run_id=RUN -a landing_dir=/abs/data/landing -a targets_file=/abs/targets.json \\
        [-a base_url=http://127.0.0.1:PORT]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.base import PantauSpider, TargetRun, failure_status, header
from spiders.pages.telegram import ChannelPage, id_key, parse_preview

HTML_HEADERS = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


class TelegramSpider(PantauSpider):
    name = "telegram"
    kinds: ClassVar[frozenset[str]] = frozenset({"channel", "recheck"})
    # An HTML source: one page at a time per host, as a person reading would.
    custom_settings: ClassVar[dict[str, Any]] = {"CONCURRENT_REQUESTS_PER_DOMAIN": 2}

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        for run in self.open_runs():
            yield self._recheck_request(run) if run.target.kind == "recheck" else self._page_request(run)

    def _page_request(self, run: TargetRun, before: str | None = None) -> Request:
        path = f"/s/{quote(run.target.value, safe='')}" + (f"?before={before}" if before else "")
        run.cursor = before
        return Request(
            f"{self.origin(run.target)}{path}",
            callback=self.parse_page,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": path},
            headers=HTML_HEADERS,
            dont_filter=True,
        )

    def _recheck_request(self, run: TargetRun) -> Any:
        channel, _, number = run.target.value.partition("/")
        if not number.isdigit():
            return self.finish(run, "error", f"recheck: {run.target.value!r} is not <channel>/<id>")
        # message numbers count up within a channel: the page before the next one starts with this message
        path = f"/s/{quote(channel, safe='')}?before={int(number) + 1}"
        return Request(
            f"{self.origin(run.target)}{path}",
            callback=self.parse_recheck,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": path},
            headers=HTML_HEADERS,
            dont_filter=True,
        )

    def parse_recheck(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        page = parse_preview(
            response.body,
            header(response, "Content-Type"),
            url=response.url,
            target=run.target.watch_target,
            since_id=None,
            collected_at=datetime.now(UTC),
        )
        run.pages += 1
        again = [p for p in page.posts if p.platform_post_id == run.target.value]
        if again:
            yield self.post(run, again[0])
            yield self.finish(run, "ok", "fetched again")
        elif page.not_public:
            yield self.finish(run, "not_public", f"{page.error}; the post cannot be checked")
        elif page.error is not None:
            yield self.finish(run, "error", f"recheck: {page.error}")
        else:
            yield from self.gone(run, "telegram", run.target.value, "no longer in the channel's public preview")

    def parse_page(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        page = parse_preview(
            response.body,
            header(response, "Content-Type"),
            url=response.url,
            target=run.target.target,
            since_id=run.target.since_id,
            collected_at=datetime.now(UTC),
        )
        run.pages += 1
        run.skipped += page.skipped
        if page.newest_id and (run.newest_id is None or id_key(page.newest_id) > id_key(run.newest_id)):
            run.newest_id = page.newest_id
        for post in page.posts:
            yield self.post(run, post)
        for bad in page.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if page.not_public:
            yield self.finish(run, "not_public", f"{page.error}; only channels with a public preview are read")
        elif page.error is not None:
            yield self.finish(run, "error", f"page {run.pages}: {page.error}")
        else:
            yield self._next(run, page)

    def _next(self, run: TargetRun, page: ChannelPage) -> Any:
        """The next (older) page's request, or the target's row when paging is over."""
        if page.reached_cursor or page.before is None:
            return self.finish(run, "ok", self._done_detail(run))
        if run.cursor is not None and id_key(page.before) >= id_key(run.cursor):
            return self.finish(run, "ok", self._done_detail(run) + "; the page offered no older messages")
        if run.pages >= self.max_pages:
            return self.finish(
                run,
                "ok",
                self._done_detail(run) + f"; stopped at PANTAU_MAX_PAGES={self.max_pages}, messages before "
                f"{page.before} not fetched",
            )
        return self._page_request(run, page.before)

    def _done_detail(self, run: TargetRun) -> str:
        since = f" newer than {run.target.since_id}" if run.target.since_id else ""
        return f"{run.fetched} posts{since}, {run.skipped} skipped and {run.rejected} rejects in {run.pages} pages"

    def on_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if not run.finished:
            yield self.finish(run, *failure_status(failure, failure.request.cb_kwargs["path"]))
