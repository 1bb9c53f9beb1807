"""X API v2 answers -> Posts and rejects: the parsing half of the X spider, free of Scrapy.

Timelines (`/2/users/:id/tweets`) and recent search (`/2/tweets/search/recent`) answer
`{data: [tweet], includes: {users, media}, meta: {newest_id, oldest_id, result_count, next_token}}`. A tweet's
author comes from `includes.users` (its bio is `description`). A retweet is recorded with `repost_of`, a reply with
`reply_to`, from `referenced_tweets`. X reports an unknown or protected account as a 200 with an `errors` array:
those become `not_found` / `not_public`. Tweet ids are digit strings compared by (length, text), never cast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.schema import Post, canonical_json, parse_post, sha256_text
from spiders.pages.wire import (
    PageError,
    PageReject,
    PageResult,
    StatusError,
    body_text,
    check_unicode,
    json_type,
    load_json,
    safe_text,
)

PLATFORM = "x"
_NOT_FOUND = "resource-not-found"
_NOT_PUBLIC = ("not-authorized-for-resource", "resource-unavailable")
LANGUAGES = {"in": "id", "und": None, "qme": None, "zxx": None}  # X's codes that mean something else or nothing


@dataclass
class TweetPage(PageResult):
    """What one page of tweets yielded; `problem` is "not_found" / "not_public" when X refused the target."""

    newest_id: str | None = None
    next_token: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class UserLookup:
    user_id: str | None
    problem: str | None = None  # not_found, not_public or error
    error: str | None = None


def id_key(tweet_id: str) -> tuple[int, str]:
    return (len(tweet_id), tweet_id)


def problem_message(body: bytes) -> str:
    """X's explanation of a refusal (`detail`, `title` or the first error's `detail`), or ''."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    errors = data.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    for value in (data.get("detail"), data.get("title"), first.get("detail"), first.get("message")):
        if isinstance(value, str) and value:
            return value
    return ""


def _problem(errors: Any) -> tuple[str, str] | None:
    """(status, detail) when a data-less answer's errors say the target is unknown or hidden."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    first = errors[0]
    kind = str(first.get("type", "")).rsplit("/", 1)[-1]
    detail = str(first.get("detail") or first.get("message") or first.get("title") or kind)
    if kind == _NOT_FOUND:
        return "not_found", detail
    if kind in _NOT_PUBLIC:
        return "not_public", detail
    return "error", detail


def parse_user(body: bytes, content_type: str | None) -> UserLookup:
    """`/2/users/by/username/:name` -> the user id, or why there is none."""
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return UserLookup(None, "error", str(exc))
    user = data.get("data") if isinstance(data, dict) else None
    if isinstance(user, dict) and isinstance(user.get("id"), str) and user["id"].isdigit():
        return UserLookup(user["id"])
    found = _problem(data.get("errors") if isinstance(data, dict) else None)
    if found:
        return UserLookup(None, *found)
    return UserLookup(None, "error", f"expected a user object with a digit-string id, got {json_type(user)}")


def parse_tweets(body: bytes, content_type: str | None, *, target: str, collected_at: datetime) -> TweetPage:
    """One page of a timeline or a recent search -> posts, rejects, paging facts."""
    page = TweetPage()
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return _unusable(page, str(exc), body)
    if not isinstance(data, dict):
        return _unusable(page, f"expected a JSON object, got {json_type(data)}", body)
    tweets = data.get("data", [])
    if "data" not in data and data.get("errors"):
        found = _problem(data["errors"])
        if found and found[0] != "error":
            page.problem, page.error = found
            return page
        return _unusable(page, f"the server answered an error: {found[1] if found else data['errors']}", body)
    if not isinstance(tweets, list):
        return _unusable(page, f"data: expected an array of tweets, got {json_type(tweets)}", body)
    users, media = _includes(data.get("includes"))
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    token = meta.get("next_token")
    page.next_token = token if isinstance(token, str) and token else None
    for tweet in tweets:
        page.count += 1
        _track(page, tweet)
        try:
            page.posts.append(tweet_to_post(tweet, users, media, target=target, collected_at=collected_at))
        except ValueError as exc:
            page.rejects.append(PageReject(str(exc), safe_text(canonical_json(tweet))))
    return page


def _unusable(page: TweetPage, reason: str, body: bytes) -> TweetPage:
    page.error = reason
    page.rejects.append(PageReject(reason, body_text(body)))
    return page


def _track(page: TweetPage, tweet: Any) -> None:
    tweet_id = tweet.get("id") if isinstance(tweet, dict) else None
    if isinstance(tweet_id, str) and tweet_id.isdigit():
        if page.newest_id is None or id_key(tweet_id) > id_key(page.newest_id):
            page.newest_id = tweet_id


def _includes(includes: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(users by id, media by media_key) of a page's expansions."""
    includes = includes if isinstance(includes, dict) else {}
    users = {u["id"]: u for u in includes.get("users") or [] if isinstance(u, dict) and isinstance(u.get("id"), str)}
    media = {
        m["media_key"]: m
        for m in includes.get("media") or []
        if isinstance(m, dict) and isinstance(m.get("media_key"), str)
    }
    return users, media


def tweet_to_post(
    tweet: Any,
    users: dict[str, dict[str, Any]],
    media: dict[str, dict[str, Any]],
    *,
    target: str,
    collected_at: datetime,
) -> Post:
    """One tweet (with its author from includes.users) -> a validated Post; ValueError with the reason."""
    if not isinstance(tweet, dict):
        raise StatusError(f"tweet is a JSON {json_type(tweet)}, not an object")
    tweet_id = tweet.get("id")
    if not isinstance(tweet_id, str) or not tweet_id.isdigit():
        raise StatusError(f"tweet id: expected a string of digits, got {json_type(tweet_id)} {tweet_id!r}")
    author = users.get(str(tweet.get("author_id")))
    if author is None:
        raise StatusError(f"tweet {tweet_id}: author_id {tweet.get('author_id')!r} is not in includes.users")
    raw = canonical_json({"tweet": tweet, "author": author})
    check_unicode(raw, {"tweet": tweet, "author": author}, "")
    metrics = tweet.get("public_metrics") if isinstance(tweet.get("public_metrics"), dict) else {}
    refs = _references(tweet.get("referenced_tweets"))
    username = author.get("username") if isinstance(author.get("username"), str) else author["id"]
    return parse_post(
        {
            "platform": PLATFORM,
            "platform_post_id": tweet_id,
            "url": f"https://x.com/{username}/status/{tweet_id}",
            "author": {
                "platform_id": author["id"],
                "handle": username,
                "display_name": author.get("name") or "",
                "bio": author.get("description") or "",
                "url": f"https://x.com/{username}",
            },
            "text": tweet.get("text"),
            "language": LANGUAGES.get(tweet.get("lang"), tweet.get("lang")),
            "posted_at": tweet.get("created_at"),
            "collected_at": collected_at,
            "watch_target": target,
            "engagement": {
                "replies": metrics.get("reply_count"),
                "reposts": metrics.get("retweet_count"),
                "likes": metrics.get("like_count"),
                "quotes": metrics.get("quote_count"),
                "views": metrics.get("impression_count"),
            },
            "media_urls": _media_urls(tweet, media),
            "reply_to": refs.get("replied_to"),
            "repost_of": refs.get("retweeted"),
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def _references(refs: Any) -> dict[str, str]:
    if refs is None:
        return {}
    if not isinstance(refs, list):
        raise StatusError(f"referenced_tweets: expected an array, got {json_type(refs)}")
    return {r["type"]: r["id"] for r in refs if isinstance(r, dict) and isinstance(r.get("id"), str) and r.get("type")}


def _media_urls(tweet: dict[str, Any], media: dict[str, dict[str, Any]]) -> list[str]:
    attachments = tweet.get("attachments") if isinstance(tweet.get("attachments"), dict) else {}
    urls = []
    for key in attachments.get("media_keys") or []:
        item = media.get(key, {})
        url = item.get("url") or item.get("preview_image_url")
        urls.append(url if isinstance(url, str) else f"https://x.com/i/media/{key}")
    return urls


@dataclass
class Lookup:
    """`GET /2/tweets?ids=` -> the tweets found, their expansions, and X's word on each id it did not return."""

    tweets: dict[str, Any] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def parse_lookup(body: bytes, content_type: str | None) -> Lookup:
    found = Lookup()
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        found.error = str(exc)
        return found
    if not isinstance(data, dict):
        found.error = f"expected a JSON object, got {json_type(data)}"
        return found
    tweets = data.get("data") if isinstance(data.get("data"), list) else []
    found.tweets = {t["id"]: t for t in tweets if isinstance(t, dict) and isinstance(t.get("id"), str)}
    found.users, found.media = _includes(data.get("includes"))
    for problem in data.get("errors") or []:
        if isinstance(problem, dict) and isinstance(problem.get("value"), str):
            found.missing[problem["value"]] = str(problem.get("detail") or problem.get("title") or "not returned")
    return found
