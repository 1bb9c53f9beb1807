"""Item pipeline that lands each post once per run, keyed by (platform, platform_post_id).

The same post can reach a run twice, e.g. through an account target and a hashtag target; the later copy
is dropped with a reason, counted in the `pantau/duplicates` stat, and never written.
"""

from __future__ import annotations

from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.statscollectors import StatsCollector

from spiders.items import PostRecord


class DedupePostsPipeline:
    def __init__(self, stats: StatsCollector | None = None) -> None:
        self.stats = stats
        self.seen: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("PANTAU_DEDUPE_ENABLED", True):
            raise NotConfigured("PANTAU_DEDUPE_ENABLED is off")
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PostRecord):
            return item
        key = (item["platform"], item["platform_post_id"])
        if key in self.seen:
            if self.stats is not None:
                self.stats.inc_value("pantau/duplicates")
            # Expected whenever targets overlap, so logged at DEBUG: the item dump would flood an INFO log.
            raise DropItem(
                f"duplicate {key[0]} post {key[1]} (already collected in this run via another target)",
                log_level="DEBUG",
            )
        self.seen.add(key)
        return item
