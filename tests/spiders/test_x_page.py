"""Golden tests of the X page object (spiders.pages.x).

Every folder under tests/fixtures/x/pages/ is one case: `input.json` (the body as served), `meta.json` (target,
content_type, collected_at) and `output.json` (TweetPage.to_json()). Regenerate after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/spiders/test_x_page.py

(each rewritten case fails once on purpose), review the diff of tests/fixtures, then rerun without the variable.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from spiders.pages.x import parse_tweets, parse_user, problem_message
from tests.spiders.golden import check_accounting, check_golden, golden_cases

CASES = golden_cases("x")


def run_case(case: Path) -> dict:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    page = parse_tweets(
        (case / "input.json").read_bytes(),
        meta["content_type"],
        target=meta["target"],
        collected_at=datetime.fromisoformat(meta["collected_at"]),
    )
    return page.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_page(case: Path) -> None:
    check_golden(case, run_case(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_posts_are_valid_posts(case: Path) -> None:
    check_accounting(case, "problem")


def test_golden_cases_say_what_they_test() -> None:
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    rudi = {p["text"][:20]: p for p in out["user_timeline_retweet_quote"]["posts"]}
    retweet = next(p for p in rudi.values() if p["text"].startswith("RT @bagusfauzan02"))
    assert retweet["repost_of"] and retweet["author"]["handle"] == "rudi_binamarga"
    assert all(p["language"] == "id" for p in rudi.values())  # X says "in"; the contract says "id"
    assert all(p["author"]["bio"].startswith("Kabid Bina Marga") for p in rudi.values())
    assert out["user_timeline_retweet_quote"]["newest_id"] == "1857253436421046283"
    photos = out["photos_and_next_token"]
    assert photos["next_token"] and any(len(p["media_urls"]) == 2 for p in photos["posts"])
    search = out["search_page"]
    assert {p["author"]["handle"] for p in search["posts"]} == {"warga_sidomulyo", "bawaslu_tm"}
    assert out["empty_result"] == {**out["empty_result"], "count": 0, "error": None, "posts": []}
    assert (out["protected_account"]["problem"], out["unknown_user"]["problem"]) == ("not_public", "not_found")
    assert out["protected_account"]["rejects"] == []
    assert out["invalid_request"]["error"] == (
        "the server answered an error: The `max_results` query parameter value [500] is not between 5 and 100"
    )
    assert out["html_instead_of_json"]["error"] == "expected JSON, got text/html"
    assert out["malformed_json"]["error"].startswith("malformed JSON")
    reasons = {name: [r["reason"] for r in out[name]["rejects"]] for name in out}
    assert reasons["author_not_in_includes"] == ["tweet 1857253436421046283: author_id '1234' is not in includes.users"]
    assert reasons["numeric_id"] == ["tweet id: expected a string of digits, got number 1857253436421046283"]
    assert "posted_at has no time zone" in reasons["created_at_without_zone"][0]
    assert reasons["wrong_types"][0].startswith("engagement.likes: Input should be a valid integer")
    assert "over the 100000-byte limit" in reasons["oversize_text"][0]
    assert reasons["invalid_utf8"][0].startswith("tweet.text: invalid UTF-8 (byte 0xff")


def test_user_lookup_and_problem_messages() -> None:
    assert parse_user(b'{"data":{"id":"42","username":"a"}}', "application/json").user_id == "42"
    missing = parse_user(
        b'{"errors":[{"detail":"Could not find user with username: [b].",'
        b'"type":"https://api.twitter.com/2/problems/resource-not-found"}]}',
        "application/json",
    )
    assert (missing.problem, missing.error) == ("not_found", "Could not find user with username: [b].")
    assert parse_user(b'{"data":{"id":42}}', "application/json").problem == "error"
    assert problem_message(b'{"title":"Unauthorized","detail":"Unauthorized","status":401}') == "Unauthorized"
    assert problem_message(b"<html>") == ""
