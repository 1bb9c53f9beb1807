"""The X spider: API v2 user timelines and recent search with a bearer token, `since_id` for new posts only.

Targets: kind `account` (value a username, looked up once with `/2/users/by/username/:name`, or a numeric user id)
and kind `search` (value a recent-search query, e.g. `#PilkadaTanahMerah` or `netralitas ASN lang:in`); instance
`api.x.com`. The bearer token comes from PANTAU_X_BEARER_TOKEN in the environment and travels in the
Authorization header only; without it every target is reported `disabled`. X limits requests per 15-minute window:
a 429 waits for `x-rate-limit-reset` (RateLimitMiddleware), and so does a window that reports 0 remaining.
Kind `recheck` (value a tweet id) fetches flagged tweets again with `GET /2/tweets?ids=`, 100 at a time: a
changed text is an edit (the load keeps the earlier version), a tweet X no longer returns is a deletion.
Parsing is in spiders.pages.x.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from pipeline.schema import canonical_json
from spiders.base import PantauSpider, TargetRun, failure_status, header
from spiders.pages.wire import safe_text
from spiders.pages.x import (
    Lookup,
    TweetPage,
    id_key,
    parse_lookup,
    parse_tweets,
    parse_user,
    problem_message,
    tweet_to_post,
)

PAGE_LIMIT = 100
TWEET_FIELDS = {
    "tweet.fields": "created_at,lang,public_metrics,author_id,referenced_tweets,attachments,conversation_id",
    "expansions": "author_id,attachments.media_keys",
    "user.fields": "username,name,description,created_at,protected",
    "media.fields": "url,preview_image_url,type",
}


class XSpider(PantauSpider):
    name = "x"
    kinds: ClassVar[frozenset[str]] = frozenset({"account", "search", "recheck"})
    custom_settings: ClassVar[dict[str, Any]] = {"PANTAU_RATELIMIT_MAX_WAIT": 900.0}  # X's windows are 15 minutes

    async def start(self) -> AsyncIterator[Any]:
        for record in self.target_rejects():
            yield record
        runs = self.open_runs()
        token = self.secret("x_bearer_token")
        if not token:
            detail = "the x spider needs an API v2 bearer token: set PANTAU_X_BEARER_TOKEN to enable it"
            self.logger.warning("x disabled: %s", detail)
            for record in self.finish_all("disabled", detail):
                yield record
            return
        self.auth = f"Bearer {token}"
        for batch in self.recheck_batches(runs, 100):
            path = "/2/tweets"
            params = {"ids": ",".join(run.target.value for run in batch), **TWEET_FIELDS}
            yield Request(
                f"{self.origin(batch[0].target)}{path}?{urlencode(params)}",
                callback=self.parse_recheck,
                errback=self.on_batch_error,
                cb_kwargs={"runs": batch, "path": path},
                headers={"Authorization": self.auth},
                dont_filter=True,
            )
        for run in runs:
            value = run.target.value.lstrip("@")
            if run.target.kind == "recheck":
                continue
            if run.target.kind == "search":
                yield self._tweets_request(run, "/2/tweets/search/recent", {"query": run.target.value}, "next_token")
            elif value.isdigit():
                yield self._tweets_request(run, f"/2/users/{value}/tweets", {}, "pagination_token")
            else:
                path = f"/2/users/by/username/{quote(value, safe='')}"
                yield self._request(run, path, {"user.fields": "description"}, self.parse_user)

    def _request(self, run: TargetRun, path: str, params: dict[str, Any], callback: Any, **kwargs: Any) -> Request:
        return Request(
            f"{self.origin(run.target)}{path}?{urlencode(params)}",
            callback=callback,
            errback=self.on_error,
            cb_kwargs={"run": run, "path": path, **kwargs},
            headers={"Authorization": self.auth},
            dont_filter=True,
        )

    def _tweets_request(
        self, run: TargetRun, path: str, params: dict[str, Any], token_name: str, token: str | None = None
    ) -> Request:
        query = {**params, "max_results": PAGE_LIMIT, **TWEET_FIELDS}
        if run.target.since_id:
            query["since_id"] = run.target.since_id
        if token:
            query[token_name] = token
        run.cursor = token
        return self._request(run, path, query, self.parse_tweets, base_params=params, token_name=token_name)

    def parse_user(self, response: Response, run: TargetRun, path: str) -> Iterator[Any]:
        found = parse_user(response.body, header(response, "Content-Type"))
        if found.user_id is None:
            if found.problem == "error":
                yield self.reject(run, f"user lookup: {found.error}", response.body.decode("utf-8", "replace"))
            yield self.finish(run, found.problem or "error", f"user lookup: {found.error}")  # type: ignore[arg-type]
            return
        yield self._tweets_request(run, f"/2/users/{found.user_id}/tweets", {}, "pagination_token")

    def parse_tweets(
        self, response: Response, run: TargetRun, path: str, base_params: dict[str, Any], token_name: str
    ) -> Iterator[Any]:
        page = parse_tweets(
            response.body, header(response, "Content-Type"), target=run.target.target, collected_at=datetime.now(UTC)
        )
        run.pages += 1
        if page.newest_id and (run.newest_id is None or id_key(page.newest_id) > id_key(run.newest_id)):
            run.newest_id = page.newest_id
        for post in page.posts:
            yield self.post(run, post)
        for bad in page.rejects:
            yield self.reject(run, bad.reason, bad.raw)
        if page.problem is not None:
            yield self.finish(run, page.problem, page.error or page.problem)  # type: ignore[arg-type]
        elif page.error is not None:
            yield self.finish(run, "error", f"page {run.pages}: {page.error}")
        else:
            yield self._next(run, path, base_params, token_name, page)

    def _next(self, run: TargetRun, path: str, params: dict[str, Any], token_name: str, page: TweetPage) -> Any:
        since = f" newer than {run.target.since_id}" if run.target.since_id else ""
        done = f"{run.fetched} posts{since} and {run.rejected} rejects in {run.pages} pages"
        if page.next_token is None or page.count == 0:
            return self.finish(run, "ok", done)
        if page.next_token == run.cursor:
            return self.finish(run, "ok", done + "; the server offered the same page again")
        if run.pages >= self.max_pages:
            return self.finish(run, "ok", done + f"; stopped at PANTAU_MAX_PAGES={self.max_pages}")
        return self._tweets_request(run, path, params, token_name, page.next_token)

    def parse_recheck(self, response: Response, runs: list[TargetRun], path: str) -> Iterator[Any]:
        found = parse_lookup(response.body, header(response, "Content-Type"))
        for run in runs:
            run.pages += 1
            tweet = found.tweets.get(run.target.value)
            if found.error is not None:
                yield self.finish(run, "error", f"tweet lookup: {found.error}")
            elif tweet is None:
                said = found.missing.get(run.target.value, "X no longer returns it")
                yield from self.gone(run, "x", run.target.value, said)
            else:
                yield from self._fetched_again(run, tweet, found)

    def _fetched_again(self, run: TargetRun, tweet: Any, found: Lookup) -> Iterator[Any]:
        when = datetime.now(UTC)
        try:
            post = tweet_to_post(tweet, found.users, found.media, target=run.target.watch_target, collected_at=when)
            yield self.post(run, post)
        except ValueError as exc:
            yield self.reject(run, str(exc), safe_text(canonical_json(tweet)))
        yield self.finish(run, "ok", "fetched again")

    def on_error(self, failure: Failure) -> Iterator[Any]:
        run: TargetRun = failure.request.cb_kwargs["run"]
        if not run.finished:
            status, detail = failure_status(failure, failure.request.cb_kwargs["path"], problem_message)
            if status == "unauthorized":
                detail += "; check PANTAU_X_BEARER_TOKEN"
            yield self.finish(run, status, detail)
