"""Mastodon API answers -> Posts and rejects: the parsing half of the Mastodon spider, free of Scrapy.

Inputs are what came over the wire (body bytes, Content-Type, Link header) plus the watch target, the
instance that was asked and the collection time. Outputs are validated `Post`s, `PageReject`s with a reason
a person can act on, and the cursor facts the spider pages with. Status ids are opaque numeric strings:
they are compared with `id_key` (length, then text) and never cast to int.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.schema import Post, canonical_json, parse_post, sha256_text

PLATFORM = "mastodon"
MAX_PAGE_RAW_CHARS = 1_000_000  # an unusable page is kept as evidence, but a runaway body is not kept whole

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')
_SPACES = re.compile(r"[ \t\r\n\f]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class PageError(ValueError):
    """A whole answer that cannot be read as the JSON we asked for."""


class StatusError(ValueError):
    """A status whose shape is wrong before the Post contract can even judge it."""


@dataclass(frozen=True)
class PageReject:
    reason: str
    raw: str


@dataclass
class StatusPage:
    """What one timeline page yielded. `count` counts every array entry, good or bad: the spider compares
    it with the requested limit to know whether older pages may exist."""

    posts: list[Post] = field(default_factory=list)
    rejects: list[PageReject] = field(default_factory=list)
    count: int = 0
    newest_id: str | None = None
    oldest_id: str | None = None
    next_max_id: str | None = None
    error: str | None = None  # set when the page as a whole was unusable (its reject is in `rejects`)

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "newest_id": self.newest_id,
            "oldest_id": self.oldest_id,
            "next_max_id": self.next_max_id,
            "error": self.error,
            "posts": [p.model_dump(mode="json") for p in self.posts],
            "rejects": [{"reason": r.reason, "raw": r.raw} for r in self.rejects],
        }


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


def body_text(body: bytes) -> str:
    """A body as text for a reject's `raw`: undecodable bytes shown as \\xNN, so the evidence stays UTF-8."""
    text = body.decode("utf-8", "backslashreplace")
    if len(text) > MAX_PAGE_RAW_CHARS:
        return text[:MAX_PAGE_RAW_CHARS] + f"\n[... {len(text) - MAX_PAGE_RAW_CHARS} more characters cut]"
    return text


# ---------------------------------------------------------------- HTML to text


class _TextExtractor(HTMLParser):
    """Collects the text of sanitised status HTML; line structure comes only from tags, as in a browser."""

    _PARAGRAPHS = frozenset({"p", "div", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol"})
    _SKIPPED = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            # Source whitespace (raw newlines too) is layout, not content, exactly as a browser shows it.
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Sanitised Mastodon HTML -> plain text: <br> is a line break, a paragraph ends with a blank line,
    entities are unescaped and link text (hashtags, mentions, the hidden parts of long URLs) is kept."""
    if "<" not in html and "&" not in html:
        return html.strip()
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.parts).split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


# Every status repeats its author's bio: parsed once per account, not once per status.
_bio_text = lru_cache(maxsize=2048)(html_to_text)


# ---------------------------------------------------------------- JSON bodies


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def load_json(body: bytes, content_type: str | None) -> Any:
    """Parse a JSON answer or raise PageError saying what came instead."""
    media = _media_type(content_type)
    if media and media != "application/json" and not media.endswith("+json"):
        raise PageError(f"expected JSON, got {media}")
    # Bad bytes survive as surrogates so that one broken status does not cost its whole page:
    # they are found and reported per status in status_to_post.
    text = body.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PageError(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


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


def _unusable(page: StatusPage, reason: str, body: bytes) -> StatusPage:
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


def _bad_unicode(value: Any, path: str) -> str | None:
    """The first field holding text that is not valid UTF-8, named by its path, e.g. 'content: ...'."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        if match is None:
            return None
        code = ord(match.group())
        where = path or "status"
        if 0xDC80 <= code <= 0xDCFF:  # a byte that surrogateescape kept
            return f"{where}: invalid UTF-8 (byte 0x{code - 0xDC00:02x} at character {match.start()})"
        return f"{where}: lone surrogate U+{code:04X} at character {match.start()} (not valid UTF-8)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        sub = f"{path}.{key}" if path else str(key)
        found = _bad_unicode(str(key), sub) or _bad_unicode(item, sub)
        if found:
            return found
    return None


def _safe_text(text: str) -> str:
    """Text fit to write as UTF-8: bytes kept by surrogateescape become \\xNN, lone surrogates \\udNNN."""
    if not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that came from a JSON \\u escape, not from a byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
