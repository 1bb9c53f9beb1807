"""The replay server's data: a dataset folder loaded, indexed for paging, and rendered as Mastodon API JSON.

Folder format (two JSON Lines files):
    accounts.jsonl  {id, username, domain, display_name, note (HTML), created_at, followers_count,
                     following_count, statuses_count, [_behaviour: "html" | "unauthorized" | "malformed"]}
    statuses.jsonl  {id, account_id, created_at, language, content (HTML), tags: [names], replies_count,
                     reblogs_count, favourites_count, media: [{type, description}], in_reply_to_id,
                     reblog_of (status id or null), label (ground truth, never served)}
                 or a fault row {account_id, [id], [created_at], [tags], _raw: "<text spliced verbatim
                     into the JSON array>" | _raw_b64: "<base64 bytes>"}

Each timeline is kept oldest first with its sort keys beside it, so a page is two bisects and a short walk.
Fault rows without an id sort oldest of all, in file order.
"""

from __future__ import annotations

import base64
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

BEHAVIOURS = frozenset({"html", "unauthorized", "malformed"})
_AFTER_ALL = 1 << 62  # sequence part of a key that sorts after every real row with the same id

SortKey = tuple[int, str, int]


class DatasetError(ValueError):
    """A dataset folder that cannot be served; the message names the file and line."""


def sort_key(status_id: str, seq: int = -1) -> SortKey:
    """Mastodon ids are numeric strings: longer is newer, then text order. Never cast to int."""
    return (len(status_id), status_id, seq)


def epoch(value: Any) -> float | None:
    """created_at as seconds, for the clock; naive times count as UTC, unreadable ones as always visible."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@dataclass
class StatusRow:
    key: SortKey
    id: str | None
    account_id: str
    at: float | None
    tags: tuple[str, ...]
    data: dict[str, Any] | None = None  # a normal row
    raw: bytes | None = None  # a fault row, served verbatim


class Timeline:
    """One account's or tag's statuses, oldest first, with their keys for bisecting."""

    def __init__(self) -> None:
        self.rows: list[StatusRow] = []
        self.keys: list[SortKey] = []

    def add(self, row: StatusRow) -> None:
        self.rows.append(row)

    def freeze(self) -> None:
        self.rows.sort(key=lambda r: r.key)
        self.keys = [r.key for r in self.rows]

    def page(
        self,
        *,
        limit: int,
        max_id: str | None = None,
        since_id: str | None = None,
        min_id: str | None = None,
        clock: float | None = None,
    ) -> list[StatusRow]:
        """Mastodon paging, newest first: max_id -> strictly older; since_id -> strictly newer (newest
        first); min_id -> the statuses immediately newer than it."""
        hi = bisect_left(self.keys, sort_key(max_id)) if max_id else len(self.rows)
        lo = bisect_right(self.keys, sort_key(since_id, _AFTER_ALL)) if since_id else 0
        if min_id:
            lo = max(lo, bisect_right(self.keys, sort_key(min_id, _AFTER_ALL)))
            return list(reversed(self._collect(range(lo, hi), limit, clock)))
        return self._collect(range(hi - 1, lo - 1, -1), limit, clock)

    def _collect(self, indices: range, limit: int, clock: float | None) -> list[StatusRow]:
        out: list[StatusRow] = []
        for i in indices:
            if _visible(self.rows[i], clock):
                out.append(self.rows[i])
                if len(out) == limit:
                    break
        return out

    def visible_count(self, clock: float | None) -> int:
        return sum(1 for r in self.rows if _visible(r, clock))


def _visible(row: StatusRow, clock: float | None) -> bool:
    return clock is None or row.at is None or row.at <= clock


@dataclass
class Account:
    id: str
    username: str
    domain: str
    data: dict[str, Any]
    behaviour: str | None = None
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def acct(self) -> str:
        return f"{self.username}@{self.domain}"


class Dataset:
    """Accounts, statuses and tag timelines, plus the Mastodon JSON of each (rendered once, then cached)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.by_acct: dict[str, Account] = {}
        self.statuses: dict[str, StatusRow] = {}
        self.tags: dict[str, Timeline] = {}
        self._rendered: dict[SortKey, bytes] = {}
        self._account_json: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, data_dir: Path) -> Dataset:
        return cls.from_rows(read_jsonl(data_dir / "accounts.jsonl"), read_jsonl(data_dir / "statuses.jsonl"))

    @classmethod
    def from_rows(cls, accounts: Iterable[tuple[str, dict[str, Any]]], statuses: Iterable[tuple[str, Any]]) -> Dataset:
        """Rows come as (where, row) pairs, where = "file:line", so errors can point at the line."""
        data = cls()
        for where, row in accounts:
            data._add_account(where, row)
        for seq, (where, row) in enumerate(statuses):
            data._add_status(where, row, seq)
        for row in data.statuses.values():
            data._check_boost(row)
        for timeline in [a.timeline for a in data.accounts.values()] + list(data.tags.values()):
            timeline.freeze()
        return data

    def _add_account(self, where: str, row: Any) -> None:
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected an object")
        account_id, username, domain = (_text(row, k, where) for k in ("id", "username", "domain"))
        behaviour = row.get("_behaviour")
        if behaviour is not None and behaviour not in BEHAVIOURS:
            raise DatasetError(f"{where}: _behaviour {behaviour!r} is not one of {sorted(BEHAVIOURS)}")
        if account_id in self.accounts:
            raise DatasetError(f"{where}: duplicate account id {account_id}")
        account = Account(account_id, username, domain, row, behaviour)
        self.accounts[account_id] = account
        self.by_acct[account.acct.lower()] = account

    def _add_status(self, where: str, row: Any, seq: int) -> None:
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected an object")
        account = self.accounts.get(_text(row, "account_id", where))
        if account is None:
            raise DatasetError(f"{where}: account_id {row['account_id']} is not in accounts.jsonl")
        status = _status_row(where, row, seq)
        if status.id is not None:
            if status.id in self.statuses:
                raise DatasetError(f"{where}: duplicate status id {status.id}")
            self.statuses[status.id] = status
        account.timeline.add(status)
        if status.data is not None and status.data.get("reblog_of"):
            return  # boosts carry no tags of their own, so they stay out of tag timelines, as on Mastodon
        for tag in status.tags:
            self.tags.setdefault(tag, Timeline()).add(status)

    def _check_boost(self, row: StatusRow) -> None:
        # A reply may point outside the dataset (as on Mastodon), but a boost must carry its original.
        original = row.data.get("reblog_of") if row.data is not None else None
        if not original:
            return
        if original not in self.statuses:
            raise DatasetError(f"status {row.id}: reblog_of {original} is not in statuses.jsonl")
        target = self.statuses[original].data
        if target is None or target.get("reblog_of"):  # Mastodon boosts point at the original, never a boost
            raise DatasetError(f"status {row.id}: reblog_of {original} is a boost or a fault row")

    # ------------------------------------------------------------ rendering

    def account_json(self, account: Account) -> dict[str, Any]:
        cached = self._account_json.get(account.id)
        if cached is None:
            cached = self._account_json[account.id] = _account_json(account)
        return cached

    def status_bytes(self, row: StatusRow) -> bytes:
        if row.raw is not None:
            return row.raw
        cached = self._rendered.get(row.key)
        if cached is None:
            text = json.dumps(self.status_json(row), ensure_ascii=False, separators=(",", ":"))
            cached = self._rendered[row.key] = text.encode("utf-8")
        return cached

    def status_json(self, row: StatusRow) -> dict[str, Any]:
        assert row.data is not None and row.id is not None
        data, account = row.data, self.accounts[row.account_id]
        origin = f"https://{account.domain}"
        reblog_row = self.statuses.get(data.get("reblog_of") or "")
        reblog = self.status_json(reblog_row) if reblog_row is not None and reblog_row.data else None
        reply_to = data.get("in_reply_to_id")
        replied = self.statuses.get(reply_to or "")
        return {
            "id": row.id,
            "created_at": data.get("created_at"),
            "in_reply_to_id": reply_to,
            "in_reply_to_account_id": replied.account_id if replied else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": None if reblog else data.get("language"),
            "uri": f"{origin}/users/{account.username}/statuses/{row.id}" + ("/activity" if reblog else ""),
            "url": f"{origin}/@{account.username}/{row.id}",
            "replies_count": data.get("replies_count", 0),
            "reblogs_count": data.get("reblogs_count", 0),
            "favourites_count": data.get("favourites_count", 0),
            "edited_at": None,
            "content": "" if reblog else data.get("content", ""),
            "reblog": reblog,
            "account": self.account_json(account),
            "media_attachments": [] if reblog else _media_json(origin, row.id, data.get("media") or []),
            "mentions": [],
            "tags": [] if reblog else [{"name": t, "url": f"{origin}/tags/{t}"} for t in data.get("tags") or []],
            "emojis": [],
            "card": None,
            "poll": None,
        }


def _account_json(account: Account) -> dict[str, Any]:
    data, origin = account.data, f"https://{account.domain}"
    return {
        "id": account.id,
        "username": account.username,
        "acct": account.acct,
        "display_name": data.get("display_name") or "",
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": data.get("created_at"),
        "note": data.get("note") or "",
        "url": f"{origin}/@{account.username}",
        "uri": f"{origin}/users/{account.username}",
        "avatar": f"{origin}/avatars/original/missing.png",
        "avatar_static": f"{origin}/avatars/original/missing.png",
        "header": f"{origin}/headers/original/missing.png",
        "header_static": f"{origin}/headers/original/missing.png",
        "followers_count": data.get("followers_count", 0),
        "following_count": data.get("following_count", 0),
        "statuses_count": data.get("statuses_count", 0),
        "last_status_at": None,
        "emojis": [],
        "fields": [],
    }


def _media_json(origin: str, status_id: str, media: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{status_id}{n:02d}",
            "type": item.get("type", "image"),
            "url": f"{origin}/media/{status_id}/{n}.jpg",
            "preview_url": f"{origin}/media/{status_id}/{n}_small.jpg",
            "remote_url": None,
            "description": item.get("description"),
        }
        for n, item in enumerate(media, start=1)
    ]


def _status_row(where: str, row: dict[str, Any], seq: int) -> StatusRow:
    tags = tuple(str(t).lower() for t in row.get("tags") or ())
    status_id = str(row["id"]) if row.get("id") not in (None, "") else None
    key = sort_key(status_id, seq) if status_id else (0, "", seq)
    if "_raw" in row or "_raw_b64" in row:
        raw = _raw_bytes(where, row)
        return StatusRow(key, status_id, str(row["account_id"]), epoch(row.get("created_at")), tags, raw=raw)
    if status_id is None:
        raise DatasetError(f"{where}: status without id (only a _raw fault row may lack one)")
    for name in ("created_at", "content"):
        if not isinstance(row.get(name), str):
            raise DatasetError(f"{where}: {name} must be a string")
    for link in ("reblog_of", "in_reply_to_id"):
        if isinstance(row.get(link), int):
            row[link] = str(row[link])  # same rule as ids: served as the string Mastodon sends
    at = epoch(row["created_at"])
    return StatusRow(key, status_id, str(row["account_id"]), at, tags, data=row)


def _raw_bytes(where: str, row: dict[str, Any]) -> bytes:
    if "_raw_b64" in row:
        try:
            return base64.b64decode(row["_raw_b64"], validate=True)
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{where}: _raw_b64 is not base64 ({exc})") from None
    if not isinstance(row["_raw"], str):
        raise DatasetError(f"{where}: _raw must be a string")
    return row["_raw"].encode("utf-8", "surrogatepass")  # a JSON \\ud800 escape stays a (bad) byte sequence


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # our own dataset: an int id is exact in Python, stored as the string Mastodon sends
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where}: {key} must be a non-empty string")
    return value


def read_jsonl(path: Path) -> list[tuple[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"{path}: not found (a dataset folder holds accounts.jsonl and statuses.jsonl)")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append((f"{path.name}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path.name}:{n}: {exc.msg} at column {exc.colno}") from None
    return rows


def html_paragraphs(text: str, tags: Iterable[str], origin: str) -> str:
    """Mastodon-style content HTML for a plain text and its hashtags (used by the generator)."""
    links = " ".join(
        f'<a href="{origin}/tags/{t}" class="mention hashtag" rel="tag">#<span>{escape(t)}</span></a>' for t in tags
    )
    body = escape(text).replace("\n", "<br />")
    return f"<p>{body}</p>" + (f"<p>{links}</p>" if links else "")
