"""The four kinds of record a spider yields: dict subclasses, so FEEDS `item_classes` routes each to a file.

Values are already JSON-ready (pydantic's `model_dump(mode="json")`), so Scrapy's encoder never has to guess
how to write a datetime: the landing files hold exactly what the contract serialises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pipeline.schema import Post, Reject

# not_public: the target exists but shows nothing without a login (a channel without a public preview, a
# protected account); disabled: the source needs a secret that is not set.
TargetStatus = Literal["ok", "not_found", "unauthorized", "rate_limited", "not_public", "disabled", "error"]


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


class DeletionRecord(dict[str, Any]):
    """A flagged post that a re-fetch found gone -> `<run_id>.deletions.jsonl` (stored in post_deletions)."""

    @classmethod
    def build(cls, *, platform: str, platform_post_id: str, detail: str, noticed_at: datetime) -> Self:
        return cls(
            platform=platform, platform_post_id=platform_post_id, detail=detail, noticed_at=noticed_at.isoformat()
        )


class TargetRecord(dict[str, Any]):
    """How one watch target's paging ended -> `<run_id>.targets.jsonl`; `newest_id` is the next cursor.

    The optional keys appear only when they say something: `skipped` (items seen but not landed), `reasons`
    (the most frequent reject reasons with their counts), `resume` / `resume_newest` (where a cut-off target
    carries on next run) and `etag` / `last_modified` (validators for the next conditional request)."""

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
        skipped: int = 0,
        reasons: dict[str, int] | None = None,
        resume: str | None = None,
        resume_newest: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Self:
        record = cls(
            target=target,
            status=status,
            newest_id=newest_id,
            pages=pages,
            fetched=fetched,
            rejected=rejected,
            detail=detail,
        )
        optional = {
            "skipped": skipped,
            "reasons": reasons,
            "resume": resume,
            "resume_newest": resume_newest,
            "etag": etag,
            "last_modified": last_modified,
        }
        record.update({key: value for key, value in optional.items() if value})
        return record
