"""The watchlist file: who and what to follow, per region and election. Read from CSV or TOML, every bad row
reported with its line number, and turned into each spider's watch targets.

CSV columns: kind, platform, handle, name, agency, region_code, region_name, nip, identified_by, enabled, and
optionally election. TOML: `[[region]]` tables (code, name, election) holding `[[region.account]]` tables (platform,
handle, kind, name, agency, nip, identified_by, enabled) and `[[region.follow]]` tables (platform, hashtags,
keywords, channels, feeds, videos: lists). Region codes are Kemendagri codes checked against
pipeline/data/regions.csv (its province, and its kabupaten/kota when it names one). Kinds and handles per platform:

    mastodon  account `user@instance`; hashtag `tag` or `tag@instance` (which instance's timeline to read)
    bluesky   account `name.bsky.social` or a DID; hashtag `tag`; keyword `words` (both need a search session)
    telegram  channel (or account) `channelname`, also written `@channelname` or `https://t.me/channelname`
    x         account `username` or a numeric user id; hashtag `tag`; keyword `a recent-search query`
    youtube   channel `UC…` id (its uploads and the comment threads on it); video `…` id (its comment threads)
    rss       feed `https://…` (an RSS 2.0 or Atom feed of a news or government site)
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
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
PLATFORM_KINDS: dict[str, frozenset[str]] = {
    "mastodon": frozenset({"account", "hashtag"}),
    "bluesky": frozenset({"account", "hashtag", "keyword"}),
    "telegram": frozenset({"account", "channel"}),
    "x": frozenset({"account", "hashtag", "keyword"}),
    "youtube": frozenset({"account", "channel", "video"}),
    "rss": frozenset({"feed"}),
}
KINDS = set().union(*PLATFORM_KINDS.values())
_BSKY_HANDLE = re.compile(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*$|^did:(plc|web):[a-z0-9._:%-]+$", re.IGNORECASE
)
_TELEGRAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_X_USER = re.compile(r"^[A-Za-z0-9_]{1,15}$|^[0-9]{1,20}$")
_YT_CHANNEL = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
_YT_VIDEO = re.compile(r"^[A-Za-z0-9_-]{11}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?$")
_TAG = re.compile(r"^#?[^\s#@]+(@[A-Za-z0-9.-]+)?$")
_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_NIP = re.compile(r"^\d{18}$")
_TRUE = {"true", "1", "yes", "ya"}
_FALSE = {"false", "0", "no", "tidak"}
REGIONS_FILE = Path(__file__).resolve().parent / "data" / "regions.csv"


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


def telegram_channel(handle: str) -> str:
    """`@name`, `t.me/name`, `https://t.me/s/name` -> `name`."""
    name = re.sub(r"^(https?://)?(www\.)?t\.me/(s/)?", "", handle.strip()).lstrip("@")
    return name.split("/", 1)[0].split("?", 1)[0]


def _check_handle(platform: str, kind: str, handle: str) -> str | None:
    """Why a handle cannot be followed on its platform, or None."""
    if kind in ("hashtag", "keyword"):
        if kind == "hashtag" and not _TAG.match(handle):
            return f"hashtag {handle!r} must be one word, without spaces"
        return None
    checks: dict[str, tuple[re.Pattern[str], str]] = {
        "bluesky": (_BSKY_HANDLE, "a domain-like handle such as name.bsky.social, or a did:plc:/did:web: DID"),
        "x": (_X_USER, "a username of at most 15 letters, digits or _, or a numeric user id"),
        "rss": (_URL, "an http(s) URL of a feed"),
    }
    if platform == "mastodon" and handle.count("@") != 1:
        return f"mastodon handle {handle!r} must be user@instance"
    if platform == "telegram" and not _TELEGRAM.match(telegram_channel(handle)):
        return f"telegram channel {handle!r} must be a public channel name (5 to 32 letters, digits or _)"
    if platform == "youtube":
        pattern, shape = (_YT_VIDEO, "an 11-character video id") if kind == "video" else (_YT_CHANNEL, "a UC… id")
        return None if pattern.match(handle) else f"youtube {kind} {handle!r} must be {shape}"
    if platform in checks and not checks[platform][0].match(handle.lstrip("@")):
        return f"{platform} {kind} {handle!r} must be {checks[platform][1]}"
    return None


def _check_row(row: dict[str, str]) -> str | None:
    if row["kind"] not in KINDS:
        return f"kind {row['kind']!r} is not one of {sorted(KINDS)}"
    if row["platform"] not in {p.value for p in Platform}:
        return f"platform {row['platform']!r} is unknown"
    kinds = PLATFORM_KINDS.get(row["platform"], frozenset())
    if row["kind"] not in kinds:
        allowed = ", ".join(sorted(kinds)) or "nothing (its posts come from files: pantau import)"
        return f"kind {row['kind']!r} cannot be followed on {row['platform']}; it follows {allowed}"
    if not row["handle"]:
        return "handle is empty"
    problem = _check_handle(row["platform"], row["kind"], row["handle"])
    if problem:
        return problem
    if row["region_code"] and not _REGION.match(row["region_code"]):
        return f"region_code {row['region_code']!r} is not a Kemendagri code such as 35.07"
    if row["region_code"]:
        problem = check_region(row["region_code"])
        if problem:
            return problem
    if row["nip"] and not _NIP.match(row["nip"]):
        return f"nip {row['nip']!r} is not 18 digits"
    if row["enabled"].lower() not in _TRUE | _FALSE:
        return f"enabled {row['enabled']!r} is not true/false"
    return None


def read_watchlist(path: Path) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Parse a watchlist file, CSV or (by its .toml suffix) TOML; return the good rows and a problem per bad row
    with its line number. InputError when the file as a whole cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read watchlist {path}: {exc}") from None
    entries = _toml_rows(path, text) if Path(path).suffix.lower() == ".toml" else _csv_rows(path, text)
    rows, problems, seen = [], [], set()
    for line, row in entries:
        reason = row.pop("_problem", None) or _check_row(row)
        key = (row["kind"], row["platform"], row["handle"].lower())
        if reason is None and key in seen:
            reason = f"duplicate of an earlier row for {row['handle']!r}"
        if reason:
            problems.append(RowProblem(line, reason))
            continue
        seen.add(key)
        rows.append({**row, "enabled": row["enabled"].lower() in _TRUE})
    return rows, sorted(problems, key=lambda p: p.line)


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"watchlist {path} lacks columns {missing}; expected header: {','.join(COLUMNS)}")
    columns = [*COLUMNS, "election"]  # election is optional
    return [(line, {c: (raw.get(c) or "").strip() for c in columns}) for line, raw in enumerate(reader, start=2)]


# ---------------------------------------------------------------- TOML


_FOLLOW_KINDS = {
    "hashtags": "hashtag",
    "keywords": "keyword",
    "channels": "channel",
    "feeds": "feed",
    "videos": "video",
}
_ACCOUNT_KEYS = {"kind", "platform", "handle", "name", "agency", "nip", "identified_by", "enabled"}
_FOLLOW_KEYS = {"platform", "identified_by", "enabled", *_FOLLOW_KINDS}


def _toml_rows(path: Path, text: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a TOML watchlist: `[[region]]` tables (code, name, election), each with `[[region.account]]` and
    `[[region.follow]]` tables. Line numbers are those of each table's header (a followed value: its own line)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"watchlist {path} is not valid TOML: {exc}") from None
    regions = doc.get("region")
    if not isinstance(regions, list):
        raise InputError(f"watchlist {path} has no [[region]] tables (see the README's Sources section)")
    lines = text.splitlines()
    headers = {name: _header_lines(lines, name) for name in ("region", "region.account", "region.follow")}
    counters = Counter[str]()
    rows: list[tuple[int, dict[str, str]]] = []
    for region in regions:
        line = _next_line(headers, counters, "region")
        base = {
            "region_code": str(region.get("code", "")),
            "region_name": str(region.get("name", "")),
            "election": str(region.get("election", "")),
        }
        for account in region.get("account", []):
            rows.append((_next_line(headers, counters, "region.account", line), _account_row(account, base)))
        for follow in region.get("follow", []):
            header = _next_line(headers, counters, "region.follow", line)
            rows += _follow_rows(follow, base, lines, header)
    return rows


def _header_lines(lines: list[str], name: str) -> list[int]:
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\s*\]\]")
    return [n for n, line in enumerate(lines, start=1) if pattern.match(line)]


def _next_line(headers: dict[str, list[int]], counters: Counter[str], name: str, fallback: int = 0) -> int:
    index = counters[name]
    counters[name] += 1
    return headers[name][index] if index < len(headers[name]) else fallback


def _account_row(account: Any, base: dict[str, str]) -> dict[str, str]:
    if not isinstance(account, dict):
        return {**_blank(base), "_problem": "an account must be a table"}
    row = {key: _cell(account.get(key, "")) for key in ("platform", "handle", "name", "agency", "nip", "identified_by")}
    row.update(base, kind=_cell(account.get("kind", "account")), enabled=_cell(account.get("enabled", True)))
    stray = sorted(set(account) - _ACCOUNT_KEYS)
    if stray:
        row["_problem"] = f"unknown key(s) {stray}; an account has {sorted(_ACCOUNT_KEYS)}"
    return row


def _follow_rows(follow: Any, base: dict[str, str], lines: list[str], header: int) -> list[tuple[int, dict[str, str]]]:
    if not isinstance(follow, dict):
        return [(header, {**_blank(base), "_problem": "a follow entry must be a table"})]
    stray = sorted(set(follow) - _FOLLOW_KEYS)
    if stray:
        return [(header, {**_blank(base), "_problem": f"unknown key(s) {stray}; follow has {sorted(_FOLLOW_KEYS)}"})]
    rows = []
    for key, kind in _FOLLOW_KINDS.items():
        values = follow.get(key, [])
        for value in values if isinstance(values, list) else [values]:
            row = {
                **_blank(base),
                "kind": kind,
                "platform": _cell(follow.get("platform", "")),
                "handle": _cell(value),
                "identified_by": _cell(follow.get("identified_by", key)),
                "enabled": _cell(follow.get("enabled", True)),
            }
            rows.append((_value_line(lines, value, header), row))
    return rows


def _blank(base: dict[str, str]) -> dict[str, str]:
    return {**{c: "" for c in COLUMNS}, **base, "enabled": "true"}


def _cell(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value).strip()


def _value_line(lines: list[str], value: Any, header: int) -> int:
    """The first line at or after the table's header that spells the value (else the header's line)."""
    quoted = f'"{value}"'
    for n in range(max(header, 1), len(lines) + 1):
        if quoted in lines[n - 1]:
            return n
    return header


# ---------------------------------------------------------------- regions


@lru_cache(maxsize=1)
def regions() -> dict[str, tuple[str, bool]]:
    """Kemendagri code -> (name, fictional) from pipeline/data/regions.csv."""
    text = REGIONS_FILE.read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {r["code"]: (r["name"], r["fictional"] == "true") for r in rows}


def check_region(code: str) -> str | None:
    """Why a region code is not one pantau knows (its province, and its kabupaten/kota when it names one)."""
    parts = code.split(".")
    known = regions()
    if parts[0] not in known:
        return f"region_code {code!r}: {parts[0]} is not a Kemendagri province code"
    if len(parts) > 1 and ".".join(parts[:2]) not in known:
        return (
            f"region_code {code!r}: {'.'.join(parts[:2])} is not a kabupaten/kota in pipeline/data/regions.csv "
            "(add its row if it is real)"
        )
    return None


def watch_key(platform: str, handle: str) -> str:
    """One spelling per account, so that an author's handle can be matched with a watchlist row."""
    handle = handle.strip()
    if platform == "telegram":
        return telegram_channel(handle).lower()
    if platform == "rss" and "://" in handle:
        return handle.split("://", 1)[1].split("/", 1)[0].lower()
    return handle if platform == "youtube" else handle.lstrip("@").lower()
