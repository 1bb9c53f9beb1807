"""Scraped content made inert for display: text with the model's cues highlighted (escaped first), links only for
http(s) URLs, raw payloads pretty-printed as text.

Everything a post, a bio or a payload contains is treated as text. The only markup added here is `<mark>` around
matched cues and `<a>` around an http(s) URL; both wrap already-escaped text.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

_QUOTED = re.compile(r"'([^']{2,80})'")


def cue_phrases(reasons: list[str] | None) -> list[str]:
    """The phrases the model's reasons quote (e.g. "kata dukungan: 'nomor satu'" -> 'nomor satu')."""
    phrases = {m.group(1).strip() for reason in reasons or [] for m in _QUOTED.finditer(reason)}
    return sorted((p for p in phrases if p), key=len, reverse=True)


def highlight(text: str, phrases: list[str]) -> Markup:
    """The text, escaped, with every case-insensitive occurrence of a phrase wrapped in <mark>."""
    if not phrases:
        return escape(text)
    pattern = re.compile("|".join(re.escape(p) for p in phrases), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def is_web_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def safe_link(url: str | None) -> Markup:
    """An http(s) URL as a link that leaks nothing back (noopener, no referrer); anything else as plain text."""
    if not url:
        return Markup("")
    if not is_web_url(url):
        return escape(url)
    return Markup('<a href="{0}" rel="noopener noreferrer nofollow" target="_blank">{0}</a>').format(url.strip())


def pretty_json(raw: str | None) -> str:
    """A payload indented for reading (returned as plain text; the template escapes it)."""
    if raw is None:
        return ""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False, indent=2, sort_keys=True)
    except (ValueError, TypeError):
        return raw
