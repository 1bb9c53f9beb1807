"""Downloader middleware that makes a spider wait when the platform says it is asking too fast.

After a 429 it honours `Retry-After`; when the remaining count reaches 0 it waits until the reset time. It reads
each platform's spelling of those headers: `X-RateLimit-*` (Mastodon; reset as ISO time), `x-rate-limit-*` (X;
reset as epoch seconds) and `RateLimit-*` (Bluesky; reset as epoch seconds). The pause applies to every request
for that host (the limit is per client, not per URL) and is capped by PANTAU_RATELIMIT_MAX_WAIT. Retrying the 429
itself is RetryMiddleware's job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.asyncio import sleep
from scrapy.utils.httpobj import urlparse_cached

# (remaining, reset) header names, one pair per platform family
_LIMIT_HEADERS = (
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("ratelimit-remaining", "ratelimit-reset"),
)
HEADER_NAMES = ("retry-after", *(name for pair in _LIMIT_HEADERS for name in pair))
_EPOCH_MIN = 1_000_000_000  # a reset of this many seconds or more is a Unix time, not a delay


def _parse_time(value: str) -> datetime | None:
    """An ISO 8601 time (Mastodon), Unix epoch seconds (X, Bluesky) or an HTTP date (RFC 7231), always aware."""
    if value.isdigit() and int(value) >= _EPOCH_MIN:
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def wait_seconds(status: int, headers: Mapping[str, str], now: datetime) -> float | None:
    """How long the server asks us to hold off, from a response's status and rate-limit headers.

    None means no rate-limit signal at all; 0 means the signal was there but the time has already passed.
    """
    retry_after = headers.get("retry-after")
    if status == 429 and retry_after:
        if retry_after.strip().isdigit():
            return float(retry_after.strip())
        when = _parse_time(retry_after.strip())
        if when is not None:
            return max(0.0, (when - now).total_seconds())
    for remaining_name, reset_name in _LIMIT_HEADERS:
        remaining = (headers.get(remaining_name) or "").strip()
        reset = headers.get(reset_name)
        if (status == 429 or remaining == "0") and reset:
            when = _parse_time(reset.strip())
            if when is not None:
                return max(0.0, (when - now).total_seconds())
    return None


class RateLimitMiddleware:
    """Pause a host after a 429 or an exhausted rate-limit window (see module docstring)."""

    def __init__(self, max_wait: float, stats: StatsCollector | None = None) -> None:
        self.max_wait = max_wait
        self.stats = stats
        self._resume_at: dict[str, float] = {}  # host -> time.monotonic() before which nothing is sent

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("PANTAU_RATELIMIT_ENABLED", True):
            raise NotConfigured("PANTAU_RATELIMIT_ENABLED is off")
        return cls(crawler.settings.getfloat("PANTAU_RATELIMIT_MAX_WAIT", 300.0), crawler.stats)

    async def process_request(self, request: Request) -> None:
        delay = self._resume_at.get(urlparse_cached(request).netloc, 0.0) - time.monotonic()
        if delay > 0:
            self._inc("pantau/ratelimit/waits")
            await sleep(delay)

    def process_response(self, request: Request, response: Response) -> Response:
        headers = {name: response.headers.get(name, b"").decode("latin-1") for name in HEADER_NAMES}
        wait = wait_seconds(response.status, headers, datetime.now(UTC))
        if wait:
            self.pause(urlparse_cached(request).netloc, wait)
        return response

    def pause(self, host: str, wait: float) -> float:
        """Hold every request for host for `wait` seconds (capped); returns the pause actually applied."""
        applied = min(wait, self.max_wait)
        resume = time.monotonic() + applied
        self._resume_at[host] = max(self._resume_at.get(host, 0.0), resume)
        self._inc("pantau/ratelimit/pauses")
        return applied

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)
