"""Page objects: turn one platform answer (bytes + headers) into Posts and rejects, without Scrapy.

Each module here is plain Python so it can be tested with golden fixtures and reused outside a crawl.
"""
