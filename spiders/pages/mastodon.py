"""Mastodon API answers -> Posts and rejects: the parsing half of the Mastodon spider, free of Scrapy.

Inputs are what came over the wire (body bytes, Content-Type, Link header) plus the watch target, the
instance that was asked and the collection time. Outputs are validated `Post`s, `PageReject`s with a reason
a person can act on, and the cursor facts the spider pages with. Status ids are opaque numeric strings:
they are compared with `id_key` (length, then text) and never cast to int.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from pipeline.schema import Post, canonical_json, parse_post, sha256_text
from spiders.pages.wire import (
    PageError,
    PageReject,
    PageResult,
    StatusError,
    body_text,
    html_to_text,
    load_json,
)
from spiders.pages.wire import bad_unicode as _bad_unicode
from spiders.pages.wire import json_type as _json_type
from spiders.pages.wire import safe_text as _safe_text

PLATFORM = "mastodon"
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


@dataclass
class StatusPage(PageResult):
    """What one timeline page yielded. `count` counts every array entry, good or bad: the spider compares
    it with the requested limit to know whether older pages may exist."""

    newest_id: str | None = None
    oldest_id: str | None = None
    next_max_id: str | None = None


@dataclass
class StatusResult(PageResult):
    """What `GET /api/v1/statuses/:id` yielded: the status as a Post (or its reject), and when it was last edited
    (`edited_at`, null for a status never edited). `error` is set when the answer is not that status at all."""

    edited_at: str | None = None


_Result = TypeVar("_Result", bound=PageResult)


@dataclass(frozen=True)
class AccountLookup:
    account_id: str | None
    error: str | None = None


# ---------------------------------------------------------------- ids and headers


def id_key(status_id: str) -> tuple[int, str]:
    """Sort key of a Mastodon id: longer is newer, then text order (ids outgrow int64 on some servers)."""
    return (len(status_id), status_id)


def newest_of(*ids: str | None) -> str | None:
    present = [i for i in ids if i]
    return max(present, key=id_key) if present else None


def oldest_of(*ids: str | None) -> str | None:
    present = [i for i in ids if i]
    return min(present, key=id_key) if present else None


def parse_link_header(value: str | None) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="prev"` -> {"next": url, "prev": url}."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def next_max_id(link: str | None) -> str | None:
    url = parse_link_header(link).get("next")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("max_id")
    return values[0] if values else None


# Every status repeats its author's bio: parsed once per account, not once per status.
_bio_text = lru_cache(maxsize=2048)(html_to_text)


# ---------------------------------------------------------------- JSON bodies


def parse_account(body: bytes, content_type: str | None) -> AccountLookup:
    """The answer of /api/v1/accounts/lookup -> the account id, or why there is none."""
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return AccountLookup(None, str(exc))
    if not isinstance(data, dict):
        return AccountLookup(None, f"expected a JSON account object, got {_json_type(data)}")
    account_id = data.get("id")
    if not isinstance(account_id, str) or not account_id:
        return AccountLookup(None, f"account id: expected a non-empty string, got {_json_type(account_id)}")
    return AccountLookup(account_id)


def parse_statuses(
    body: bytes,
    content_type: str | None,
    *,
    target: str,
    instance: str,
    collected_at: datetime,
    link: str | None = None,
) -> StatusPage:
    """One page of a statuses or tag timeline -> posts, rejects and paging facts."""
    page = StatusPage(next_max_id=next_max_id(link))
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return _unusable(page, str(exc), body)
    if not isinstance(data, list):
        return _unusable(page, _not_a_list(data), body)
    page.count = len(data)
    for status in data:
        _track_id(page, status)
        try:
            page.posts.append(status_to_post(status, target=target, instance=instance, collected_at=collected_at))
        except ValueError as exc:
            page.rejects.append(PageReject(str(exc), _safe_text(canonical_json(status))))
    return page


def parse_status(
    body: bytes,
    content_type: str | None,
    *,
    status_id: str,
    target: str,
    instance: str,
    collected_at: datetime,
) -> StatusResult:
    """The answer of `GET /api/v1/statuses/:id` (one Status object, a flagged post fetched again) -> its Post, or
    why there is none. `status_id` is the id asked for: an answer about another status is not this one."""
    result = StatusResult()
    try:
        data = load_json(body, content_type)
    except PageError as exc:
        return _unusable(result, str(exc), body)
    if not isinstance(data, dict):
        return _unusable(result, f"expected a JSON status object, got {_json_type(data)}", body)
    if "id" not in data and isinstance(data.get("error"), str):
        return _unusable(result, f"expected a JSON status object, got an error object: {data['error']}", body)
    result.count = 1
    answered = data.get("id")
    if isinstance(answered, str) and answered and answered != status_id:
        return _unusable(result, f"asked for status {status_id}, the answer is status {answered}", body)
    edited_at = data.get("edited_at")
    result.edited_at = edited_at if isinstance(edited_at, str) else None
    try:
        result.posts.append(status_to_post(data, target=target, instance=instance, collected_at=collected_at))
    except ValueError as exc:
        result.rejects.append(PageReject(str(exc), _safe_text(canonical_json(data))))
    return result


def _unusable(page: _Result, reason: str, body: bytes) -> _Result:
    page.error = reason
    page.rejects.append(PageReject(reason, body_text(body)))
    return page


def _not_a_list(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return f"expected a JSON array of statuses, got an error object: {data['error']}"
    return f"expected a JSON array of statuses, got {_json_type(data)}"


def _track_id(page: StatusPage, status: Any) -> None:
    status_id = status.get("id") if isinstance(status, dict) else None
    if isinstance(status_id, str) and status_id:
        page.newest_id = newest_of(page.newest_id, status_id)
        page.oldest_id = oldest_of(page.oldest_id, status_id)


# ---------------------------------------------------------------- one status


def status_to_post(status: Any, *, target: str, instance: str, collected_at: datetime) -> Post:
    """Map one Mastodon Status to a validated Post; raise ValueError with the reason it cannot be one."""
    if not isinstance(status, dict):
        raise StatusError(f"status is a JSON {_json_type(status)}, not an object")
    raw = canonical_json(status)
    if _SURROGATE.search(raw):
        raise StatusError(_bad_unicode(status, "") or "status is not valid UTF-8")
    return parse_post(_post_fields(status, raw, target=target, instance=instance, collected_at=collected_at))


def _post_fields(
    status: dict[str, Any], raw: str, *, target: str, instance: str, collected_at: datetime
) -> dict[str, Any]:
    status_id = _required(status, "id")
    reblog = _reblog(status)
    source = reblog if reblog is not None else status  # a boost's words, media and counts are the original's
    return {
        "platform": PLATFORM,
        "platform_post_id": status_id,
        "url": _status_url(status, reblog),
        "author": _author(_account(status), instance),
        "text": html_to_text(_html(source, "content")),
        "language": source.get("language"),
        "posted_at": _required(status, "created_at"),
        "collected_at": collected_at,
        "watch_target": target,
        "engagement": {
            "replies": source.get("replies_count"),
            "reposts": source.get("reblogs_count"),
            "likes": source.get("favourites_count"),
        },
        "media_urls": _media_urls(source),
        "reply_to": status.get("in_reply_to_id"),
        "repost_of": _required(reblog, "id", "reblog") if reblog is not None else None,
        "raw": raw,
        "raw_sha256": sha256_text(raw),
    }


def _required(obj: dict[str, Any], key: str, where: str = "status") -> str:
    """A field Mastodon always sends as a string; its absence or another type is the reject's reason."""
    value = obj.get(key)
    if value is None or value == "":
        raise StatusError(f"{where} without {key}")
    if not isinstance(value, str):
        raise StatusError(f"{where} {key}: expected a string, got {_json_type(value)} {value!r}")
    return value


def _reblog(status: dict[str, Any]) -> dict[str, Any] | None:
    reblog = status.get("reblog")
    if reblog is not None and not isinstance(reblog, dict):
        raise StatusError(f"reblog: expected an object or null, got {_json_type(reblog)}")
    return reblog


def _account(status: dict[str, Any]) -> dict[str, Any]:
    account = status.get("account")
    if not isinstance(account, dict):
        raise StatusError(
            "status without account" if account is None else f"account: expected an object, got {_json_type(account)}"
        )
    return account


def _author(account: dict[str, Any], instance: str) -> dict[str, Any]:
    acct = _required(account, "acct", "account")
    # Mastodon names its own users without the domain; the contract wants every handle as user@domain.
    handle = acct if "@" in acct else f"{acct}@{instance}"
    return {
        "platform_id": account.get("id"),
        "handle": handle,
        "display_name": account.get("display_name") or "",
        "bio": _bio_text(_html(account, "note")),
        "url": account.get("url"),
    }


def _html(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StatusError(f"{key}: expected HTML text, got {_json_type(value)}")
    return value


def _status_url(status: dict[str, Any], reblog: dict[str, Any] | None) -> str:
    # Remote boosts carry no url of their own; the ActivityPub uri, then the original's url, point at it.
    for candidate in (status.get("url"), status.get("uri"), (reblog or {}).get("url")):
        if isinstance(candidate, str) and candidate.startswith(("http://", "https://")):
            return candidate
    raise StatusError("status without an http(s) url or uri")


def _media_urls(source: dict[str, Any]) -> list[str]:
    media = source.get("media_attachments") or []
    if not isinstance(media, list):
        raise StatusError(f"media_attachments: expected an array, got {_json_type(media)}")
    urls = []
    for n, item in enumerate(media):
        if not isinstance(item, dict):
            raise StatusError(f"media_attachments.{n}: expected an object, got {_json_type(item)}")
        url = item.get("url") or item.get("remote_url")  # remote media not cached locally has only remote_url
        if url:
            urls.append(url)
    return urls
