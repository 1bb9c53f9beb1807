"""The records every stage exchanges: Post (what spiders yield), Reject, Prediction, labels, schema version.

A Post is validated strictly: a bad field is reported with a reason a person can act on, never silently fixed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCHEMA_VERSION = 1
MAX_TEXT_BYTES = 100_000  # a post longer than this is rejected, not truncated: evidence is never cut
MAX_ID_CHARS = 200


class Platform(StrEnum):
    mastodon = "mastodon"
    bluesky = "bluesky"
    telegram = "telegram"
    rss = "rss"
    youtube = "youtube"
    x = "x"
    imported = "import"


class Label(StrEnum):
    """The six content labels of TAXONOMY: the first four are partisan and flagged for review."""

    endorsement = "endorsement"
    campaign = "campaign"
    attack = "attack"
    symbol = "symbol"
    political_neutral = "political_neutral"
    non_political = "non_political"


FLAGGED_LABELS: frozenset[Label] = frozenset({Label.endorsement, Label.campaign, Label.attack, Label.symbol})
LABEL_NAMES_ID: dict[Label, str] = {
    Label.endorsement: "Dukungan / ajakan memilih",
    Label.campaign: "Kampanye",
    Label.attack: "Serangan / kampanye negatif",
    Label.symbol: "Simbol keberpihakan",
    Label.political_neutral: "Politik netral",
    Label.non_political: "Non-politik",
}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(obj: Any) -> str:
    """The one JSON spelling used for raw payloads, so that their sha256 is reproducible."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=True)


class Author(_Strict):
    platform_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    handle: str = Field(min_length=1, max_length=400)
    display_name: str = Field(default="", max_length=1000)
    bio: str = Field(default="", max_length=20_000)
    url: str | None = None


class Engagement(_Strict):
    replies: int | None = Field(default=None, ge=0)
    reposts: int | None = Field(default=None, ge=0)
    likes: int | None = Field(default=None, ge=0)
    quotes: int | None = Field(default=None, ge=0)
    views: int | None = Field(default=None, ge=0)


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} has no time zone; send an ISO 8601 time with Z or an offset")
    return value.astimezone(UTC)


class Post(_Strict):
    """One public post as collected. Keys: (platform, platform_post_id)."""

    schema_version: int = SCHEMA_VERSION
    platform: Platform
    platform_post_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    url: str = Field(min_length=1, max_length=2000)
    author: Author
    text: str
    language: str | None = Field(default=None, max_length=20)
    posted_at: datetime
    collected_at: datetime
    watch_target: str = Field(min_length=1, max_length=500)
    engagement: Engagement = Engagement()
    media_urls: list[str] = Field(default_factory=list)
    reply_to: str | None = None
    repost_of: str | None = None
    raw: str = Field(min_length=2)
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not {SCHEMA_VERSION}; re-crawl or migrate the landing file")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return v

    @field_validator("text")
    @classmethod
    def _text_size(cls, v: str) -> str:
        try:
            size = len(v.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: the source sent bytes that were not UTF-8
            raise ValueError("text is not valid UTF-8 (surrogate characters found)") from None
        if size > MAX_TEXT_BYTES:
            raise ValueError(f"text is {size} bytes, over the {MAX_TEXT_BYTES}-byte limit")
        if "\ufffd" in v:
            raise ValueError("text is not valid UTF-8 (replacement characters found)")
        return v

    @field_validator("posted_at")
    @classmethod
    def _posted_utc(cls, v: datetime) -> datetime:
        return _utc(v, "posted_at")

    @field_validator("collected_at")
    @classmethod
    def _collected_utc(cls, v: datetime) -> datetime:
        return _utc(v, "collected_at")

    @model_validator(mode="after")
    def _raw_matches_hash(self) -> Post:
        if sha256_text(self.raw) != self.raw_sha256:
            raise ValueError("raw_sha256 does not match raw: the evidence was altered after capture")
        return self

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform.value, self.platform_post_id)


class Reject(BaseModel):
    """Input that did not become a Post, kept with the reason so nothing is lost silently."""

    stage: str  # "crawl", "validate", "load", "classify"
    source: str  # spider name, file name or "import"
    reason: str
    raw: str
    run_id: str | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def explain_validation_error(err: ValidationError) -> str:
    """One line per problem, 'field.path: message', in a form an operator can act on."""
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "record"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_post(data: dict[str, Any] | str | bytes) -> Post:
    """Validate one Post from a dict or a JSON line. Raises ValueError with a readable reason."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid UTF-8 at byte {exc.start}") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return Post.model_validate(data)
    except ValidationError as err:
        raise ValueError(explain_validation_error(err)) from None
