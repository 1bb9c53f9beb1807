"""The watchlist file: who and what to follow. Read from CSV, every bad row reported with its line number.

Columns: kind (account | hashtag), platform, handle, name, agency, region_code, region_name, nip,
identified_by, enabled. A Mastodon account's handle is `user@instance`; a hashtag's is the tag without `#`,
optionally `tag@instance` to say which instance's timeline to read.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.schema import Platform

COLUMNS = [
    "kind",
    "platform",
    "handle",
    "name",
    "agency",
    "region_code",
    "region_name",
    "nip",
    "identified_by",
    "enabled",
]
KINDS = {"account", "hashtag"}
_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_NIP = re.compile(r"^\d{18}$")
_TRUE = {"true", "1", "yes", "ya"}
_FALSE = {"false", "0", "no", "tidak"}


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


def _check_row(row: dict[str, str]) -> str | None:
    if row["kind"] not in KINDS:
        return f"kind {row['kind']!r} is not one of {sorted(KINDS)}"
    if row["platform"] not in {p.value for p in Platform}:
        return f"platform {row['platform']!r} is unknown"
    if not row["handle"]:
        return "handle is empty"
    if row["platform"] == "mastodon" and row["kind"] == "account" and row["handle"].count("@") != 1:
        return f"mastodon handle {row['handle']!r} must be user@instance"
    if row["region_code"] and not _REGION.match(row["region_code"]):
        return f"region_code {row['region_code']!r} is not a Kemendagri code such as 35.07"
    if row["nip"] and not _NIP.match(row["nip"]):
        return f"nip {row['nip']!r} is not 18 digits"
    if row["enabled"].lower() not in _TRUE | _FALSE:
        return f"enabled {row['enabled']!r} is not true/false"
    return None


def read_watchlist(path: Path) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Parse the CSV; return the good rows and a problem per bad row (the file as a whole must be readable)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read watchlist {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"watchlist {path} lacks columns {missing}; expected header: {','.join(COLUMNS)}")
    rows, problems, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        row = {c: (raw.get(c) or "").strip() for c in COLUMNS}
        reason = _check_row(row)
        key = (row["kind"], row["platform"], row["handle"].lower())
        if reason is None and key in seen:
            reason = f"duplicate of an earlier row for {row['handle']!r}"
        if reason:
            problems.append(RowProblem(line, reason))
            continue
        seen.add(key)
        rows.append({**row, "enabled": row["enabled"].lower() in _TRUE})
    return rows, problems
