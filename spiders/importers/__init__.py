"""Exports from the platforms' research programmes -> landing files of Posts, loaded like a spider's.

`pantau import FILE --format F [--mapping M]` reads one file and writes `<landing_dir>/import/<run_id>.jsonl`
(one Post per line), `.rejects.jsonl` (every row that could not be one, with `file:line: reason`) and
`.targets.jsonl` (one row for the file), then the ordinary load takes over. Formats:

    meta-csv     Meta Content Library CSV (Facebook, Instagram): dotted column names such as post_owner.id
    tiktok-json  TikTok Research API video query answers ({data: {videos: [...]}}), one file or JSON Lines
    x-json       X API v2 answers ({data, includes: {users}}), one file or JSON Lines: they become `x` posts,
                 the same records the x spider makes
    csv, jsonl   any other export, with a --mapping file (spiders.importers.mapping)

A mapping file given with meta-csv or tiktok-json adjusts the built-in one (an export with other column names).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from pipeline.errors import InputError
from pipeline.schema import Post, Reject
from spiders.importers.mapping import Mapping, check_mapping, load_mapping, row_to_post
from spiders.importers.readers import Row, read_csv, read_json_records, read_jsonl
from spiders.pages.wire import bad_unicode, safe_text
from spiders.pages.x import tweet_to_post

SOURCE = "import"  # the landing folder and the source name of the load
FORMATS = ("meta-csv", "tiktok-json", "x-json", "csv", "jsonl")
BUILT_IN: dict[str, dict[str, Any]] = {
    "meta-csv": {
        "platform": "import",
        "id_prefix": "meta",
        "columns": {
            "platform_post_id": "id",
            "url": "url",
            "text": "text",
            "posted_at": "creation_time",
            "author_id": "post_owner.id",
            "author_handle": "post_owner.username",
            "author_name": "post_owner.name",
            "language": "lang",
            "replies": "statistics.comment_count",
            "reposts": "statistics.share_count",
            "likes": "statistics.reaction_count",
            "views": "statistics.views",
        },
    },
    "tiktok-json": {
        "platform": "import",
        "id_prefix": "tiktok",
        "time_format": "unix",
        "url_template": "https://www.tiktok.com/@{author_handle}/video/{platform_post_id}",
        "columns": {
            "platform_post_id": "id",
            "text": "video_description",
            "posted_at": "create_time",
            "author_handle": "username",
            "replies": "comment_count",
            "reposts": "share_count",
            "likes": "like_count",
            "views": "view_count",
        },
    },
}


@dataclass
class ImportResult:
    posts: int = 0
    rejects: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    landing: Path | None = None


def resolve_mapping(fmt: str, mapping_file: Path | None) -> Mapping | None:
    """The mapping for a format: the built-in one, adjusted or replaced by the file (None for x-json)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    given = load_mapping(mapping_file) if mapping_file is not None else None
    if fmt == "x-json":
        if given is not None:
            raise InputError("x-json needs no mapping: X API answers have one shape")
        return None
    if fmt in BUILT_IN:
        base = check_mapping(BUILT_IN[fmt], f"built-in {fmt} mapping")
        return base.merged(given) if given is not None else base
    if given is None:
        raise InputError(
            f"--format {fmt} needs --mapping FILE (which column is the id, the text, the time, the author)"
        )
    return check_mapping(given, str(mapping_file))


def import_to_landing(
    path: Path,
    fmt: str,
    mapping_file: Path | None,
    landing_dir: Path,
    run_id: str,
    collected_at: datetime | None = None,
) -> ImportResult:
    """Read FILE, write the three landing files of `SOURCE` for run_id; InputError if the file is unusable."""
    mapping = resolve_mapping(fmt, mapping_file)
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file")
    folder = landing_dir / SOURCE
    folder.mkdir(parents=True, exist_ok=True)
    result = ImportResult(landing=folder / f"{run_id}.jsonl")
    when = collected_at or datetime.now(UTC)
    target = f"import:{path.name}"
    with (
        (folder / f"{run_id}.jsonl").open("w", encoding="utf-8") as posts,
        (folder / f"{run_id}.rejects.jsonl").open("w", encoding="utf-8") as rejects,
    ):
        for outcome in _outcomes(path, fmt, mapping, target, when):
            _write(outcome, posts, rejects, result, path.name, fmt, run_id)
    _write_target(folder / f"{run_id}.targets.jsonl", target, result)
    return result


def _outcomes(path: Path, fmt: str, mapping: Mapping | None, target: str, when: datetime) -> Iterator[Any]:
    """(line, Post) or (line, reason, raw) per record of the file."""
    if fmt == "x-json":
        yield from _x_outcomes(path, target, when)
        return
    assert mapping is not None
    rows: Iterator[Row]
    if fmt in ("meta-csv", "csv"):
        rows = read_csv(path, [c for c in mapping.columns.values()])
    elif fmt == "tiktok-json":
        rows = _tiktok_videos(read_json_records(path))
    else:
        rows = read_jsonl(path)
    for row in rows:
        if row.error is not None:
            yield row.line, row.error, row.raw
            continue
        yield _one(
            row, lambda data: row_to_post(data, mapping, watch_target=target, collected_at=when, source=path.name)
        )


def _one(row: Row, make: Any) -> tuple[Any, ...]:
    bad = bad_unicode(row.data, "row")
    if bad:
        return row.line, bad, row.raw
    try:
        return row.line, make(row.data)
    except ValueError as exc:
        return row.line, str(exc), row.raw


def _tiktok_videos(records: Iterator[Row]) -> Iterator[Row]:
    """Research API answers ({data: {videos}, error}), or bare video objects, -> one row per video."""
    for record in records:
        data = record.data
        if record.error is not None or not isinstance(data, dict) or "data" not in data:
            yield record
            continue
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        if error.get("code") not in (None, "ok"):
            yield Row(
                record.line, None, record.raw, f"the answer is an error: {error.get('code')}: {error.get('message')}"
            )
            continue
        videos = (data.get("data") or {}).get("videos") if isinstance(data.get("data"), dict) else None
        if not isinstance(videos, list):
            yield Row(record.line, None, record.raw, "expected data.videos to be an array")
            continue
        for n, video in enumerate(videos):
            raw = safe_text(json.dumps(video, ensure_ascii=False))
            ok = isinstance(video, dict)
            yield Row(f"{record.line} video {n}", video if ok else None, raw, None if ok else "video is not an object")


def _x_outcomes(path: Path, target: str, when: datetime) -> Iterator[tuple[Any, ...]]:
    for record in read_json_records(path):
        answer = record.data
        if record.error is not None:
            yield record.line, record.error, record.raw
            continue
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list | dict):
            yield record.line, "expected an X API answer with a data array", record.raw
            continue
        tweets = answer["data"] if isinstance(answer["data"], list) else [answer["data"]]
        includes = answer.get("includes") if isinstance(answer.get("includes"), dict) else {}
        users = {u.get("id"): u for u in includes.get("users") or [] if isinstance(u, dict)}
        media = {m.get("media_key"): m for m in includes.get("media") or [] if isinstance(m, dict)}
        make = partial(tweet_to_post, users=users, media=media, target=target, collected_at=when)
        for n, tweet in enumerate(tweets):
            row = Row(f"{record.line} tweet {n}", tweet, safe_text(json.dumps(tweet, ensure_ascii=False)), None)
            yield _one(row, make)


def _write(
    outcome: tuple[Any, ...], posts: TextIO, rejects: TextIO, result: ImportResult, name: str, fmt: str, run_id: str
) -> None:
    if len(outcome) == 2 and isinstance(outcome[1], Post):
        posts.write(outcome[1].model_dump_json() + "\n")
        result.posts += 1
        return
    line, reason, raw = outcome
    result.rejects += 1
    result.reasons[reason.split(":")[0]] += 1
    reject = Reject(stage="import", source=f"import:{fmt}", reason=f"{name}:{line}: {reason}", raw=raw, run_id=run_id)
    rejects.write(reject.model_dump_json() + "\n")


def _write_target(path: Path, target: str, result: ImportResult) -> None:
    row = {
        "target": target,
        "status": "ok",
        "newest_id": None,
        "pages": 1,
        "fetched": result.posts,
        "rejected": result.rejects,
        "detail": f"{result.posts} posts and {result.rejects} rejects imported",
    }
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
