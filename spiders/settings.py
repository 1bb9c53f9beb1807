"""Scrapy settings of pantau's spiders: polite defaults, retries, rate-limit handling and landing-file feeds.

Used as SCRAPY_SETTINGS_MODULE=spiders.settings; the flow overrides the per-run knobs with `-s NAME=VALUE`
(USER_AGENT, CONCURRENT_REQUESTS, DOWNLOAD_DELAY, AUTOTHROTTLE_ENABLED, PANTAU_MAX_PAGES, LOG_LEVEL).

pantau's own settings:
    PANTAU_MAX_PAGES          pages read per target and run (bounds the first, deep crawl)
    PANTAU_RATELIMIT_ENABLED  honour Retry-After and X-RateLimit-* (spiders.middlewares.RateLimitMiddleware)
    PANTAU_RATELIMIT_MAX_WAIT longest pause, in seconds, that one rate-limit answer may impose on a host
    PANTAU_DEDUPE_ENABLED     drop a post already yielded in this run (spiders.pipelines.DedupePostsPipeline)

Secrets (API tokens, an app password) are not Scrapy settings: spiders read them from the environment through
pipeline.config (PantauSpider.secret), so they never show in the "Overridden settings" log line.
"""

from __future__ import annotations

BOT_NAME = "pantau"
SPIDER_MODULES = ["spiders.platforms"]
NEWSPIDER_MODULE = "spiders.platforms"

# The flow passes the full "pantau/0.1 contact: ..." string; this default still names us and a contact.
USER_AGENT = "pantau/0.1 contact: operator@example.invalid"

# Politeness. The API spiders obey robots.txt too: Mastodon's default robots.txt leaves /api/ open, and an
# admin who closes it has said no to us as well.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024  # a 40-status page is well under 1 MB; anything this big is not one
COOKIES_ENABLED = False  # public API, no session
TELNETCONSOLE_ENABLED = False  # a nightly batch job needs no control port: nothing listens but the flow
REMOTE_CONTROL_ENABLED = False
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json", "Accept-Language": "id, en;q=0.8"}

# Failures: transient errors and 429 are retried; RateLimitMiddleware (above Retry in the chain, so it sees
# the 429 first) makes the retry wait for Retry-After / X-RateLimit-Reset.
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [500, 502, 503, 504, 429]
DOWNLOADER_MIDDLEWARES = {"spiders.middlewares.RateLimitMiddleware": 560}
PANTAU_RATELIMIT_ENABLED = True
PANTAU_RATELIMIT_MAX_WAIT = 300.0  # Mastodon's window is 5 minutes: never wait longer than one window

ITEM_PIPELINES = {"spiders.pipelines.DedupePostsPipeline": 100}
PANTAU_DEDUPE_ENABLED = True
PANTAU_MAX_PAGES = 50

# Landing files. URI parameters come from spider attributes (run_id and landing_dir are spider arguments).
# overwrite: a retried run with the same run_id replaces its partial files instead of appending duplicates.
_FEED = {"format": "jsonlines", "encoding": "utf-8", "overwrite": True, "store_empty": True}
FEEDS = {
    "%(landing_dir)s/%(name)s/%(run_id)s.jsonl": {**_FEED, "item_classes": ["spiders.items.PostRecord"]},
    "%(landing_dir)s/%(name)s/%(run_id)s.rejects.jsonl": {
        **_FEED,
        "item_classes": ["spiders.items.RejectRecord"],
    },
    "%(landing_dir)s/%(name)s/%(run_id)s.targets.jsonl": {
        **_FEED,
        "item_classes": ["spiders.items.TargetRecord"],
    },
    "%(landing_dir)s/%(name)s/%(run_id)s.deletions.jsonl": {
        **_FEED,
        "item_classes": ["spiders.items.DeletionRecord"],
    },
}
FEED_EXPORT_ENCODING = "utf-8"
FEED_EXPORTERS = {"jsonlines": "spiders.feeds.RecordLinesExporter"}  # our records are JSON-ready dicts
LOG_FORMATTER = "spiders.feeds.QuietItemsLogFormatter"  # no line per item unless LOG_LEVEL is DEBUG
FEED_STORE_EMPTY = True  # the flow always finds every file, even for a run that found nothing

LOG_LEVEL = "INFO"
