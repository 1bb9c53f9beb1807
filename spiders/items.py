"""The three kinds of record a spider yields: dict subclasses, so FEEDS `item_classes` routes each to a file.

Values are already JSON-ready (pydantic's `model_dump(mode="json")`), so Scrapy's encoder never has to guess
how to write a datetime: the landing files hold exactly what the contract serialises.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pipeline.schema import Post, Reject

TargetStatus = Literal["ok", "not_found", "unauthorized", "rate_limited", "error"]


class PostRecord(dict[str, Any]):
    """One Post -> `<landing_dir>/<spider>/<run_id>.jsonl`."""

    @classmethod
    def from_post(cls, post: Post) -> Self:
        return cls(post.model_dump(mode="json"))


class RejectRecord(dict[str, Any]):
    """One input that did not become a Post -> `<run_id>.rejects.jsonl`."""

    @classmethod
    def build(cls, *, source: str, reason: str, raw: str, run_id: str) -> Self:
        return cls(Reject(stage="crawl", source=source, reason=reason, raw=raw, run_id=run_id).model_dump(mode="json"))


class TargetRecord(dict[str, Any]):
    """How one watch target's paging ended -> `<run_id>.targets.jsonl`; `newest_id` is the next cursor."""

    @classmethod
    def build(
        cls,
        *,
        target: str,
        status: TargetStatus,
        newest_id: str | None,
        pages: int,
        fetched: int,
        rejected: int,
        detail: str,
    ) -> Self:
        return cls(
            target=target,
            status=status,
            newest_id=newest_id,
            pages=pages,
            fetched=fetched,
            rejected=rejected,
            detail=detail,
        )
