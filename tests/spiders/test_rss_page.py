"""Golden tests of the RSS/Atom page object (spiders.pages.rss): feeds and article pages.

Every folder under tests/fixtures/rss/pages/ is one case: `input.*` (the body as served), `meta.json` (kind "feed"
or "article", target, feed_url, content_type, since cursor, collected_at) and `output.json`: for a feed,
Feed.to_json() plus the Posts its items make from the feed alone (`posts`, `post_rejects`); for an article page,
the Article. Regenerate after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_rss_page.py

(each rewritten case fails once on purpose), review the diff of tests/fixtures, then rerun without the variable.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.pages.rss import feed_date, item_to_post, parse_article, parse_feed, post_id
from tests.spiders.golden import check_golden, golden_cases

CASES = golden_cases("rss")


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    [body] = [p.read_bytes() for p in case.glob("input.*")]
    if meta["kind"] == "article":
        return parse_article(body, meta["content_type"]).__dict__
    feed = parse_feed(body, meta["content_type"], since=meta["since"])
    posts, rejects = [], []
    for item in feed.items:
        try:
            post = item_to_post(
                item,
                feed,
                feed_url=meta["feed_url"],
                article=None,
                target=meta["target"],
                collected_at=datetime.fromisoformat(meta["collected_at"]),
            )
            posts.append(post.model_dump(mode="json"))
        except ValueError as exc:
            rejects.append(str(exc))
    return {**feed.to_json(), "posts": posts, "post_rejects": rejects}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    check_golden(case, run_case(case))


@pytest.mark.parametrize("case", [c for c in CASES if not c.name.startswith("article")], ids=lambda p: p.name)
def test_golden_feed_posts_are_valid_posts(case: Path) -> None:
    expected = json.loads((case / "output.json").read_text(encoding="utf-8"))
    target = json.loads((case / "meta.json").read_text(encoding="utf-8"))["target"]
    assert all(parse_post(post).watch_target == target for post in expected["posts"])
    assert len(expected["posts"]) + len(expected["post_rejects"]) == len(expected["items"])
    whole = 1 if expected["error"] else 0
    assert len(expected["items"]) + len(expected["rejects"]) + expected["skipped"] == expected["count"] + whole


def test_golden_cases_say_what_they_test() -> None:
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    rss = out["rss2_feed"]
    assert (rss["title"], rss["language"], len(rss["posts"])) == ("Kabar Tanah Merah", "id", 5)
    assert rss["posts"][0]["author"]["handle"] == "kabartanahmerah.example"
    assert rss["newest"] == "2024-11-14T01:00:00.000000Z"
    atom = out["atom_feed"]
    assert atom["posts"][0]["platform_post_id"].startswith("tag:bawaslu-tanahmerah.example,2024:")
    assert atom["posts"][0]["text"].startswith("214 Alat Peraga Kampanye Diturunkan pada Masa Tenang\n\nPenertiban")
    assert out["since_cursor"]["skipped"] == 3 and len(out["since_cursor"]["items"]) == 2
    assert out["empty_feed"]["count"] == 0 and out["empty_feed"]["error"] is None
    assert out["item_without_link"]["rejects"][0]["reason"] == "item without an http(s) link (got '')"
    assert out["undated_item"]["post_rejects"][0].startswith("item https://kabartanahmerah.example/tanpa-tanggal has")
    assert "'kemarin sore'" in out["unreadable_date"]["post_rejects"][0]
    assert out["html_instead_of_feed"]["error"] == "expected an RSS or Atom feed, got text/html"
    assert out["malformed_xml"]["error"].startswith("malformed XML")
    assert out["not_a_feed"]["error"] == "not an RSS or Atom feed (root element <urlset>)"
    entities = out["entities_not_expanded"]
    assert "aaaaaaaaaa" not in json.dumps(entities) and "root:" not in json.dumps(entities)
    article = out["article_page"]
    assert article["text"].startswith("Bawaslu Kabupaten Tanah Merah menerima tujuh laporan")
    assert "IKLAN" not in article["text"] and "Baca juga" not in article["text"] and "Beranda" not in article["text"]
    assert article["published"] == "2024-10-29T05:10:00.000000Z" and article["error"] is None
    assert out["article_without_text"]["error"] == "the article page has no readable text"
    assert out["article_is_a_pdf"]["error"] == "the article link gave application/pdf, not an HTML page"
    assert out["article_without_article_tag"]["text"] == "Paragraf satu.\n\nParagraf dua."


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        ("Tue, 29 Oct 2024 05:10:00 GMT", "2024-10-29T05:10:00.000000Z"),
        ("Tue, 29 Oct 2024 12:10:00 +0700", "2024-10-29T05:10:00.000000Z"),
        ("2024-10-29T12:10:00+07:00", "2024-10-29T05:10:00.000000Z"),
        ("kemarin", None),
        (None, None),
    ],
)
def test_feed_dates(value: str | None, cursor: str | None) -> None:
    assert feed_date(value) == cursor


def test_long_guids_become_hashes() -> None:
    assert post_id("https://x.example/a") == "https://x.example/a"
    long = post_id("https://x.example/?" + "q" * 300)
    assert long.startswith("sha256:") and len(long) == 71
