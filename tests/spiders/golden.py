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
