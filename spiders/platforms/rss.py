"""The RSS spider: feeds of news and government sites (RSS 2.0 or Atom), and each new item's article page.

Targets: kind `feed`, value the feed's URL, instance its host. The feed is asked for with the validators of the
last run (`If-None-Match`, `If-Modified-Since`): a 304 means nothing new and costs the site nothing. Each item newer
than the cursor (its date) is followed to its article page for the text; robots.txt is obeyed (Scrapy's
RobotsTxtMiddleware), and an article the site does not allow, or that cannot be fetched, lands with the feed's own
summary instead, said so in the target's result. The outlet is the post's author. Parsing is in spiders.pages.rss.

Kind `recheck` (value the article's URL) fetches a flagged article again: a 404 or 410 is a deletion; edits to
articles are not followed.

With base_url (the replay server), `https://<host>/<path>` is asked for as `<base_url>/_sites/<host>/<path>`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.base import PantauSpider, TargetRun, failure_status, header
from spiders.pages.rss import Article, Feed, FeedItem, item_to_post, parse_article, parse_feed
from spiders.pages.wire import CURSOR_PATTERN

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"


class RssSpider(PantauSpider):
    name = "rss"
    kinds: ClassVar[frozenset[str]] = frozenset({"feed", "recheck"})
    since_id_pattern: ClassVar[re.Pattern[str]] = re.compile(CURSOR_PATTERN)
    custom_settings: ClassVar[dict[str, Any]] = {"CONCURRENT_REQUESTS_PER_DOMAIN": 2}  # news sites are small

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        self.pending: dict[str, int] = {}
        self.fallbacks: dict[str, Counter[str]] = {}
        for run in self.open_runs():
            if run.target.kind == "recheck":
                yield Request(
                    self.site_url(run.target.value),
                    callback=self.parse_recheck,
                    errback=self.on_feed_error,
                    cb_kwargs={"run": run, "path": urlsplit(run.target.value).path or "/"},
                    headers={"Accept": HTML_ACCEPT},
                    meta={"handle_httpstatus_list": [404, 410]},
                    dont_filter=True,
                )
                continue
            run.etag, run.last_modified = run.target.etag, run.target.last_modified  # kept unless the feed changes
            headers = {"Accept": FEED_ACCEPT}
            if run.etag:
                headers["If-None-Match"] = run.etag
            if run.last_modified:
                headers["If-Modified-Since"] = run.last_modified
            yield Request(
                self.site_url(run.target.value),
                callback=self.parse_feed,
                errback=self.on_feed_error,
                cb_kwargs={"run": run, "path": urlsplit(run.target.value).path or "/"},
                headers=headers,
                meta={"handle_httpstatus_list": [304]},
                dont_filter=True,
            )

    def site_url(self, url: str) -> str:
        """A site's URL, or its replay address `<base_url>/_sites/<host>/<path>`."""
        if not self.base_url:
            return url
        parts = urlsplit(url)
        return f"{self.base_url}/_sites/{parts.hostname}{parts.path or '/'}" + (
            f"?{parts.query}" if parts.query else ""
        )

    def parse_recheck(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        run.pages += 1
        if response.status in (404, 410):
            yield from self.gone(run, "rss", _post_id(run), f"the article answers HTTP {response.status}")
        else:
            yield self.finish(run, "ok", "the article is still online (edits to articles are not followed)")

    def parse_feed(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        run.pages += 1
        if response.status == 304:
            yield self.finish(run, "ok", "feed not modified since the last run (304)")
            return
        run.etag = header(response, "ETag") or None
        run.last_modified = header(response, "Last-Modified") or None
        feed = parse_feed(response.body, header(response, "Content-Type"), since=run.target.since_id)
        run.skipped += feed.skipped
        for bad in feed.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if feed.error is not None:
            run.etag = run.last_modified = None  # a broken feed is asked for in full next time
            yield self.finish(run, "error", f"feed: {feed.error}")
            return
        if feed.newest and (run.newest_id is None or feed.newest > run.newest_id):
            run.newest_id = feed.newest
        self.pending[run.target.target] = len(feed.items)
        self.fallbacks[run.target.target] = Counter()
        for item in feed.items:
            yield Request(
                self.site_url(item.link),
                callback=self.parse_article,
                errback=self.on_article_error,
                cb_kwargs={"run": run, "item": item, "feed": feed},
                headers={"Accept": HTML_ACCEPT},
                dont_filter=True,
            )
        if not feed.items:
            yield self._finish_feed(run)

    def parse_article(self, response: Response, run: TargetRun, item: FeedItem, feed: Feed) -> Iterator[Any]:
        article = parse_article(response.body, header(response, "Content-Type"))
        if article.error is not None:
            self.fallbacks[run.target.target][article.error] += 1
        yield from self._item_done(run, item, feed, article)

    def on_article_error(self, failure: Failure) -> Iterator[Any]:
        kwargs = failure.request.cb_kwargs
        run, item = kwargs["run"], kwargs["item"]
        # HttpError is an IgnoreRequest too: only RobotsTxtMiddleware's own refusal means robots.txt said no
        if isinstance(failure.value, IgnoreRequest) and not isinstance(failure.value, HttpError):
            why = "article not fetched: forbidden by the site's robots.txt"
        else:
            why = "article not fetched: " + failure_status(failure, urlsplit(item.link).path)[1]
        self.fallbacks[run.target.target][why] += 1
        yield from self._item_done(run, item, kwargs["feed"], None)

    def _item_done(self, run: TargetRun, item: FeedItem, feed: Feed, article: Article | None) -> Iterator[Any]:
        try:
            yield self.post(
                run,
                item_to_post(
                    item,
                    feed,
                    feed_url=run.target.value,
                    article=article,
                    target=run.target.target,
                    collected_at=datetime.now(UTC),
                ),
            )
        except ValueError as exc:
            yield self.reject(run, str(exc), item.raw)
        self.pending[run.target.target] -= 1
        if self.pending[run.target.target] == 0:
            yield self._finish_feed(run)

    def _finish_feed(self, run: TargetRun) -> Any:
        since = f" newer than {run.target.since_id}" if run.target.since_id else ""
        detail = f"{run.fetched} articles{since}, {run.skipped} older skipped, {run.rejected} rejects"
        fallbacks = self.fallbacks.get(run.target.target) or Counter()
        if fallbacks:
            detail += "; feed summary used instead of the article for " + "; ".join(
                f"{n}× {why}" for why, n in fallbacks.most_common()
            )
        return self.finish(run, "ok", detail)

    def on_feed_error(self, failure: Failure) -> Iterator[Any]:  # also a recheck's
        run: TargetRun = failure.request.cb_kwargs["run"]
        if not run.finished:
            yield self.finish(run, *failure_status(failure, failure.request.cb_kwargs["path"]))


def _post_id(run: TargetRun) -> str:
    """A recheck target is named `recheck:<post id>` (its value is the article's URL)."""
    return run.target.target.removeprefix("recheck:")
