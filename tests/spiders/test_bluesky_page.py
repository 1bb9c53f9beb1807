"""Golden tests of the Bluesky page object (spiders.pages.bluesky).

Every folder under tests/fixtures/bluesky/pages/ is one case: `input.json` (the body as served), `meta.json`
(target, content_type, key "feed" or "posts", since cursor, the account's profile, collected_at) and `output.json`
(FeedPage.to_json()). Regenerate after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_bluesky_page.py

(each rewritten case fails once on purpose), review the diff of tests/fixtures, then rerun without the variable.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from spiders.pages.bluesky import Profile, normalise_time, parse_feed, parse_profile, parse_session, xrpc_error
from tests.spiders.golden import check_accounting, check_golden, golden_cases

CASES = golden_cases("bluesky")


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    profile = Profile(meta["profile"]["did"], bio=meta["profile"]["bio"]) if meta["profile"] else None
    page = parse_feed(
        (case / "input.json").read_bytes(),
        meta["content_type"],
        target=meta["target"],
        since=meta["since"],
        collected_at=datetime.fromisoformat(meta["collected_at"]),
        profile=profile,
        key=meta["key"],
    )
    return page.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    check_golden(case, run_case(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_posts_are_valid_posts(case: Path) -> None:
    check_accounting(case)


def test_golden_cases_say_what_they_test() -> None:
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    feed = out["author_feed_with_reposts"]
    reposts = [p for p in feed["posts"] if p["repost_of"]]
    assert len(reposts) == 2 and all("/app.bsky.feed.repost/" in p["platform_post_id"] for p in reposts)
    assert all(p["author"]["handle"] == "sitirahma.bsky.social" for p in feed["posts"])
    assert reposts[0]["text"].startswith("Program RAYU") and reposts[0]["url"].startswith(
        "https://bsky.app/profile/relawan"
    )
    assert all(p["author"]["bio"].startswith("Guru kelas 5") for p in feed["posts"])
    assert feed["newest"] == "2024-11-25T11:00:00.000000Z" and feed["cursor"] is None
    assert any(len(p["media_urls"]) == 2 for p in feed["posts"])
    since = out["since_cursor"]
    assert since["reached_cursor"] and since["skipped"] == 5 and len(since["posts"]) == 3
    reply = out["reply_and_next_cursor"]
    assert reply["cursor"] and any(p["reply_to"] for p in reply["posts"])
    search = out["search_page"]
    assert search["cursor"] == "2" and all(p["author"]["bio"] == "" for p in search["posts"])
    assert out["empty_feed"]["count"] == 0 and out["empty_feed"]["error"] is None
    assert out["error_object"]["error"] == "the server answered an error: InvalidRequest: Profile not found"
    assert out["html_instead_of_json"]["error"] == "expected JSON, got text/html"
    assert out["malformed_json"]["error"].startswith("malformed JSON")
    reasons = {name: [r["reason"] for r in out[name]["rejects"]] for name in out}
    assert reasons["entry_without_post"] == ["entry without post"]
    assert "posted_at has no time zone" in reasons["created_at_without_zone"][0]
    assert reasons["wrong_types"][0].startswith("engagement.likes: Input should be a valid integer")
    assert "over the 100000-byte limit" in reasons["oversize_text"][0]
    assert reasons["bad_uri"] == [
        "post uri 'https://bsky.app/profile/x/post/1' is not at://<did>/app.bsky.feed.post/<rkey>"
    ]
    assert reasons["invalid_utf8"][0].startswith("post.record.text: invalid UTF-8 (byte 0xff")
    for name in ("entry_without_post", "wrong_types", "bad_uri"):
        assert len(out[name]["posts"]) == 1  # the other entry of the page still lands


def test_profile_session_and_errors() -> None:
    profile = parse_profile(b'{"did":"did:plc:x","handle":"a.bsky.social","description":"PNS"}', "application/json")
    assert (profile.did, profile.bio) == ("did:plc:x", "PNS")
    assert parse_profile(b'{"error":"InvalidRequest","message":"Profile not found"}', None).error == (
        "the server answered an error: InvalidRequest: Profile not found"
    )
    assert parse_session(b'{"accessJwt":"abc"}', "application/json") == ("abc", None)
    assert parse_session(b"{}", "application/json") == (None, "session answer without an accessJwt")
    assert xrpc_error(b'{"error":"RateLimitExceeded"}') == "RateLimitExceeded" and xrpc_error(b"<html>") == ""


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        ("2024-11-05T05:30:00.000Z", "2024-11-05T05:30:00.000000Z"),
        ("2024-11-05T12:30:00+07:00", "2024-11-05T05:30:00.000000Z"),
        ("2024-11-05T05:30:00", None),
        ("kemarin", None),
        (17, None),
    ],
)
def test_normalise_time(value: object, cursor: str | None) -> None:
    assert normalise_time(value) == cursor
