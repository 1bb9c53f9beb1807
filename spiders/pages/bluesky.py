"""Bluesky XRPC answers -> Posts and rejects: the parsing half of the Bluesky spider, free of Scrapy.

Feeds (`app.bsky.feed.getAuthorFeed`: `{cursor?, feed: [{post, reply?, reason?}]}`) and search results
(`app.bsky.feed.searchPosts`: `{cursor?, posts: [post]}`) become Posts. A repost (`reason` of type
`reasonRepost`) is recorded as a post of the account that reposted, with `repost_of` the original's at-uri and the
original's text. The bio comes from `app.bsky.actor.getProfile` (a feed carries none).

Incremental crawls compare the time an item entered the feed (`indexedAt`; a repost's own `indexedAt`): the cursor
is that time, normalised to `YYYY-MM-DDTHH:MM:SS.ffffffZ` so that text order is time order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    normalise_time,
    safe_text,
)
from spiders.pages.wire import load_json as _load_json

PLATFORM = "bluesky"
REPOST = "app.bsky.feed.defs#reasonRepost"


@dataclass
class FeedPage(PageResult):
    """What one feed or search page yielded. `count` counts entries; `skipped` those at or before the cursor;
    `newest` is the newest entry time (the next cursor); `cursor` the server's paging cursor."""

    skipped: int = 0
    newest: str | None = None
    cursor: str | None = None
    reached_cursor: bool = False


@dataclass(frozen=True)
class Profile:
    did: str | None
    handle: str = ""
    display_name: str = ""
    bio: str = ""
    error: str | None = None


def xrpc_error(body: bytes) -> str:
    """The `error: message` of an XRPC error body, or '' when the body is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict) or not isinstance(data.get("error"), str):
        return ""
    message = data.get("message")
    return f"{data['error']}: {message}" if isinstance(message, str) and message else data["error"]


def load_json(body: bytes, content_type: str | None) -> Any:
    """Parse a JSON answer or raise PageError saying what came instead (an XRPC error object included)."""
    data = _load_json(body, content_type)
    if isinstance(data, dict) and isinstance(data.get("error"), str) and "feed" not in data and "posts" not in data:
        raise PageError(f"the server answered an error: {xrpc_error(body)}")
    return data


def parse_profile(body: bytes, content_type: str | None) -> Profile:
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return Profile(None, error=str(exc))
    if not isinstance(data, dict) or not isinstance(data.get("did"), str):
        return Profile(None, error=f"expected a profile object with a did, got {json_type(data)}")
    description = data.get("description")
    return Profile(
        data["did"],
        handle=str(data.get("handle") or ""),
        display_name=str(data.get("displayName") or ""),
        bio=description if isinstance(description, str) else "",
    )


def parse_session(body: bytes, content_type: str | None) -> tuple[str | None, str | None]:
    """(access token, None) from createSession, or (None, why not)."""
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return None, str(exc)
    token = data.get("accessJwt") if isinstance(data, dict) else None
    return (token, None) if isinstance(token, str) and token else (None, "session answer without an accessJwt")


def parse_feed(
    body: bytes,
    content_type: str | None,
    *,
    target: str,
    since: str | None,
    collected_at: datetime,
    profile: Profile | None = None,
    key: str = "feed",
) -> FeedPage:
    """One page of getAuthorFeed (`key="feed"`, entries {post, reason?}) or searchPosts (`key="posts"`)."""
    page = FeedPage()
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return _unusable(page, str(exc), body)
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return _unusable(page, f"expected an object with a {key!r} array, got {json_type(data)}", body)
    cursor = data.get("cursor")
    page.cursor = cursor if isinstance(cursor, str) and cursor else None
    for entry in entries:
        page.count += 1
        item = entry if key == "feed" else {"post": entry}
        _read_entry(page, item, target=target, since=since, collected_at=collected_at, profile=profile)
    return page


def _unusable(page: FeedPage, reason: str, body: bytes) -> FeedPage:
    page.error = reason
    page.rejects.append(PageReject(reason, body_text(body)))
    return page


def _read_entry(
    page: FeedPage, item: Any, *, target: str, since: str | None, collected_at: datetime, profile: Profile | None
) -> None:
    when = _entry_time(item)
    if when is not None and since is not None and when <= since:
        page.skipped += 1
        page.reached_cursor = True
        return
    if when is not None and (page.newest is None or when > page.newest):
        page.newest = when
    try:
        page.posts.append(entry_to_post(item, target=target, collected_at=collected_at, profile=profile))
    except ValueError as exc:
        page.rejects.append(PageReject(str(exc), safe_text(canonical_json(item))))


def _entry_time(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    reason, post = item.get("reason"), item.get("post")
    if isinstance(reason, dict) and reason.get("$type") == REPOST:
        return normalise_time(reason.get("indexedAt"))
    if isinstance(post, dict):
        return normalise_time(post.get("indexedAt")) or normalise_time((post.get("record") or {}).get("createdAt"))
    return None


def entry_to_post(item: Any, *, target: str, collected_at: datetime, profile: Profile | None = None) -> Post:
    """One feed entry ({post, reason?}) -> a validated Post; ValueError with the reason it cannot be one."""
    if not isinstance(item, dict):
        raise StatusError(f"feed entry is a JSON {json_type(item)}, not an object")
    raw = canonical_json(item)
    check_unicode(raw, item, "")
    post = _object(item, "post")
    record = _object(post, "record", "post")
    reason = item.get("reason")
    repost = isinstance(reason, dict) and reason.get("$type") == REPOST
    uri = _string(post, "uri", "post")
    author = _object(reason, "by", "reason") if repost else _object(post, "author", "post")
    fields = {
        "platform": PLATFORM,
        "platform_post_id": (reason.get("uri") or f"{uri}#repost-by-{author.get('did')}") if repost else uri,
        "url": post_url(uri, _object(post, "author", "post")),
        "author": _author(author, profile),
        "text": record.get("text", ""),
        "language": _language(record),
        "posted_at": reason.get("indexedAt") if repost else record.get("createdAt"),
        "collected_at": collected_at,
        "watch_target": target,
        "engagement": {
            "replies": post.get("replyCount"),
            "reposts": post.get("repostCount"),
            "likes": post.get("likeCount"),
            "quotes": post.get("quoteCount"),
        },
        "media_urls": _media_urls(post.get("embed")),
        "reply_to": _reply_parent(record),
        "repost_of": uri if repost else None,
        "raw": raw,
        "raw_sha256": sha256_text(raw),
    }
    return parse_post(fields)


def post_url(uri: str, author: dict[str, Any]) -> str:
    """at://did/app.bsky.feed.post/rkey -> https://bsky.app/profile/<handle>/post/<rkey>."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        raise StatusError(f"post uri {uri!r} is not at://<did>/app.bsky.feed.post/<rkey>")
    handle = author.get("handle") if isinstance(author.get("handle"), str) else parts[0]
    return f"https://bsky.app/profile/{handle}/post/{parts[2]}"


def _author(author: dict[str, Any], profile: Profile | None) -> dict[str, Any]:
    did = _string(author, "did", "author")
    handle = author.get("handle") if isinstance(author.get("handle"), str) else did
    bio = profile.bio if profile is not None and profile.did == did else ""
    return {
        "platform_id": did,
        "handle": handle,
        "display_name": author.get("displayName") or "",
        "bio": bio,
        "url": f"https://bsky.app/profile/{handle}",
    }


def _language(record: dict[str, Any]) -> Any:
    langs = record.get("langs")
    return langs[0] if isinstance(langs, list) and langs else None


def _reply_parent(record: dict[str, Any]) -> Any:
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, dict) else None
    return parent.get("uri") if isinstance(parent, dict) else None


def _media_urls(embed: Any) -> list[str]:
    """Image URLs and link-card targets of a post's embed view (a record-with-media nests one more level)."""
    if not isinstance(embed, dict):
        return []
    urls = [img["fullsize"] for img in embed.get("images") or [] if isinstance(img, dict) and img.get("fullsize")]
    external = embed.get("external")
    if isinstance(external, dict) and isinstance(external.get("uri"), str):
        urls.append(external["uri"])
    if isinstance(embed.get("playlist"), str):
        urls.append(embed["playlist"])
    return urls + _media_urls(embed.get("media"))


def _object(obj: Any, key: str, where: str = "entry") -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, dict):
        raise StatusError(f"{where} without {key}" if value is None else f"{where} {key}: expected an object")
    return value


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        kind = "" if value is None else f", got {json_type(value)}"
        raise StatusError(f"{where} {key}: expected a non-empty string{kind}")
    return value


def posts_by_uri(body: bytes, content_type: str | None) -> tuple[dict[str, Any], str | None]:
    """`app.bsky.feed.getPosts` -> (post views by at-uri, why the answer is unusable or None)."""
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return {}, str(exc)
    posts = data.get("posts") if isinstance(data, dict) else None
    if not isinstance(posts, list):
        return {}, f"expected an object with a 'posts' array, got {json_type(data)}"
    return {p["uri"]: p for p in posts if isinstance(p, dict) and isinstance(p.get("uri"), str)}, None
