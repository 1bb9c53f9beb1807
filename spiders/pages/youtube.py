"""YouTube Data API v3 answers -> Posts and rejects: the parsing half of the YouTube spider, free of Scrapy.

`channels.list` gives a channel's uploads playlist and its description (the bio). `playlistItems.list` of that
playlist gives the uploads: each video is a Post (title and description as text). `commentThreads.list`
(`part=snippet,replies`) gives comment threads: the top-level comment and the replies it carries are Posts
(`textOriginal`, `authorDisplayName`, `authorChannelId.value`, `likeCount`, `publishedAt`; a reply's `parentId` is
its `reply_to`). Errors come as `{error: {code, message, errors: [{reason}]}}`; `quotaExceeded` means the day's
quota is spent. Lists are newest first; the cursor is the newest `publishedAt`, in the form of `normalise_time`.
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
    load_json,
    normalise_time,
    safe_text,
)

PLATFORM = "youtube"
QUOTA_EXCEEDED = "quotaExceeded"


@dataclass
class ListPage(PageResult):
    """What one list page yielded. `count` counts items (a thread's replies count as items too); `skipped` those
    at or before the cursor; `newest` the newest item time; `next_token` the server's nextPageToken."""

    skipped: int = 0
    newest: str | None = None
    next_token: str | None = None
    reached_cursor: bool = False


@dataclass(frozen=True)
class ChannelInfo:
    channel_id: str | None
    uploads: str = ""
    title: str = ""
    description: str = ""
    handle: str = ""
    error: str | None = None


def api_error(body: bytes) -> tuple[str, str]:
    """(reason, message) of a Google API error body, or ("", "") when it is not one."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason") or error.get("status") or ""), str(error.get("message") or "")


def error_message(body: bytes) -> str:
    reason, message = api_error(body)
    return f"{reason}: {message}" if reason else message


def parse_channel(body: bytes, content_type: str | None) -> ChannelInfo:
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return ChannelInfo(None, error=str(exc))
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return ChannelInfo(None, error="no such channel (channels.list answered no items)")
    item = items[0]
    snippet = item.get("snippet") if isinstance(item.get("snippet"), dict) else {}
    playlists = (item.get("contentDetails") or {}).get("relatedPlaylists") or {}
    uploads = playlists.get("uploads") if isinstance(playlists, dict) else None
    if not isinstance(uploads, str) or not uploads:
        return ChannelInfo(None, error="channel without an uploads playlist")
    return ChannelInfo(
        str(item.get("id")),
        uploads=uploads,
        title=str(snippet.get("title") or ""),
        description=str(snippet.get("description") or ""),
        handle=str(snippet.get("customUrl") or item.get("id")),
    )


def _list(body: bytes, content_type: str | None, page: ListPage) -> list[Any] | None:
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        _unusable(page, str(exc), body)
        return None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        _unusable(page, f"expected an object with an items array, got {json_type(data)}", body)
        return None
    token = data.get("nextPageToken")
    page.next_token = token if isinstance(token, str) and token else None
    return items


def _unusable(page: ListPage, reason: str, body: bytes) -> None:
    page.error = reason
    page.rejects.append(PageReject(reason, body_text(body)))


def _is_new(page: ListPage, when: str | None, since: str | None) -> bool:
    """Track the newest time; False (and counted as skipped) for an item at or before the cursor."""
    if when is not None and since is not None and when <= since:
        page.skipped += 1
        page.reached_cursor = True
        return False
    if when is not None and (page.newest is None or when > page.newest):
        page.newest = when
    return True


def parse_uploads(
    body: bytes,
    content_type: str | None,
    *,
    target: str,
    channel: ChannelInfo,
    since: str | None,
    collected_at: datetime,
) -> ListPage:
    """One playlistItems page of a channel's uploads -> a Post per video."""
    page = ListPage()
    for item in _list(body, content_type, page) or []:
        page.count += 1
        snippet = item.get("snippet") if isinstance(item, dict) else None
        details = item.get("contentDetails") if isinstance(item, dict) else None
        when = normalise_time((details or {}).get("videoPublishedAt") or (snippet or {}).get("publishedAt"))
        if not _is_new(page, when, since):
            continue
        try:
            page.posts.append(video_to_post(item, channel, target=target, collected_at=collected_at))
        except ValueError as exc:
            page.rejects.append(PageReject(str(exc), safe_text(canonical_json(item))))
    return page


def video_to_post(item: Any, channel: ChannelInfo, *, target: str, collected_at: datetime) -> Post:
    if not isinstance(item, dict) or not isinstance(item.get("snippet"), dict):
        raise StatusError("playlist item without a snippet")
    raw = canonical_json(item)
    check_unicode(raw, item, "item")
    snippet = item["snippet"]
    details = item.get("contentDetails") if isinstance(item.get("contentDetails"), dict) else {}
    video_id = details.get("videoId") or (snippet.get("resourceId") or {}).get("videoId")
    if not isinstance(video_id, str) or not video_id:
        raise StatusError("playlist item without a videoId")
    thumbs = snippet.get("thumbnails") if isinstance(snippet.get("thumbnails"), dict) else {}
    thumb = (thumbs.get("high") or thumbs.get("default") or {}).get("url")
    return parse_post(
        {
            "platform": PLATFORM,
            "platform_post_id": video_id,
            "url": f"https://www.youtube.com/watch?v={video_id}",
            "author": _channel_author(channel),
            "text": "\n\n".join(t for t in (snippet.get("title"), snippet.get("description")) if t),
            "posted_at": details.get("videoPublishedAt") or snippet.get("publishedAt"),
            "collected_at": collected_at,
            "watch_target": target,
            "media_urls": [thumb] if isinstance(thumb, str) else [],
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def _channel_author(channel: ChannelInfo) -> dict[str, Any]:
    return {
        "platform_id": channel.channel_id,
        "handle": channel.handle or channel.channel_id,
        "display_name": channel.title,
        "bio": channel.description,
        "url": f"https://www.youtube.com/channel/{channel.channel_id}",
    }


def parse_threads(
    body: bytes, content_type: str | None, *, target: str, since: str | None, collected_at: datetime
) -> ListPage:
    """One commentThreads page -> a Post per top-level comment and per reply the thread carries."""
    page = ListPage()
    for thread in _list(body, content_type, page) or []:
        page.count += 1
        _read_thread(page, thread, target=target, since=since, collected_at=collected_at)
    return page


def _read_thread(page: ListPage, thread: Any, *, target: str, since: str | None, collected_at: datetime) -> None:
    snippet = thread.get("snippet") if isinstance(thread, dict) else None
    top = snippet.get("topLevelComment") if isinstance(snippet, dict) else None
    if not isinstance(top, dict):
        page.rejects.append(PageReject("comment thread without a topLevelComment", safe_text(canonical_json(thread))))
        return
    if _is_new(page, normalise_time((top.get("snippet") or {}).get("publishedAt")), since):
        _add_comment(page, top, thread, target=target, collected_at=collected_at)
    replies = (thread.get("replies") or {}).get("comments") if isinstance(thread.get("replies"), dict) else None
    for reply in replies if isinstance(replies, list) else []:
        page.count += 1
        when = normalise_time((reply.get("snippet") or {}).get("publishedAt") if isinstance(reply, dict) else None)
        if when is not None and since is not None and when <= since:
            page.skipped += 1  # an old reply on a thread that is new: already collected
            continue
        _is_new(page, when, None)
        _add_comment(page, reply, thread, target=target, collected_at=collected_at)


def _add_comment(page: ListPage, comment: Any, thread: Any, *, target: str, collected_at: datetime) -> None:
    try:
        page.posts.append(comment_to_post(comment, target=target, collected_at=collected_at))
    except ValueError as exc:
        page.rejects.append(PageReject(str(exc), safe_text(canonical_json(comment))))


def comment_to_post(comment: Any, *, target: str, collected_at: datetime) -> Post:
    """One comment resource -> a validated Post; ValueError with the reason it cannot be one."""
    if not isinstance(comment, dict) or not isinstance(comment.get("snippet"), dict):
        raise StatusError("comment without a snippet")
    raw = canonical_json(comment)
    check_unicode(raw, comment, "comment")
    snippet = comment["snippet"]
    comment_id = comment.get("id")
    if not isinstance(comment_id, str) or not comment_id:
        raise StatusError("comment without an id")
    channel = snippet.get("authorChannelId")
    author_id = channel.get("value") if isinstance(channel, dict) else None
    if not isinstance(author_id, str) or not author_id:
        raise StatusError(f"comment {comment_id} without authorChannelId.value")
    video_id = snippet.get("videoId")
    name = snippet.get("authorDisplayName") or author_id
    return parse_post(
        {
            "platform": PLATFORM,
            "platform_post_id": comment_id,
            "url": f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}",
            "author": {
                "platform_id": author_id,
                "handle": name,
                "display_name": name,
                "url": snippet.get("authorChannelUrl") or f"https://www.youtube.com/channel/{author_id}",
            },
            "text": snippet.get("textOriginal", snippet.get("textDisplay")),
            "posted_at": snippet.get("publishedAt"),
            "collected_at": collected_at,
            "watch_target": target,
            "engagement": {"likes": snippet.get("likeCount")},
            "reply_to": snippet.get("parentId"),
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def comments_by_id(body: bytes, content_type: str | None) -> tuple[dict[str, Any], str | None]:
    """`comments.list?id=` -> (comments by id, why the answer is unusable or None)."""
    page = ListPage()
    items = _list(body, content_type, page)
    if items is None:
        return {}, page.error
    return {c["id"]: c for c in items if isinstance(c, dict) and isinstance(c.get("id"), str)}, None
