"""Golden tests of the Telegram page object (spiders.pages.telegram).

Every folder under tests/fixtures/telegram/pages/ is one case: `input.html` (the body as served), `meta.json`
(target, url the answer came from, content_type, since_id, collected_at) and `output.json` (ChannelPage.to_json()).
Regenerate after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_telegram_page.py

(each rewritten case fails once on purpose), review the diff of tests/fixtures, then rerun without the variable.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from spiders.pages.telegram import MessageError, parse_preview, parse_views
from tests.spiders.golden import check_accounting, check_golden, golden_cases

CASES = golden_cases("telegram")


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    page = parse_preview(
        (case / "input.html").read_bytes(),
        meta["content_type"],
        url=meta["url"],
        target=meta["target"],
        since_id=meta["since_id"],
        collected_at=datetime.fromisoformat(meta["collected_at"]),
    )
    return page.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    check_golden(case, run_case(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_posts_are_valid_posts(case: Path) -> None:
    check_accounting(case, "not_public")


def test_golden_cases_say_what_they_test() -> None:
    """Spot checks on the meaning of the outputs, so that a wrong regeneration is noticed in review."""
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    normal = {p["platform_post_id"]: p for p in out["normal_page"]["posts"]}
    assert len(normal) == 8 and out["normal_page"]["before"] is None
    assert normal["guru_tanahmerah/303"]["repost_of"] == "relawan_harsi/55"
    assert normal["guru_tanahmerah/303"]["media_urls"] == [
        "https://cdn.telegram.example/file/guru_tanahmerah-303-0.jpg"
    ]
    assert normal["guru_tanahmerah/307"]["reply_to"] == "guru_tanahmerah/305"
    assert normal["guru_tanahmerah/302"]["author"]["bio"].startswith("Kanal informasi guru")
    assert normal["guru_tanahmerah/305"]["text"].endswith("Kompak! 💛 #HARSI")
    assert normal["guru_tanahmerah/303"]["engagement"]["views"] == 1400
    link = out["service_message_and_link_preview"]
    assert link["skipped"] == 1 and "https://kpu-tanahmerah.example/debat-publik-1" in [
        u for p in link["posts"] for u in p["media_urls"]
    ]
    assert out["since_cursor"]["reached_cursor"] and out["since_cursor"]["skipped"] == 4
    assert out["since_cursor"]["newest_id"] == "308" and out["since_cursor"]["oldest_id"] == "305"
    more = out["more_link_and_view_counts"]
    assert more["before"] == "11" and more["count"] == 20
    assert sorted({p["engagement"]["views"] for p in more["posts"]}) == [987, 1200, 15300, 1100000]
    assert out["not_public_redirect"]["not_public"] and out["not_public_redirect"]["rejects"] == []
    assert out["json_instead_of_html"]["error"] == "expected an HTML page, got application/json"
    assert out["not_a_preview_page"]["error"].startswith("not a channel preview page")
    assert out["empty_channel"] == {**out["empty_channel"], "count": 0, "posts": [], "rejects": [], "error": None}
    reasons = {name: [r["reason"] for r in out[name]["rejects"]] for name in out}
    assert reasons["message_without_time"] == ["message without a time[datetime]"]
    assert reasons["unreadable_views"] == ["views 'banyak' is not a count such as 987 or 1.2K"]
    assert reasons["data_post_without_id"] == ["message data-post 'guru_tanahmerah' is not channel/id"]
    assert reasons["invalid_utf8"] == ["message is not valid UTF-8 (undecodable bytes in its HTML)"]
    assert "over the 100000-byte limit" in reasons["oversize_text"][0]
    assert "posted_at has no time zone" in reasons["time_without_zone"][0]


@pytest.mark.parametrize(
    ("text", "views"),
    [("987", 987), ("1.2K", 1200), ("15K", 15000), ("15,3K", 15300), ("1.1M", 1100000), (" 2k ", 2000)],
)
def test_parse_views(text: str, views: int) -> None:
    assert parse_views(text) == views


@pytest.mark.parametrize("text", ["", "1.2X", "banyak", "1.2.3K"])
def test_parse_views_refuses_what_is_not_a_count(text: str) -> None:
    with pytest.raises(MessageError, match="is not a count"):
        parse_views(text)
