"""Golden tests of the YouTube page object (spiders.pages.youtube).

Every folder under tests/fixtures/youtube/pages/ is one case: `input.json` (the body as served), `meta.json`
(kind "threads" or "uploads", target, content_type, since cursor, the channel for uploads, collected_at) and
`output.json` (ListPage.to_json()). Regenerate after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_youtube_page.py

(each rewritten case fails once on purpose), review the diff of tests/fixtures, then rerun without the variable.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from spiders.pages.youtube import ChannelInfo, api_error, parse_channel, parse_threads, parse_uploads
from tests.spiders.golden import check_accounting, check_golden, golden_cases

CASES = golden_cases("youtube")


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    body, when = (case / "input.json").read_bytes(), datetime.fromisoformat(meta["collected_at"])
    common = {"target": meta["target"], "since": meta["since"], "collected_at": when}
    if meta["kind"] == "uploads":
        page = parse_uploads(body, meta["content_type"], channel=ChannelInfo(**meta["channel"]), **common)
    else:
        page = parse_threads(body, meta["content_type"], **common)
    return page.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    check_golden(case, run_case(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_posts_are_valid_posts(case: Path) -> None:
    check_accounting(case)


def test_golden_cases_say_what_they_test() -> None:
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    threads = out["comment_threads_with_replies"]
    assert len(threads["posts"]) == 5 and threads["newest"] == "2024-10-26T08:20:00.000000Z"
    [reply] = [p for p in threads["posts"] if p["reply_to"]]
    assert reply["author"]["handle"] == "@kangasep" and reply["url"].endswith(f"&lc={reply['platform_post_id']}")
    since = out["since_cursor"]
    assert since["reached_cursor"] and [p["text"][:6] for p in since["posts"]] == ["Debatn", "Nomor "]
    assert out["next_page_token"]["next_token"] == "CA000003QAA"
    uploads = out["uploads_page"]["posts"]
    assert [p["platform_post_id"] for p in uploads] == ["dartoVlog12", "dartoVlog11"]
    assert uploads[0]["author"]["bio"].startswith("Vlog guru PNS") and uploads[0]["text"].startswith("Jalan Sehat")
    assert out["empty_list"]["count"] == 0 and out["empty_list"]["error"] is None
    assert out["html_instead_of_json"]["error"] == "expected JSON, got text/html"
    assert out["malformed_json"]["error"].startswith("malformed JSON")
    reasons = {name: [r["reason"] for r in out[name]["rejects"]] for name in out}
    assert reasons["thread_without_top_level_comment"] == ["comment thread without a topLevelComment"]
    assert reasons["comment_without_author_channel"][0].endswith("without authorChannelId.value")
    assert "posted_at has no time zone" in reasons["published_without_zone"][0]
    assert reasons["wrong_types"][0].startswith("engagement.likes: Input should be a valid integer")
    assert "over the 100000-byte limit" in reasons["oversize_text"][0]
    assert reasons["invalid_utf8"][0].startswith("comment.snippet.textOriginal: invalid UTF-8 (byte 0xff")


def test_channel_and_api_errors() -> None:
    body = (
        b'{"items":[{"id":"UCx","snippet":{"title":"T","description":"Guru PNS","customUrl":"@t"},'
        b'"contentDetails":{"relatedPlaylists":{"uploads":"UUx"}}}]}'
    )
    assert parse_channel(body, "application/json") == ChannelInfo("UCx", "UUx", "T", "Guru PNS", "@t")
    assert parse_channel(b'{"items":[]}', "application/json").error.startswith("no such channel")
    quota = b'{"error":{"code":403,"message":"quota","errors":[{"reason":"quotaExceeded","domain":"youtube.quota"}]}}'
    assert api_error(quota) == ("quotaExceeded", "quota") and api_error(b"<html>") == ("", "")
