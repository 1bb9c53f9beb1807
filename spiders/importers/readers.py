"""Reading export files row by row: CSV, JSON Lines, and JSON that is one document, an array or JSON Lines.

Every row carries its line number and the text it came from, so that a row that cannot become a Post is rejected
as `file:line: reason` with its raw text. Bytes that are not UTF-8 are kept (as surrogates) and reported per row;
they never stop the file. A file that cannot be read at all, or a CSV without the mapped columns, is an InputError.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from spiders.pages.wire import safe_text


@dataclass(frozen=True)
class Row:
    line: int | str
    data: Any  # the row as read (a dict for a good row)
    raw: str  # the text it came from, fit for a UTF-8 reject file
    error: str | None = None


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig", "surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def read_csv(path: Path, columns: list[str]) -> Iterator[Row]:
    """Rows of a CSV with a header; InputError when the header lacks a mapped (top-level) column."""
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    header = reader.fieldnames or []
    wanted = {c for c in columns if c in header or c.split(".", 1)[0] not in header}
    missing = sorted(c for c in wanted if c not in header)
    if missing:
        raise InputError(f"{path.name}: the header lacks column(s) {missing}; it has {header}")
    for record in reader:
        line = reader.line_num
        raw = safe_text(",".join(str(v) for v in record.values()))
        if None in record:  # more cells than the header has names
            yield Row(line, None, raw, f"{len(record[None])} cell(s) more than the header's {len(header)} columns")  # type: ignore[index]
            continue
        yield Row(line, dict(record), raw)


def read_jsonl(path: Path) -> Iterator[Row]:
    """One JSON object per line; blank lines are skipped."""
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        yield _json_row(number, line)


def _json_row(line: int, text: str) -> Row:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Row(line, None, safe_text(text), f"malformed JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(data, dict):
        return Row(line, None, safe_text(text), f"expected a JSON object, got {type(data).__name__}")
    return Row(line, data, safe_text(text))


def read_json_records(path: Path) -> Iterator[Row]:
    """A JSON file holding one object or an array of objects, or JSON Lines: one row per object."""
    text = _text(path)
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        yield from read_jsonl(path)
        return
    items = whole if isinstance(whole, list) else [whole]
    for n, item in enumerate(items, start=1):
        raw = safe_text(json.dumps(item, ensure_ascii=False))
        where = f"item {n}" if isinstance(whole, list) else 1
        if isinstance(item, dict):
            yield Row(where, item, raw)
        else:
            yield Row(where, None, raw, f"expected a JSON object, got {type(item).__name__}")
