"""Golden tests of the Mastodon page object (spiders.pages.mastodon), plus its small helpers.

Every folder under tests/fixtures/mastodon/pages/ is one case: `input.*` (the body as served), `meta.json`
(target, instance, content_type, optional link, collected_at) and `output.json` (posts, rejects and paging
facts). After an intended change, regenerate with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_mastodon_page.py

Each rewritten case then FAILS once with "regenerated": review `git diff tests/fixtures`, then rerun
without the variable. A regeneration can therefore never pass silently.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.pages.mastodon import (
    html_to_text,
    id_key,
    newest_of,
    next_max_id,
    oldest_of,
    parse_account,
    parse_link_header,
    parse_statuses,
)
from tests.spiders.helpers import FIXTURES

PAGES = FIXTURES / "pages"
CASES = sorted(p for p in PAGES.iterdir() if p.is_dir())
REQUIRED = {
    "normal_page",
    "boost",
    "reply",
    "media",
    "html_entities_links_hashtags",
    "status_without_id",
    "no_zone_timestamp",
    "oversize_text",
    "html_instead_of_json",
    "malformed_json",
    "empty_page",
}


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    [body] = list(case.glob("input.*"))
    page = parse_statuses(
        body.read_bytes(),
        meta["content_type"],
        target=meta["target"],
        instance=meta["instance"],
        collected_at=datetime.fromisoformat(meta["collected_at"]),
        link=meta.get("link"),
    )
    return page.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    actual = run_case(case)
    expected_file = case / "output.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        pytest.fail(f"{case.name}: output.json regenerated; review the diff, then rerun without UPDATE_GOLDEN")
    assert expected_file.exists(), f"{case.name}: no output.json (make one with UPDATE_GOLDEN=1 and review it)"
    assert actual == json.loads(expected_file.read_text(encoding="utf-8"))


def test_required_cases_are_present() -> None:
    assert REQUIRED <= {c.name for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_posts_are_valid_posts(case: Path) -> None:
    """The expected outputs themselves obey the contract: each post re-validates, each reject has a reason."""
    expected = json.loads((case / "output.json").read_text(encoding="utf-8"))
    for post in expected["posts"]:
        assert parse_post(post).watch_target == json.loads((case / "meta.json").read_text())["target"]
    for reject in expected["rejects"]:
        assert reject["reason"] and reject["raw"]
    assert len(expected["posts"]) + len(expected["rejects"]) >= expected["count"]


def test_golden_cases_say_what_they_test() -> None:
    """Spot checks on the meaning of a few outputs, so a wrong regeneration is noticed in review."""
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    boost = out["boost"]["posts"][0]
    assert boost["repost_of"] and boost["text"] and boost["repost_of"] != boost["platform_post_id"]
    assert out["reply"]["posts"][0]["reply_to"]
    assert len(out["media"]["posts"][0]["media_urls"]) == 2
    assert out["html_entities_links_hashtags"]["posts"][0]["text"] == (
        'Guru & murid "hebat" <3\nbaris dua\n\nInfo: https://x.example/a #pilkada'
    )
    assert out["status_without_id"]["rejects"][0]["reason"] == "status without id"
    assert "has no time zone" in out["no_zone_timestamp"]["rejects"][0]["reason"]
    assert "over the 100000-byte limit" in out["oversize_text"]["rejects"][0]["reason"]
    assert out["html_instead_of_json"]["error"] == "expected JSON, got text/html"
    assert out["malformed_json"]["error"].startswith("malformed JSON: ")
    assert out["empty_page"] == {**out["empty_page"], "count": 0, "posts": [], "rejects": [], "error": None}
    assert "invalid UTF-8" in out["invalid_utf8"]["rejects"][0]["reason"]
    assert out["local_acct_and_remote_boost"]["posts"][0]["author"]["handle"] == "rina_guru@sosial.example"
    assert out["normal_page"]["next_max_id"] == out["normal_page"]["oldest_id"]


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>satu</p><p>dua</p>", "satu\n\ndua"),
        ("<p>a<br>b<br/>c</p>", "a\nb\nc"),
        ("<p>&amp; &lt;b&gt; &#39;x&#39; &quot;y&quot; &nbsp;z</p>", "& <b> 'x' \"y\" \xa0z"),
        (
            '<p><span class="h-card"><a href="https://s.example/@ani" class="u-url mention">'
            "@<span>ani</span></a>"
            "</span> halo</p>",
            "@ani halo",
        ),
        (
            '<a href="https://e.example/x"><span class="invisible">https://</span>'
            '<span class="ellipsis">e.example'
            '</span><span class="invisible">/x</span></a>',
            "https://e.example/x",
        ),
        ("<p>spasi   dan\nbaris   sumber</p>", "spasi dan baris sumber"),
        ("teks biasa", "teks biasa"),
        ("", ""),
        ("<p>x</p><script>alert(1)</script>", "x"),
        ("<ul><li>satu</li><li>dua</li></ul>", "satu\ndua"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_link_header_and_ids() -> None:
    link = (
        '<https://s.example/api/v1/x?limit=40&max_id=109>; rel="next", '
        '<https://s.example/api/v1/x?min_id=120>; rel="prev"'
    )
    assert parse_link_header(link) == {
        "next": "https://s.example/api/v1/x?limit=40&max_id=109",
        "prev": "https://s.example/api/v1/x?min_id=120",
    }
    assert next_max_id(link) == "109"
    assert next_max_id(None) is None and next_max_id('<https://s/x?min_id=1>; rel="prev"') is None
    # ids are compared by (length, text): "99" is older than "100" even though "99" > "100" as text
    assert id_key("99") < id_key("100")
    assert newest_of("99", None, "100") == "100" and oldest_of("99", "100") == "99"
    assert newest_of(None, None) is None


def test_parse_account() -> None:
    assert parse_account(b'{"id":"1001","acct":"a@b"}', "application/json").account_id == "1001"
    assert (
        parse_account(b'{"id":1001}', "application/json").error == "account id: expected a non-empty string, got number"
    )
    assert parse_account(b"<html>", "text/html").error == "expected JSON, got text/html"
    assert parse_account(b"[]", "application/json").error == "expected a JSON account object, got array"


def test_status_with_invalid_utf8_does_not_cost_its_page() -> None:
    good = (FIXTURES / "pages" / "normal_page" / "input.json").read_bytes()
    statuses = json.loads(good)
    body = json.dumps(statuses, ensure_ascii=False).encode().replace(b"Kabar nomor 43", b"Kabar \xff 43")
    page = parse_statuses(
        body,
        "application/json",
        target="t",
        instance="sosial.example",
        collected_at=datetime.fromisoformat("2024-11-25T00:00:00Z"),
    )
    assert len(page.posts) == 2 and len(page.rejects) == 1
    reject = page.rejects[0]
    assert reject.reason.startswith("content: invalid UTF-8 (byte 0xff")
    assert "\\xff" in reject.raw and reject.raw.encode("utf-8")  # the evidence stays writable as UTF-8
