"""Real RSS/Atom crawls: the replay server and `scrapy crawl rss` as subprocesses, over loopback.

`berita.example` (RSS 2.0) has 8 articles, one under /internal/ (disallowed by robots.txt) and one whose page is
gone (404); `pengawas.example` (Atom) has 3; `rusak.example` serves a broken item and `mati.example` no feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from tests.spiders.helpers import run_spider, start_replay, write_jsonl

pytestmark = pytest.mark.slow

START = datetime(2024, 11, 1, tzinfo=UTC)
LATE = datetime(2024, 11, 20, tzinfo=UTC)
FEEDS = {
    "berita.example": "https://berita.example/feed/",
    "pengawas.example": "https://pengawas.example/feed.atom",
    "rusak.example": "https://rusak.example/rss.xml",
}


def feed_target(url: str, **state: object) -> dict:
    host = url.split("/")[2]
    return {"target": f"feed:{url}", "kind": "feed", "value": url, "instance": host, "since_id": None, **state}


def article(host: str, path: str, when: datetime, title: str) -> dict:
    return {"host": host, "path": path, "published": when.isoformat(), "title": title, "author": "Redaksi",
            "summary": f"Ringkasan {title}", "body": [f"Isi pertama {title}.", f"Isi kedua {title}."]}  # fmt: skip


@pytest.fixture
def platform_data(tmp_path: Path) -> Path:
    sites = [
        {"host": "berita.example", "title": "Berita", "link": "https://berita.example/", "feed_path": "/feed/",
         "format": "rss", "description": "Berita daerah", "language": "id-ID"},
        {"host": "pengawas.example", "title": "Pengawas", "link": "https://pengawas.example/",
         "feed_path": "/feed.atom", "format": "atom", "description": "Pengawas pemilu"},
        {"host": "rusak.example", "title": "Rusak", "link": "https://rusak.example/", "feed_path": "/rss.xml",
         "format": "rss", "description": "uji"},
    ]  # fmt: skip
    articles = [article("berita.example", f"/2024/{n}", START + timedelta(hours=n), f"Berita {n}") for n in range(5)]
    articles.append(article("berita.example", "/internal/draf", START + timedelta(hours=6), "Draf"))
    articles.append(article("berita.example", "/2024/late", LATE, "Berita baru"))
    articles += [
        article("pengawas.example", f"/temuan/{n}", START + timedelta(days=n), f"Temuan {n}") for n in range(3)
    ]
    articles.append(article("rusak.example", "/baik", START, "Baik"))
    articles.append(
        {"host": "rusak.example", "published": START.isoformat(), "_raw_item": "<item><title>x</title></item>"}
    )
    articles.append(  # listed in the feed, but its page is gone
        {"host": "berita.example", "published": (START + timedelta(hours=7)).isoformat(),
         "_raw_item": "<item><title>Hilang</title><link>https://berita.example/hilang</link><pubDate>"
                      "Fri, 01 Nov 2024 07:00:00 GMT</pubDate><description>Ringkasan hilang</description></item>"}
    )  # fmt: skip
    root = tmp_path / "platforms"
    write_jsonl(root / "rss" / "sites.jsonl", sites)
    write_jsonl(root / "rss" / "articles.jsonl", articles)
    return root


def landed(run_landing: Path, run_id: str) -> list:
    return [parse_post(line) for line in (run_landing / f"{run_id}.jsonl").read_bytes().decode().splitlines()]


def test_feeds_articles_robots_and_bad_items(platform_data: Path, tmp_path: Path) -> None:
    targets = [feed_target(u) for u in FEEDS.values()] + [feed_target("https://mati.example/feed/")]
    with start_replay("--platform-data", str(platform_data)) as replay:
        run = run_spider("rss", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url)
        fetched = replay.stats()["requests"]["rss:site"]
    assert run.returncode == 0, run.log[-3000:]
    posts = {p.url: p for p in landed(run.landing, "run1")}
    assert len(posts) == 8 + 3 + 1
    assert posts["https://berita.example/2024/3"].text == "Berita 3\n\nIsi pertama Berita 3.\n\nIsi kedua Berita 3."
    assert posts["https://berita.example/internal/draf"].text == "Draf\n\nRingkasan Draf"  # robots: the feed's summary
    assert posts["https://berita.example/hilang"].text == "Hilang\n\nRingkasan hilang"
    assert fetched == 4 + 7 + 3 + 1  # 4 feeds, and every article but the disallowed one
    rows = {t["target"]: t for t in run.targets}
    berita = rows["feed:https://berita.example/feed/"]
    assert "1× article not fetched: forbidden by the site's robots.txt" in berita["detail"]
    assert "1× article not fetched: HTTP 404" in berita["detail"]
    assert berita["etag"] and berita["last_modified"]
    rusak = rows["feed:https://rusak.example/rss.xml"]
    assert (rusak["fetched"], rusak["rejected"], rusak["reasons"]) == (
        1,
        1,
        {"item without an http(s) link (got '')": 1},
    )
    assert rows["feed:https://mati.example/feed/"]["status"] == "not_found"


def test_unchanged_feeds_answer_304_and_new_items_only_are_fetched(platform_data: Path, tmp_path: Path) -> None:
    url = FEEDS["berita.example"]
    with start_replay(
        "--platform-data", str(platform_data), "--clock", (LATE - timedelta(hours=1)).isoformat()
    ) as replay:
        first = run_spider("rss", landing_dir=tmp_path / "l", targets=[feed_target(url)], base_url=replay.url)
        [row] = first.targets
        state = {"since_id": row["newest_id"], "etag": row["etag"], "last_modified": row["last_modified"]}
        same = run_spider(
            "rss", landing_dir=tmp_path / "l", targets=[feed_target(url, **state)], base_url=replay.url, run_id="same"
        )
        replay.set_clock(None)  # one more article is published
        before = replay.stats()["requests"]["rss:site"]
        later = run_spider(
            "rss", landing_dir=tmp_path / "l", targets=[feed_target(url, **state)], base_url=replay.url, run_id="later"
        )
        asked = replay.stats()["requests"]["rss:site"] - before
    assert len(first.posts) == 7
    assert same.posts == [] and same.targets[0]["detail"] == "feed not modified since the last run (304)"
    assert same.targets[0]["etag"] == row["etag"]  # kept for the next run
    assert [p.text.split("\n")[0] for p in landed(later.landing, "later")] == ["Berita baru"]
    assert asked == 2 and later.targets[0]["skipped"] == 7  # the feed and the one new article
    assert later.targets[0]["etag"] != row["etag"]
