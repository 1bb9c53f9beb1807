"""Scrapy spiders, one module per platform (SPIDER_MODULES): they request and page; spiders.pages parses."""
