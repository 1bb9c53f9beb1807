"""What the page objects of every platform share: errors and rejects of a page, bodies kept as evidence, JSON that
says what came instead, text that is not valid UTF-8 found and named, and HTML turned into plain text.

No Scrapy here: page objects take bytes and headers and return Posts and rejects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

# Time cursors (Bluesky, YouTube, RSS): UTC with microseconds and Z, so that text order is time order.
CURSOR_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
MAX_PAGE_RAW_CHARS = 1_000_000  # an unusable page is kept as evidence, but a runaway body is not kept whole

_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\n\f]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class PageError(ValueError):
    """A whole answer that cannot be read as the JSON we asked for."""


class StatusError(ValueError):
    """An item (status, post, message) whose shape is wrong before the Post contract can even judge it."""


@dataclass(frozen=True)
class PageReject:
    reason: str
    raw: str


@dataclass
class PageResult:
    """What one page of any platform yielded: Posts, rejects and (in each platform's subclass) its paging fields.
    `count` counts every entry read, good or bad; `error` is set when the page as a whole was unusable (its reject
    is then in `rejects`). `to_json` is the golden fixtures' form: every field, Posts as JSON."""

    posts: list[Any] = field(default_factory=list)
    rejects: list[PageReject] = field(default_factory=list)
    count: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("posts", "rejects")}
        out["posts"] = [p.model_dump(mode="json") for p in self.posts]
        out["rejects"] = [{"reason": r.reason, "raw": r.raw} for r in self.rejects]
        return out


def body_text(body: bytes) -> str:
    """A body as text for a reject's `raw`: undecodable bytes shown as \\xNN, so the evidence stays UTF-8."""
    text = body.decode("utf-8", "backslashreplace")
    if len(text) > MAX_PAGE_RAW_CHARS:
        return text[:MAX_PAGE_RAW_CHARS] + f"\n[... {len(text) - MAX_PAGE_RAW_CHARS} more characters cut]"
    return text


# ---------------------------------------------------------------- HTML to text


class _TextExtractor(HTMLParser):
    """Collects the text of sanitised status HTML; line structure comes only from tags, as in a browser."""

    _PARAGRAPHS = frozenset({"p", "div", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol"})
    _SKIPPED = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            # Source whitespace (raw newlines too) is layout, not content, exactly as a browser shows it.
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Sanitised Mastodon HTML -> plain text: <br> is a line break, a paragraph ends with a blank line,
    entities are unescaped and link text (hashtags, mentions, the hidden parts of long URLs) is kept."""
    if "<" not in html and "&" not in html:
        return html.strip()
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.parts).split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def load_json(body: bytes, content_type: str | None) -> Any:
    """Parse a JSON answer or raise PageError saying what came instead."""
    media = media_type(content_type)
    if media and media != "application/json" and not media.endswith("+json"):
        raise PageError(f"expected JSON, got {media}")
    # Bad bytes survive as surrogates so that one broken status does not cost its whole page:
    # they are found and reported per status in status_to_post.
    text = body.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PageError(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def check_unicode(raw: str, value: Any, path: str) -> None:
    """Raise StatusError naming the first field that is not valid UTF-8, if any: one fast scan of the item's
    canonical JSON, and the walk through its fields only when that finds something."""
    if _SURROGATE.search(raw):
        raise StatusError(bad_unicode(value, path) or f"{path or 'item'} is not valid UTF-8")


def bad_unicode(value: Any, path: str) -> str | None:
    """The first field holding text that is not valid UTF-8, named by its path, e.g. 'content: ...'."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        if match is None:
            return None
        code = ord(match.group())
        where = path or "status"
        if 0xDC80 <= code <= 0xDCFF:  # a byte that surrogateescape kept
            return f"{where}: invalid UTF-8 (byte 0x{code - 0xDC00:02x} at character {match.start()})"
        return f"{where}: lone surrogate U+{code:04X} at character {match.start()} (not valid UTF-8)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        sub = f"{path}.{key}" if path else str(key)
        found = bad_unicode(str(key), sub) or bad_unicode(item, sub)
        if found:
            return found
    return None


def safe_text(text: str) -> str:
    """Text fit to write as UTF-8: bytes kept by surrogateescape become \\xNN, lone surrogates \\udNNN."""
    if not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that came from a JSON \\u escape, not from a byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def normalise_time(value: Any) -> str | None:
    """An ISO time -> the cursor form (UTC, microseconds, Z); None when it is not an aware ISO time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
