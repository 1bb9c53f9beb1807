"""Column mappings: which field of an exported row becomes which part of a Post.

A mapping is a TOML file (or a built-in one per format) of this shape:

    platform = "import"        # a Platform value: "x" when the rows are tweets, "import" for platforms not crawled
    id_prefix = "facebook"     # optional: the post id becomes "facebook:<id>" (keeps imported ids apart)
    url_template = "https://www.tiktok.com/@{author_handle}/video/{platform_post_id}"  # when rows have no url
    time_format = "iso"        # "iso", "unix" (seconds), or a strptime pattern such as "%d/%m/%Y %H:%M"
    timezone = "Asia/Jakarta"  # for times written without a zone
    list_separator = "|"       # media_urls in one cell

    [columns]                  # Post field = column name (a dotted path into nested JSON objects)
    platform_post_id = "id"
    text = "message"
    posted_at = "created"
    author_id = "author.id"
    ...

Fields: platform_post_id, url, text, posted_at, author_id, author_handle, author_name, author_bio, author_url,
language, replies, reposts, likes, quotes, views, media_urls, reply_to, repost_of. Required: platform_post_id,
text, posted_at and author_id or author_handle.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import InputError
from pipeline.schema import Platform, canonical_json, parse_post, sha256_text

FIELDS = (
    "platform_post_id",
    "url",
    "text",
    "posted_at",
    "author_id",
    "author_handle",
    "author_name",
    "author_bio",
    "author_url",
    "language",
    "replies",
    "reposts",
    "likes",
    "quotes",
    "views",
    "media_urls",
    "reply_to",
    "repost_of",
)
REQUIRED = ("platform_post_id", "text", "posted_at")
COUNTS = ("replies", "reposts", "likes", "quotes", "views")


class RowError(ValueError):
    """One row that cannot become a Post; the message is the reject's reason."""


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]
    platform: str = "import"
    id_prefix: str = ""
    url_template: str = ""
    time_format: str = "iso"
    timezone: str = "UTC"
    list_separator: str = "|"
    extra: dict[str, Any] = field(default_factory=dict)

    def merged(self, other: dict[str, Any]) -> Mapping:
        """This mapping with the keys of a mapping file on top (its [columns] added to, not replacing, ours)."""
        columns = {**self.columns, **other.get("columns", {})}
        top = {k: v for k, v in other.items() if k != "columns"}
        return check_mapping({**self.__dict__, **top, "columns": columns})


def check_mapping(data: dict[str, Any], where: str = "mapping") -> Mapping:
    """A Mapping from parsed TOML, or InputError naming what is wrong."""
    columns = data.get("columns")
    if not isinstance(columns, dict) or not all(isinstance(v, str) and v for v in columns.values()):
        raise InputError(f"{where}: [columns] must map Post fields to column names (strings)")
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown} in [columns]; known: {', '.join(FIELDS)}")
    missing = [f for f in REQUIRED if f not in columns]
    if not ({"author_id", "author_handle"} & set(columns)):
        missing.append("author_id or author_handle")
    if missing:
        raise InputError(f"{where}: [columns] lacks {', '.join(missing)}")
    platform = data.get("platform", "import")
    if platform not in {p.value for p in Platform}:
        raise InputError(f"{where}: platform {platform!r} is not one of {sorted(p.value for p in Platform)}")
    try:
        ZoneInfo(str(data.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"{where}: timezone {data.get('timezone')!r} is not an IANA name such as Asia/Jakarta"
        ) from None
    known = {"columns", "platform", "id_prefix", "url_template", "time_format", "timezone", "list_separator", "extra"}
    stray = sorted(set(data) - known)
    if stray:
        raise InputError(f"{where}: unknown key(s) {stray}")
    return Mapping(**{k: v for k, v in data.items() if k in known})


def load_mapping(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read mapping {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"mapping {path} is not valid TOML: {exc}") from None


def lookup(row: dict[str, Any], path: str) -> Any:
    """A column, or a dotted path into nested objects (`post_owner.id`); a flat key with dots wins."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def row_to_post(
    row: dict[str, Any], mapping: Mapping, *, watch_target: str, collected_at: datetime, source: str
) -> Any:
    """One exported row -> a validated Post; RowError (or ValueError from the contract) with the reason."""
    got = {name: lookup(row, column) for name, column in mapping.columns.items()}
    for name in REQUIRED:
        if got.get(name) in (None, ""):
            raise RowError(f"{name}: column {mapping.columns[name]!r} is empty or missing")
    post_id = str(got["platform_post_id"])
    if mapping.id_prefix:
        post_id = f"{mapping.id_prefix}:{post_id}"
    author_id = _text(got.get("author_id") or got.get("author_handle"))
    if not author_id:
        named = [mapping.columns[k] for k in ("author_id", "author_handle") if k in mapping.columns]
        raise RowError(f"author: column(s) {named} are empty or missing")
    handle = _text(got.get("author_handle") or author_id)
    url = _text(got.get("url")) or _url(mapping, got, handle)
    raw = canonical_json({"source": source, "row": row})
    return parse_post(
        {
            "platform": mapping.platform,
            "platform_post_id": post_id,
            "url": url,
            "author": {
                "platform_id": author_id,
                "handle": handle,
                "display_name": _text(got.get("author_name")),
                "bio": _text(got.get("author_bio")),
                "url": _text(got.get("author_url")) or None,
            },
            "text": got["text"] if isinstance(got["text"], str) else str(got["text"]),
            "language": _text(got.get("language")) or None,
            "posted_at": parse_time(got["posted_at"], mapping),
            "collected_at": collected_at,
            "watch_target": watch_target,
            "engagement": {name: _count(name, got.get(name)) for name in COUNTS},
            "media_urls": _list(got.get("media_urls"), mapping.list_separator),
            "reply_to": _text(got.get("reply_to")) or None,
            "repost_of": _text(got.get("repost_of")) or None,
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _url(mapping: Mapping, got: dict[str, Any], handle: str) -> str:
    if not mapping.url_template:
        raise RowError("url: the row has no url and the mapping no url_template")
    return mapping.url_template.format(platform_post_id=got["platform_post_id"], author_handle=handle)


def parse_time(value: Any, mapping: Mapping) -> datetime:
    """A time as the export writes it -> an aware datetime (a zoneless one is read in the mapping's timezone)."""
    zone = ZoneInfo(mapping.timezone)
    try:
        if mapping.time_format == "unix" or isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        text = str(value).strip()
        if mapping.time_format == "iso":
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            parsed = datetime.strptime(text, mapping.time_format)
    except (ValueError, OverflowError, OSError) as exc:
        raise RowError(f"posted_at: {value!r} is not a time in the {mapping.time_format!r} format ({exc})") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _count(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value).replace(",", "").replace(".", "")) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise RowError(f"{name}: {value!r} is not a whole number") from None


def _list(value: Any, separator: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [part.strip() for part in str(value).split(separator) if part.strip()]
