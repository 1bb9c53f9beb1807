"""Scraped content is inert: scripts, event handlers, javascript: links and broken tags show as text; the CSP
forbids inline script; cues are highlighted after escaping. Also the language switch and the operator's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from pipeline.storage import Store
from pipeline.web.i18n import MESSAGES, format_time
from pipeline.web.render import cue_phrases, highlight, safe_link
from tests.web.seed import XSS_TEXT, csrf_of, key

XSS = f"/items/mastodon/{key(5)[1]}"


def test_post_with_markup_renders_as_text(clients: dict[str, TestClient]) -> None:
    page = clients["rina"].get(XSS).text
    body = page.split('id="post-text">', 1)[1].split("</div>", 1)[0]
    assert "<script>" not in body and "<img" not in body and "<a " not in body and "<b>" not in body
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in body
    assert "onerror=alert(1)" in body  # visible as text, inside no tag
    assert page.count("<script") == 1  # only the workspace's own /static/keys.js
    raw = page.split('id="raw-payload">', 1)[1].split("</pre>", 1)[0]
    assert "<script" not in raw and "&lt;script&gt;" in raw


def test_every_page_has_a_strict_csp(clients: dict[str, TestClient]) -> None:
    for path in ("/login", "/queue", XSS):
        csp = clients["rina"].get(path).headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp


def test_javascript_urls_are_never_links(seeded: Store, clients: dict[str, TestClient]) -> None:
    with seeded.transaction() as con:  # an author profile URL is free text from the platform
        con.execute("UPDATE authors SET url = 'javascript:alert(document.cookie)'")
    page = clients["rina"].get(XSS).text
    assert 'href="javascript:' not in page
    assert "javascript:alert(document.cookie)" in page


def test_highlight_escapes_before_marking() -> None:
    html = str(highlight("<b>coblos</b> Nomor Satu <script>", cue_phrases(["kata: 'nomor satu'", "x: 'coblos'"])))
    assert html == "&lt;b&gt;<mark>coblos</mark>&lt;/b&gt; <mark>Nomor Satu</mark> &lt;script&gt;"
    evil = str(highlight(XSS_TEXT, cue_phrases(["kata: '<script>'"])))
    assert "<script>" not in evil and "<mark>&lt;script&gt;</mark>" in evil


def test_safe_link() -> None:
    assert str(safe_link('https://sosial.example/@a/1?x="><script>')).startswith('<a href="https://sosial.example')
    assert "&#34;&gt;&lt;script&gt;" in str(safe_link('https://sosial.example/@a/1?x="><script>'))
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " data:text/html,x", "vbscript:x", "//evil.example"):
        assert "<a" not in str(safe_link(bad)), bad


def test_both_languages_have_the_same_messages() -> None:
    assert set(MESSAGES["id"]) == set(MESSAGES["en"])


def test_language_switch(clients: dict[str, TestClient]) -> None:
    rina = clients["rina"]
    page = rina.get("/queue").text
    assert "Antrean tinjauan" in page and '<html lang="id">' in page
    english = rina.post("/language", data={"csrf_token": csrf_of(page), "lang": "en", "next": "/queue"}).text
    assert "Review queue" in english and '<html lang="en">' in english


def test_times_are_shown_in_the_operator_zone() -> None:
    instant = datetime(2024, 11, 20, 0, 30, tzinfo=UTC)
    assert format_time(instant, ZoneInfo("Asia/Jakarta")) == "2024-11-20 07:30 WIB"
    assert format_time(instant, ZoneInfo("Asia/Makassar")) == "2024-11-20 08:30 WITA"
    assert format_time(instant, ZoneInfo("Asia/Jayapura")) == "2024-11-20 09:30 WIT"


def test_queue_shows_wib_times(clients: dict[str, TestClient]) -> None:
    assert "2024-11-20 07:00 WIB" in clients["rina"].get("/queue").text
