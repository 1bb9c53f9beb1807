"""News and government sites over loopback: RSS 2.0 and Atom feeds, their article pages, conditional requests.

A site `https://<host>/<path>` is served at `/_sites/<host>/<path>` (the RSS spider maps a feed's and an article's
URL onto the replay server that way). Data folder `rss/`:
    sites.jsonl     {host, title, link, feed_path, format: "rss" | "atom", description, language}
    articles.jsonl  {host, path, title, published (ISO), [updated], author, summary, body: [paragraphs],
                     label (ground truth, never served)}
                 or a fault item {host, published, _raw_item: "<item or entry XML, spliced verbatim>"}

Feeds list the site's 20 newest articles with an `ETag` and a `Last-Modified`; a request that sends them back
(`If-None-Match`, `If-Modified-Since`) while nothing changed gets 304. robots.txt disallows `/_sites/*/internal/`:
an article there is in the feed but must not be fetched.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from pathlib import Path
from typing import Any

from spiders.replay.answers import Answer, ReplayRequest, epoch_of, html_answer
from spiders.replay.dataset import DatasetError, read_jsonl
from spiders.replay.generate import BUNDLED_SAMPLE, sample_pool, spread_times
from spiders.replay.platforms import Source

ROUTES = [("GET", "site", re.compile(r"^/_sites/(?P<host>[A-Za-z0-9.-]+)(?P<path>/.*)$"))]
ROBOTS_LINES = ["Disallow: /_sites/*/internal/"]
FEED_SIZE = 20


@dataclass
class Site:
    data: dict[str, Any]
    items: list[tuple[float | None, dict[str, Any]]] = field(default_factory=list)  # newest first
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> article

    @property
    def host(self) -> str:
        return str(self.data["host"])


class RssSource(Source):
    name = "rss"

    def __init__(self, sites: dict[str, Site]) -> None:
        self.sites = sites

    def health(self) -> dict[str, Any]:
        return {"sites": len(self.sites), "articles": sum(len(s.pages) for s in self.sites.values())}

    def targets(self) -> list[dict[str, str]]:
        return [{"kind": "feed", "handle": f"https://{s.host}{s.data['feed_path']}"} for s in self.sites.values()]

    def delete(self, post_id: str) -> bool:
        """post_id: the article's URL; its page answers 404 from now on (the feed still lists it)."""
        host, _, path = post_id.split("://", 1)[-1].partition("/")
        site = self.sites.get(host.lower())
        return site is not None and site.pages.pop("/" + path, None) is not None

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        site = self.sites.get(request.params["host"].lower())
        if site is None:
            return html_answer(404, "<h1>Not Found</h1>")
        path = request.params["path"]
        if path == site.data["feed_path"]:
            return self.feed(site, request)
        article = site.pages.get(path)
        if article is None or not request.visible(epoch_of(article["published"])):
            return html_answer(
                404, f"<html><body><h1>404</h1><p>Halaman {escape(path)} tidak ditemukan.</p></body></html>"
            )
        return html_answer(200, article_html(site, article))

    def feed(self, site: Site, request: ReplayRequest) -> Answer:
        shown = [(at, item) for at, item in site.items if request.visible(at)][:FEED_SIZE]
        body = (atom if site.data.get("format") == "atom" else rss)(site, [item for _, item in shown]).encode("utf-8")
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        newest = max((at for at, _ in shown if at is not None), default=0.0)
        modified = format_datetime(datetime.fromtimestamp(newest, UTC), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "max-age=300"}
        if _not_modified(request, etag, newest):
            return Answer(304, b"", "application/rss+xml; charset=utf-8", headers)
        kind = "application/atom+xml" if site.data.get("format") == "atom" else "application/rss+xml"
        return Answer(200, body, f"{kind}; charset=utf-8", headers)


def _not_modified(request: ReplayRequest, etag: str, newest: float) -> bool:
    match = request.header("If-None-Match")
    if match:
        return etag in [m.strip() for m in match.split(",")]
    since = request.header("If-Modified-Since")
    if since:
        try:
            return int(newest) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _link(site: Site, item: dict[str, Any]) -> str:
    return f"https://{site.host}{item['path']}"


def rss(site: Site, items: list[dict[str, Any]]) -> str:
    data = site.data
    parts = []
    for item in items:
        if "_raw_item" in item:
            parts.append(item["_raw_item"])
            continue
        when = format_datetime(datetime.fromisoformat(item["published"]).astimezone(UTC), usegmt=True)
        parts.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(_link(site, item))}</link>"
            f'<guid isPermaLink="true">{escape(_link(site, item))}</guid><pubDate>{when}</pubDate>'
            f"<dc:creator>{escape(item.get('author', ''))}</dc:creator>"
            f"<description>{escape('<p>' + escape(item.get('summary', '')) + '</p>')}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>{escape(data['title'])}</title><link>{escape(data['link'])}</link>"
        f"<description>{escape(data.get('description', ''))}</description>"
        f"<language>{escape(data.get('language', 'id'))}</language>" + "\n".join(parts) + "</channel></rss>\n"
    )


def atom(site: Site, items: list[dict[str, Any]]) -> str:
    data = site.data
    parts = []
    for item in items:
        if "_raw_item" in item:
            parts.append(item["_raw_item"])
            continue
        published = datetime.fromisoformat(item["published"]).isoformat()
        updated = datetime.fromisoformat(item.get("updated") or item["published"]).isoformat()
        parts.append(
            f"<entry><title>{escape(item['title'])}</title>"
            f'<link rel="alternate" type="text/html" href="{escape(_link(site, item))}"/>'
            f"<id>tag:{site.host},2024:{escape(item['path'])}</id><published>{published}</published>"
            f"<updated>{updated}</updated><author><name>{escape(item.get('author', ''))}</name></author>"
            f'<summary type="text">{escape(item.get("summary", ""))}</summary></entry>'
        )
    newest = max((datetime.fromisoformat(i["published"]) for i in items if "published" in i), default=None)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:lang="{escape(data.get("language", "id"))}"><title>{escape(data["title"])}</title>'
        f"<subtitle>{escape(data.get('description', ''))}</subtitle>"
        f'<link rel="alternate" href="{escape(data["link"])}"/><id>{escape(data["link"])}</id>'
        f"<updated>{newest.isoformat() if newest else '2024-01-01T00:00:00+00:00'}</updated>"
        + "\n".join(parts)
        + "</feed>\n"
    )


def article_html(site: Site, article: dict[str, Any]) -> str:
    """An article page as a news site renders one: navigation, the article, related links, a footer."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article.get("body", []))
    published = datetime.fromisoformat(article["published"]).isoformat()
    return (
        f'<!DOCTYPE html><html lang="id"><head><meta charset="utf-8"><title>{escape(article["title"])} - '
        f'{escape(site.data["title"])}</title><meta property="article:published_time" content="{published}">'
        f"<script>window.dataLayer=[];</script><style>.iklan{{display:block}}</style></head><body>"
        f'<nav class="menu"><a href="/">Beranda</a> <a href="/politik">Politik</a> <a href="/daerah">Daerah</a></nav>'
        f'<div class="iklan">IKLAN: Promo pulsa murah!</div><main><article class="post">'
        f'<h1 class="entry-title">{escape(article["title"])}</h1><div class="byline">Oleh '
        f"{escape(article.get('author', ''))} | {published}</div>"
        f'<div class="entry-content" itemprop="articleBody">{paragraphs}</div></article>'
        '<aside class="related"><h3>Baca juga</h3><ul><li><a href="/lain">Berita lain</a></li></ul></aside></main>'
        f"<footer>© 2024 {escape(site.data['title'])}. Hak cipta dilindungi.</footer></body></html>"
    )


# ---------------------------------------------------------------- loading and generating


def load(folder: Path) -> RssSource:
    sites: dict[str, Site] = {}
    for where, row in read_jsonl(folder / "sites.jsonl"):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("host", "title", "feed_path")):
            raise DatasetError(f"{where}: a site needs host, title and feed_path")
        sites[row["host"].lower()] = Site(row)
    return _index(sites, read_jsonl(folder / "articles.jsonl"))


def _index(sites: dict[str, Site], rows: list[tuple[str, Any]]) -> RssSource:
    for where, row in rows:
        site = sites.get(str(row.get("host", "")).lower()) if isinstance(row, dict) else None
        if site is None:
            raise DatasetError(f"{where}: host is not in sites.jsonl")
        at = epoch_of(row.get("published"))
        if "_raw_item" not in row:
            if at is None or not str(row.get("path", "")).startswith("/"):
                raise DatasetError(f"{where}: an article needs a path starting with / and a published time")
            site.pages[row["path"]] = row
        site.items.append((at, row))
    for site in sites.values():
        site.items.sort(key=lambda pair: pair[0] if pair[0] is not None else float("-inf"), reverse=True)
    return RssSource(sites)


def generate(n: int, seed: int) -> RssSource:
    """n articles over about n/20 sites (each feed shows its 20 newest), texts from the bundled sample."""
    sentences, _ = sample_pool(BUNDLED_SAMPLE)
    rng = random.Random(seed)
    sites = {}
    for i in range(max(1, round(n / 20))):
        host = f"berita{i:04d}.example"
        sites[host] = Site(
            {
                "host": host,
                "title": f"Berita {i}",
                "link": f"https://{host}/",
                "feed_path": "/feed/",
                "format": "atom" if i % 2 else "rss",
                "description": "Berita daerah",
            }
        )
    hosts = list(sites)
    rows = []
    for k, when in enumerate(spread_times(rng, n)):
        body = [" ".join(rng.choice(sentences) for _ in range(3)) for _ in range(4)]
        rows.append(
            (
                f"generated {k}",
                {
                    "host": hosts[k % len(hosts)],
                    "path": f"/berita/{k:07d}",
                    "published": when.isoformat(),
                    "title": rng.choice(sentences)[:80],
                    "summary": body[0][:200],
                    "body": body,
                    "author": "Redaksi",
                },
            )
        )
    return _index(sites, rows)


def build(folder: Path, generate_n: int | None, seed: int) -> RssSource:
    return generate(generate_n, seed) if generate_n is not None else load(folder)
