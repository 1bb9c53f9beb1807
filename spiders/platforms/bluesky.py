"""The Bluesky spider: account feeds without login, keyword and hashtag search with an app-password session.

Targets: kind `account` (value a handle or DID; instance `public.api.bsky.app`): `app.bsky.actor.getProfile` for
the bio, then `app.bsky.feed.getAuthorFeed` pages (reposts included and recorded as reposts) down to the cursor.
Kind `search` (value keywords or `#tag`; instance `bsky.social`): `app.bsky.feed.searchPosts`, which needs a
session (`com.atproto.server.createSession` with PANTAU_BLUESKY_HANDLE and PANTAU_BLUESKY_APP_PASSWORD from the
environment). Without them search targets are reported `disabled`, and account feeds are still read. Kind
`recheck` (value a post's at-uri) fetches flagged posts again with `app.bsky.feed.getPosts`, 25 at a time: a
changed text is an edit (the load keeps the earlier version), a post no longer returned is a deletion. Bluesky asks
that search not be used for bulk collection: at most SEARCH_MAX_PAGES pages per target and run.

The cursor is the newest feed time collected (see spiders.pages.bluesky). Parsing is in spiders.pages.bluesky.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from scrapy import Request
from scrapy.http import JsonRequest, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from pipeline.schema import canonical_json
from spiders.base import PantauSpider, TargetRun, failure_status, header
from spiders.items import TargetStatus
from spiders.pages.bluesky import (
    FeedPage,
    Profile,
    entry_to_post,
    parse_feed,
    parse_profile,
    parse_session,
    posts_by_uri,
    xrpc_error,
)
from spiders.pages.wire import CURSOR_PATTERN, safe_text

PAGE_LIMIT = 100
SEARCH_MAX_PAGES = 10
SESSION_HOST = "bsky.social"
NOT_PUBLIC_ERRORS = ("AccountDeactivated", "AccountTakedown", "BlockedActor", "BlockedByActor")


class BlueskySpider(PantauSpider):
    name = "bluesky"
    kinds: ClassVar[frozenset[str]] = frozenset({"account", "search", "recheck"})
    since_id_pattern: ClassVar[re.Pattern[str]] = re.compile(CURSOR_PATTERN)

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        runs = self.open_runs()
        for run in runs:
            if run.target.kind == "account":
                yield self._xrpc(run, "app.bsky.actor.getProfile", {"actor": run.target.value}, self.parse_profile)
        searches = [run for run in runs if run.target.kind == "search"]
        if searches:
            for item in self._open_session(searches):
                yield item
        for batch in self.recheck_batches(runs, 25):
            for item in self._recheck_request(batch):
                yield item

    def _recheck_request(self, batch: list[TargetRun]) -> Iterator[Any]:
        posts = []
        for run in batch:
            if "/app.bsky.feed.post/" in run.target.value:
                posts.append(run)
            else:
                yield self.finish(run, "ok", "a repost is not fetched again on its own")
        if posts:
            path = "/xrpc/app.bsky.feed.getPosts"
            query = urlencode([("uris", run.target.value) for run in posts])
            yield Request(
                f"{self.origin(posts[0].target)}{path}?{query}",
                callback=self.parse_recheck,
                errback=self.on_batch_error,
                cb_kwargs={"runs": posts, "path": path},
                dont_filter=True,
            )

    def parse_recheck(self, response: Response, runs: list[TargetRun], path: str) -> Iterator[Any]:
        views, error = posts_by_uri(response.body, header(response, "Content-Type"))
        for run in runs:
            run.pages += 1
            if error is not None:
                yield self.finish(run, "error", f"getPosts: {error}")
            elif run.target.value in views:
                yield from self._fetched_again(run, views[run.target.value])
            else:
                yield from self.gone(run, "bluesky", run.target.value, "getPosts no longer returns it")

    def _fetched_again(self, run: TargetRun, view: Any) -> Iterator[Any]:
        when = datetime.now(UTC)
        try:
            yield self.post(run, entry_to_post({"post": view}, target=run.target.watch_target, collected_at=when))
        except ValueError as exc:
            yield self.reject(run, str(exc), safe_text(canonical_json(view)))
        yield self.finish(run, "ok", "fetched again")

    def _xrpc(self, run: TargetRun, method: str, params: dict[str, Any], callback: Any, **kwargs: Any) -> Request:
        path = f"/xrpc/{method}"
        return Request(
            f"{self.origin(run.target)}{path}?{urlencode(params)}",
            callback=callback,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": path, **kwargs},
            dont_filter=True,
        )

    # ------------------------------------------------------------ account feeds

    def parse_profile(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        profile = parse_profile(response.body, header(response, "Content-Type"))
        if profile.did is None:
            yield self.reject(run, f"profile: {profile.error}", response.text if response.body else "")
            yield self.finish(run, "error", f"profile: {profile.error}")
            return
        yield self._feed_request(run, profile)

    def _feed_request(self, run: TargetRun, profile: Profile, cursor: str | None = None) -> Request:
        params: dict[str, Any] = {"actor": profile.did, "limit": PAGE_LIMIT}
        if cursor:
            params["cursor"] = cursor
        run.cursor = cursor
        return self._xrpc(run, "app.bsky.feed.getAuthorFeed", params, self.parse_feed, profile=profile)

    def parse_feed(self, response: Response, run: TargetRun, path: str, profile: Profile) -> Iterator[Any]:
        page = parse_feed(
            response.body,
            header(response, "Content-Type"),
            target=run.target.target,
            since=run.target.since_id,
            collected_at=datetime.now(UTC),
            profile=profile,
        )
        yield from self.page_records(run, page)
        if page.error is None:
            nxt = self._next(run, page, self.max_pages)
            yield nxt if nxt is not None else self._feed_request(run, profile, page.cursor)

    # ------------------------------------------------------------ search

    def _open_session(self, searches: list[TargetRun]) -> Iterator[Any]:
        handle, password = self.secret("bluesky_handle"), self.secret("bluesky_app_password")
        if not handle or not password:
            detail = (
                "Bluesky search needs a session: set PANTAU_BLUESKY_HANDLE and PANTAU_BLUESKY_APP_PASSWORD "
                "(an app password) to enable it; account feeds are read without one"
            )
            self.logger.warning("search disabled: %s", detail)
            for run in searches:
                yield self.finish(run, "disabled", detail)
            return
        # The password travels in the POST body only; Scrapy logs URLs, never bodies or headers.
        yield JsonRequest(
            f"{self.base_url or 'https://' + SESSION_HOST}/xrpc/com.atproto.server.createSession",
            data={"identifier": handle, "password": password},
            callback=self.parse_session,
            errback=self.on_session_error,
            cb_kwargs={"searches": searches},
            dont_filter=True,
        )

    def parse_session(self, response: Response, searches: list[TargetRun]) -> Iterator[Any]:
        token, error = parse_session(response.body, header(response, "Content-Type"))
        if token is None:
            for run in searches:
                yield self.finish(run, "unauthorized", f"createSession: {error}")
            return
        for run in searches:
            yield self._search_request(run, token)

    def on_session_error(self, failure: Failure) -> Iterator[Any]:
        status, detail = failure_status(failure, "/xrpc/com.atproto.server.createSession", xrpc_error)
        for run in failure.request.cb_kwargs["searches"]:
            if not run.finished:
                yield self.finish(run, status, f"{detail}; check PANTAU_BLUESKY_HANDLE and the app password")

    def _search_request(self, run: TargetRun, token: str, cursor: str | None = None) -> Request:
        params: dict[str, Any] = {"q": run.target.value, "sort": "latest", "limit": PAGE_LIMIT}
        if run.target.since_id:
            params["since"] = run.target.since_id
        if cursor:
            params["cursor"] = cursor
        run.cursor = cursor
        request = self._xrpc(run, "app.bsky.feed.searchPosts", params, self.parse_search, token=token)
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def parse_search(self, response: Response, run: TargetRun, path: str, token: str) -> Iterator[Any]:
        page = parse_feed(
            response.body,
            header(response, "Content-Type"),
            target=run.target.target,
            since=run.target.since_id,
            collected_at=datetime.now(UTC),
            key="posts",
        )
        yield from self.page_records(run, page)
        if page.error is None:
            nxt = self._next(run, page, min(self.max_pages, SEARCH_MAX_PAGES))
            yield nxt if nxt is not None else self._search_request(run, token, page.cursor)

    # ------------------------------------------------------------ shared

    def _next(self, run: TargetRun, page: FeedPage, max_pages: int) -> Any:
        """The target's row when paging is over, or None to ask for the page after `page.cursor`."""
        done = f"{run.fetched} posts, {run.skipped} skipped and {run.rejected} rejects in {run.pages} pages"
        if page.reached_cursor or page.cursor is None or page.count == 0:
            return self.finish(run, "ok", done)
        if page.cursor == run.cursor:
            return self.finish(run, "ok", done + "; the server offered the same cursor again")
        if run.pages >= max_pages:
            return self.finish(run, "ok", done + f"; stopped at {max_pages} pages, older posts not fetched")
        return None

    def on_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if not run.finished:
            yield self.finish(run, *_failure_status(failure, failure.request.cb_kwargs["path"]))


def _failure_status(failure: Failure, path: str) -> tuple[TargetStatus, str]:
    """As failure_status, with Bluesky's meanings of a 400: an unknown or hidden account, not a broken request."""
    status, detail = failure_status(failure, path, xrpc_error)
    if isinstance(failure.value, HttpError) and failure.value.response.status == 400:
        said = xrpc_error(failure.value.response.body)
        if "Profile not found" in said or "could not find" in said.lower():
            return "not_found", detail
        if said.startswith(NOT_PUBLIC_ERRORS):
            return "not_public", detail
    return status, detail
