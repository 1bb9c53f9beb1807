"""How a crawl writes its records: a lean JSON Lines exporter for the landing files, and a log formatter that
keeps one line per item out of a log nobody reads at DEBUG.

Our records (spiders.items) are plain dicts that are already JSON-ready, so the exporter writes each with one
`json.dumps` instead of Scrapy's field-by-field serialisation; at tens of thousands of posts a run that is most of
the crawl's own time. The lines are the same: one object per line, UTF-8, keys in the record's order.
"""

from __future__ import annotations

import json
import logging
from typing import Any, BinaryIO, Self

from scrapy.crawler import Crawler
from scrapy.exporters import BaseItemExporter
from scrapy.logformatter import LogFormatter, LogFormatterResult


class RecordLinesExporter(BaseItemExporter):
    """`jsonlines` for records that are JSON-ready dicts (FEED_EXPORTERS)."""

    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file

    def export_item(self, item: Any) -> None:
        line = json.dumps(dict(item), ensure_ascii=False, separators=(", ", ": "))
        self.file.write(line.encode(self.encoding or "utf-8") + b"\n")


class QuietItemsLogFormatter(LogFormatter):
    """Scrapy's formatter, minus the per-item "Scraped from" and "Dropped" lines unless LOG_LEVEL is DEBUG
    (building those records costs as much as parsing the post; the run's summary says what they would)."""

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(logging.getLevelName(str(crawler.settings.get("LOG_LEVEL", "DEBUG")).upper()) == logging.DEBUG)

    def scraped(self, item: Any, response: Any, spider: Any) -> LogFormatterResult | None:  # type: ignore[override]
        return super().scraped(item, response, spider) if self.debug else None

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> LogFormatterResult | None:  # type: ignore[override]
        return super().dropped(item, exception, response, spider) if self.debug else None
