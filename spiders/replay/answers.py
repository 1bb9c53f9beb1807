"""What a replay route returns and what it is given: the answer (status, body, headers) and the request facts.

Shared by the Mastodon routes in spiders.replay.server and the other platforms' route modules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(status: int, obj: Any) -> Answer:
    return Answer(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def html_answer(status: int, html: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, html.encode("utf-8"), "text/html; charset=utf-8", dict(headers or {}))


@dataclass(frozen=True)
class ReplayRequest:
    """One request as a platform route sees it."""

    method: str
    path: str
    query: dict[str, str]
    params: dict[str, str]  # named groups of the route's pattern
    headers: Mapping[str, str]
    body: bytes
    base: str  # "http://HOST:PORT" as the client addressed us
    clock: float | None  # items created after this epoch second are not published yet
    raw_query: str = ""  # as sent, for parameters that repeat (XRPC arrays: uris=a&uris=b)

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        return value if isinstance(value, str) else ""

    def values(self, name: str) -> list[str]:
        """Every value of a query parameter, repeated or comma-separated."""
        found = parse_qs(self.raw_query).get(name, [])
        return [v for value in found for v in value.split(",") if v]

    def visible(self, at: float | None) -> bool:
        return self.clock is None or at is None or at <= self.clock


def epoch_of(value: str | None) -> float | None:
    """An ISO time as epoch seconds (naive = UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def iso_z(when: datetime, millis: bool = True) -> str:
    """UTC with Z, with or without milliseconds (each platform spells its times one way)."""
    when = when.astimezone(UTC)
    if millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
