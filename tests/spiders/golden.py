"""Golden-fixture plumbing shared by the page-object tests of every platform: list a platform's cases and compare
(or, with UPDATE_GOLDEN=1, rewrite and fail once) a case's output.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

FIXTURES_ROOT = Path(__file__).resolve().parents[1] / "fixtures"


def golden_cases(platform: str) -> list[Path]:
    """The case folders of tests/fixtures/<platform>/pages/, sorted."""
    pages = FIXTURES_ROOT / platform / "pages"
    return sorted(p for p in pages.iterdir() if p.is_dir())


def check_golden(case: Path, actual: dict[str, Any]) -> None:
    expected_file = case / "output.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        pytest.fail(f"{case.name}: output.json regenerated; review the diff, then rerun without UPDATE_GOLDEN")
    assert expected_file.exists(), f"{case.name}: no output.json (make one with UPDATE_GOLDEN=1 and review it)"
    assert actual == json.loads(expected_file.read_text(encoding="utf-8"))


def check_accounting(case: Path, page_reject: str | None = None) -> None:
    """A case's expected output obeys the contract: every post re-validates with the case's target, every reject
    has a reason and the raw input, and every entry counted ends as a post, a reject or a skip. When the page as a
    whole failed (`error` set, and the field named `page_reject`, if any, unset) its own reject is one more."""
    from pipeline.schema import parse_post

    expected = json.loads((case / "output.json").read_text(encoding="utf-8"))
    target = json.loads((case / "meta.json").read_text(encoding="utf-8"))["target"]
    assert all(parse_post(post).watch_target == target for post in expected["posts"])
    assert all(reject["reason"] and reject["raw"] for reject in expected["rejects"])
    whole_page = 1 if expected["error"] and not (page_reject and expected[page_reject]) else 0
    ended = len(expected["posts"]) + len(expected["rejects"]) + expected.get("skipped", 0)
    assert ended == expected["count"] + whole_page
