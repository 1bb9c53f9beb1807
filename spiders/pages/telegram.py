"""Telegram channel previews (`t.me/s/<channel>` HTML) -> Posts and rejects: the parsing half of the Telegram spider.

Inputs are what came over the wire (body bytes, Content-Type, the URL the answer finally came from) plus the watch
target, its cursor and the collection time. A page lists messages oldest first; each is a
`div.tgme_widget_message[data-post="<channel>/<id>"]` with its text, `time[datetime]`, views ("1.2K"), owner name,
photos and link previews. Older messages are behind `a.tme_messages_more[data-before]`. A channel without a public
preview redirects away from `/s/`: that page is `not_public`, not an error. Message ids are per channel, so a post's
id is `<channel>/<id>`; the cursor is the numeric id alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector

from pipeline.schema import Post, canonical_json, parse_post, sha256_text
from spiders.pages.wire import PageReject, PageResult, body_text, html_to_text

PLATFORM = "telegram"
_DATA_POST = re.compile(r"^([A-Za-z0-9_]{1,64})/([0-9]{1,12})$")
_VIEWS = re.compile(r"^([0-9]+(?:[.,][0-9]+)?)\s*([KMB]?)$", re.IGNORECASE)
_BACKGROUND = re.compile(r"background-image:\s*url\(['\"]?([^'\")]+)['\"]?\)")
_TME = re.compile(r"^https?://t\.me/(?:s/)?([A-Za-z0-9_]+)/([0-9]+)")
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
_TEXT = "./div[contains(concat(' ', normalize-space(@class), ' '), ' tgme_widget_message_bubble ')]/div[contains(concat(' ', normalize-space(@class), ' '), ' tgme_widget_message_text ')]"  # noqa: E501 (one XPath)


class MessageError(ValueError):
    """A message whose markup lacks what every message has."""


@dataclass
class ChannelPage(PageResult):
    """What one preview page yielded. `count` counts message blocks; `skipped` those that are not posts (service
    messages) or not new (at or below the cursor); `before` is the id to page back from, when older ones exist."""

    skipped: int = 0
    newest_id: str | None = None
    oldest_id: str | None = None
    before: str | None = None
    reached_cursor: bool = False  # a message at or below the cursor was on this page: no need to page further
    title: str = ""
    description: str = ""
    not_public: bool = False


def id_key(message_id: str) -> tuple[int, str]:
    """Numeric ids as strings: longer is newer, then text order (never cast)."""
    return (len(message_id), message_id)


def parse_views(text: str) -> int:
    """'987' -> 987, '1.2K' -> 1200, '15,3K' -> 15300, '1.1M' -> 1100000 (as precise as Telegram shows it)."""
    match = _VIEWS.match(text.strip())
    if not match:
        raise MessageError(f"views {text.strip()!r} is not a count such as 987 or 1.2K")
    number, unit = match.groups()
    return round(float(number.replace(",", ".")) * _MULTIPLIERS[unit.upper()])


def parse_preview(
    body: bytes,
    content_type: str | None,
    *,
    url: str,
    target: str,
    since_id: str | None,
    collected_at: datetime,
) -> ChannelPage:
    """One `t.me/s/<channel>` page -> posts, rejects and paging facts (see the module docstring)."""
    page = ChannelPage()
    if "/s/" not in urlsplit(url).path:
        page.not_public = True
        page.error = f"no public preview: the channel page redirected to {urlsplit(url).path or '/'}"
        return page
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media != "text/html":
        return _unusable(page, f"expected an HTML page, got {media}", body)
    html = body.decode("utf-8", "replace")  # a bad byte is found and reported per message below
    selector = Selector(text=html)
    if not selector.css("section.tgme_channel_history, div.tgme_channel_info"):
        return _unusable(page, "not a channel preview page (no tgme_channel_history)", body)
    page.title = _text(selector.css("div.tgme_channel_info_header_title"))
    page.description = html_to_text(selector.css("div.tgme_channel_info_description").get() or "")
    before = selector.css("a.tme_messages_more::attr(data-before)").get()
    page.before = before if before and before.isdigit() else None
    for message in selector.css("div.tgme_widget_message"):
        page.count += 1
        _read_message(page, message, target=target, since_id=since_id, collected_at=collected_at)
    return page


def _unusable(page: ChannelPage, reason: str, body: bytes) -> ChannelPage:
    page.error = reason
    page.rejects.append(PageReject(reason, body_text(body)))
    return page


def _read_message(
    page: ChannelPage, message: Selector, *, target: str, since_id: str | None, collected_at: datetime
) -> None:
    outer = message.get()
    match = _DATA_POST.match(message.attrib.get("data-post", ""))
    if match is None:
        page.rejects.append(
            PageReject(f"message data-post {message.attrib.get('data-post')!r} is not channel/id", outer)
        )
        return
    message_id = match.group(2)
    if since_id is not None and id_key(message_id) <= id_key(since_id):
        page.skipped += 1  # collected by an earlier run
        page.reached_cursor = True
        return
    page.newest_id = max(filter(None, (page.newest_id, message_id)), key=id_key)
    page.oldest_id = min(filter(None, (page.oldest_id, message_id)), key=id_key)
    if "service_message" in message.attrib.get("class", ""):
        page.skipped += 1  # "channel created", "pinned a message": not a post
        return
    try:
        page.posts.append(message_to_post(message, page, target=target, collected_at=collected_at))
    except ValueError as exc:
        page.rejects.append(PageReject(str(exc), outer))


def message_to_post(message: Selector, page: ChannelPage, *, target: str, collected_at: datetime) -> Post:
    """One message block -> a validated Post; ValueError with the reason it cannot be one."""
    outer = message.get()
    if "\ufffd" in outer:
        raise MessageError("message is not valid UTF-8 (undecodable bytes in its HTML)")
    channel, message_id = message.attrib["data-post"].split("/")
    posted_at = message.css("a.tgme_widget_message_date time::attr(datetime)").get()
    if not posted_at:
        raise MessageError("message without a time[datetime]")
    views = message.css("span.tgme_widget_message_views::text").get()
    raw = canonical_json({"channel": channel, "html": outer})
    return parse_post(
        {
            "platform": PLATFORM,
            "platform_post_id": f"{channel}/{message_id}",
            "url": message.css("a.tgme_widget_message_date::attr(href)").get()
            or f"https://t.me/{channel}/{message_id}",
            "author": {
                "platform_id": channel.lower(),
                "handle": channel.lower(),
                "display_name": _text(message.css(".tgme_widget_message_owner_name")) or page.title,
                "bio": page.description,
                "url": f"https://t.me/{channel}",
            },
            "text": html_to_text(message.xpath(_TEXT).get() or ""),
            "language": None,
            "posted_at": posted_at,
            "collected_at": collected_at,
            "watch_target": target,
            "engagement": {"views": parse_views(views) if views is not None else None},
            "media_urls": _media_urls(message),
            "reply_to": _tme_post(message.css("a.tgme_widget_message_reply::attr(href)").get()),
            "repost_of": _forwarded(message),
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def _text(selection: Any) -> str:
    return " ".join(" ".join(selection.css("::text").getall()).split())


def _media_urls(message: Selector) -> list[str]:
    urls = []
    for style in message.css("a.tgme_widget_message_photo_wrap::attr(style)").getall():
        found = _BACKGROUND.search(style)
        if found:
            urls.append(found.group(1))
    urls += message.css("video.tgme_widget_message_video::attr(src)").getall()
    urls += message.css("a.tgme_widget_message_link_preview::attr(href)").getall()
    return urls


def _tme_post(href: str | None) -> str | None:
    """A t.me message link -> `<channel>/<id>`, the form of our post ids."""
    if not href:
        return None
    match = _TME.match(href)
    return f"{match.group(1)}/{match.group(2)}" if match else href


def _forwarded(message: Selector) -> str | None:
    link = message.css("a.tgme_widget_message_forwarded_from_name")
    if link:
        return _tme_post(link.attrib.get("href")) or _text(link) or None
    name = _text(message.css(".tgme_widget_message_forwarded_from_name"))
    return name or None
