"""RSS 2.0 and Atom feeds, and the article pages they link to -> Posts and rejects, free of Scrapy.

`parse_feed` reads a feed (title, link, description, language; per item its id, link, title, date, author and
summary) with an XML parser that resolves no entities and fetches nothing. `parse_article` takes the text of the
article from its page: the `itemprop=articleBody` / `.entry-content` / `<article>` / `<main>` container, paragraph by
paragraph, without navigation, scripts, asides or footers. `item_to_post` makes one Post of an item and its
article (or, when the article could not be fetched, of the feed's own summary), with the outlet as the author.
Items are compared with the cursor by date (`normalise_time`); an item older than the cursor is skipped unread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from parsel import Selector

from pipeline.schema import Post, canonical_json, parse_post, sha256_text
from spiders.pages.wire import MAX_PAGE_RAW_CHARS, PageReject, StatusError, body_text, html_to_text, normalise_time

PLATFORM = "rss"
MAX_ID_CHARS = 200
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
_CONTAINERS = ('[itemprop="articleBody"]', ".entry-content", ".post-content", "article", "main", "body")
_NOISE = "script, style, nav, aside, footer, form, figure figcaption, .iklan, .ads, .share"


@dataclass
class FeedItem:
    key: str  # guid, Atom id or link
    link: str
    title: str
    published: str | None  # normalised, as cursors are
    date_text: str | None  # the date as the feed wrote it
    author: str
    summary: str
    raw: str  # the item's XML as served


@dataclass
class Feed:
    """A parsed feed; `items` are the new ones (newer than the cursor, or undated), newest first."""

    title: str = ""
    link: str = ""
    description: str = ""
    language: str | None = None
    items: list[FeedItem] = field(default_factory=list)
    rejects: list[PageReject] = field(default_factory=list)
    count: int = 0
    skipped: int = 0
    newest: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "link": self.link,
            "description": self.description,
            "language": self.language,
            "count": self.count,
            "skipped": self.skipped,
            "newest": self.newest,
            "error": self.error,
            "items": [item.__dict__ for item in self.items],
            "rejects": [{"reason": r.reason, "raw": r.raw} for r in self.rejects],
        }


@dataclass(frozen=True)
class Article:
    text: str
    html: str  # the container the text came from
    published: str | None
    sha256: str  # of the whole page as served
    error: str | None = None


def parse_feed(body: bytes, content_type: str | None, *, since: str | None) -> Feed:
    """A feed's bytes -> its facts and its new items (see the module docstring)."""
    feed = Feed()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("text/html", "application/json"):
        return _unusable(feed, f"expected an RSS or Atom feed, got {media}", body)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        return _unusable(feed, f"malformed XML: {exc}", body)
    if root is None:
        return _unusable(feed, "empty document", body)
    if root.tag == "rss" or root.find("channel") is not None:
        _read_rss(feed, root, since)
    elif root.tag == f"{ATOM}feed":
        _read_atom(feed, root, since)
    else:
        return _unusable(feed, f"not an RSS or Atom feed (root element <{etree.QName(root).localname}>)", body)
    return feed


def _unusable(feed: Feed, reason: str, body: bytes) -> Feed:
    feed.error = reason
    feed.rejects.append(PageReject(reason, body_text(body)))
    return feed


def _text(element: Any, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def _read_rss(feed: Feed, root: Any, since: str | None) -> None:
    channel = root.find("channel")
    feed.title, feed.link = _text(channel, "title"), _text(channel, "link")
    feed.description = html_to_text(_text(channel, "description"))
    feed.language = _language(_text(channel, "language"))
    for item in channel.findall("item") if channel is not None else []:
        date_text = _text(item, "pubDate") or _text(item, f"{DC}date") or None
        link = _text(item, "link")
        summary = _text(item, f"{CONTENT}encoded") or _text(item, "description")
        author = _text(item, f"{DC}creator") or _text(item, "author")
        _add_item(
            feed, item, _text(item, "guid") or link, link, _text(item, "title"), date_text, author, summary, since
        )


def _read_atom(feed: Feed, root: Any, since: str | None) -> None:
    feed.title, feed.description = _text(root, f"{ATOM}title"), html_to_text(_text(root, f"{ATOM}subtitle"))
    feed.link = _atom_link(root)
    feed.language = _language(root.get("{http://www.w3.org/XML/1998/namespace}lang") or "")
    for entry in root.findall(f"{ATOM}entry"):
        date_text = _text(entry, f"{ATOM}published") or _text(entry, f"{ATOM}updated") or None
        link = _atom_link(entry)
        summary = _text(entry, f"{ATOM}summary") or _text(entry, f"{ATOM}content")
        author = _text(entry.find(f"{ATOM}author"), f"{ATOM}name")
        key = _text(entry, f"{ATOM}id") or link
        _add_item(feed, entry, key, link, _text(entry, f"{ATOM}title"), date_text, author, summary, since)


def _atom_link(element: Any) -> str:
    for link in element.findall(f"{ATOM}link"):
        if link.get("rel") in (None, "alternate") and link.get("href"):
            return str(link.get("href"))
    return ""


def _language(code: str) -> str | None:
    """`id-ID` -> `id`; nothing -> None."""
    primary = code.split("-", 1)[0].strip().lower()
    return primary or None


def _add_item(
    feed: Feed,
    element: Any,
    key: str,
    link: str,
    title: str,
    date_text: str | None,
    author: str,
    summary: str,
    since: str | None,
) -> None:
    feed.count += 1
    raw = etree.tostring(element, encoding="unicode")
    if not link.startswith(("http://", "https://")):
        feed.rejects.append(PageReject(f"item without an http(s) link (got {link!r})", raw))
        return
    published = feed_date(date_text)
    if published is not None and since is not None and published <= since:
        feed.skipped += 1
        return
    if published is not None and (feed.newest is None or published > feed.newest):
        feed.newest = published
    summary_text = html_to_text(summary)
    feed.items.append(FeedItem(key, link, title, published, date_text, author, summary_text, raw))


def feed_date(value: str | None) -> str | None:
    """An RSS date (RFC 822) or an Atom date (ISO 8601) -> the cursor form; None when absent or unreadable."""
    if not value:
        return None
    try:
        return normalise_time(parsedate_to_datetime(value).isoformat())
    except (TypeError, ValueError):
        return normalise_time(value)


def parse_article(body: bytes, content_type: str | None) -> Article:
    """An article page -> its text (see the module docstring); `error` when the page has no readable text."""
    digest = hashlib.sha256(body).hexdigest()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and "html" not in media:
        return Article("", "", None, digest, f"the article link gave {media}, not an HTML page")
    page = Selector(text=body.decode("utf-8", "replace"))
    published = normalise_time(page.css('meta[property="article:published_time"]::attr(content)').get())
    for css in _CONTAINERS:
        container = page.css(css)
        if container:
            html = container[0].get()
            cleaned = Selector(text=html)
            for noise in cleaned.css(_NOISE):
                noise.drop()
            paragraphs = [html_to_text(p) for p in cleaned.css("p").getall()]
            text = "\n\n".join(p for p in paragraphs if p) or html_to_text(cleaned.get())
            if text:
                return Article(text, html[:MAX_PAGE_RAW_CHARS], published, digest)
    return Article("", "", published, digest, "the article page has no readable text")


def item_to_post(
    item: FeedItem,
    feed: Feed,
    *,
    feed_url: str,
    article: Article | None,
    target: str,
    collected_at: datetime,
) -> Post:
    """One feed item and its article -> a validated Post; ValueError with the reason it cannot be one."""
    posted_at = item.published or (article.published if article else None)
    if posted_at is None:
        raise StatusError(f"item {item.link} has no readable date (feed said {item.date_text!r}; no date on its page)")
    body = article.text if article is not None and article.error is None else item.summary
    host = urlsplit(feed.link or feed_url).hostname or urlsplit(feed_url).hostname or "feed"
    raw_obj: dict[str, Any] = {"feed": feed_url, "item": item.raw}
    if article is not None:
        raw_obj["article"] = {"url": item.link, "sha256": article.sha256, "html": article.html, "error": article.error}
    raw = canonical_json(raw_obj)
    return parse_post(
        {
            "platform": PLATFORM,
            "platform_post_id": post_id(item.key),
            "url": item.link,
            "author": {
                "platform_id": host,
                "handle": host,
                "display_name": feed.title,
                "bio": feed.description,
                "url": urljoin(feed_url, feed.link or "/"),
            },
            "text": "\n\n".join(t for t in (item.title, body) if t),
            "language": feed.language,
            "posted_at": posted_at,
            "collected_at": collected_at,
            "watch_target": target,
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def post_id(key: str) -> str:
    """The item's id as the post id; a longer one (some guids are whole URLs with queries) by its sha256."""
    return key if len(key) <= MAX_ID_CHARS else "sha256:" + sha256_text(key)
