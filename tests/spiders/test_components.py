"""Unit tests of the spider's Scrapy components: rate-limit middleware, dedupe pipeline, items, the targets
file and the mapping of failed requests to a target's status. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import DropItem, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from pipeline.errors import InputError
from pipeline.schema import Post, canonical_json, sha256_text
from spiders.base import load_targets
from spiders.items import PostRecord, RejectRecord, TargetRecord
from spiders.middlewares import RateLimitMiddleware, wait_seconds
from spiders.pipelines import DedupePostsPipeline
from spiders.platforms.mastodon import MastodonSpider, _failure_status
from tests.spiders.helpers import account_target, tag_target

NOW = datetime(2024, 11, 2, 3, 0, tzinfo=UTC)
KINDS = frozenset({"account", "hashtag"})


def make_post(post_id: str = "1") -> Post:
    raw = canonical_json({"id": post_id})
    return Post.model_validate(
        {
            "platform": "mastodon",
            "platform_post_id": post_id,
            "url": f"https://s.example/@a/{post_id}",
            "author": {"platform_id": "9", "handle": "a@s.example"},
            "text": "halo",
            "posted_at": "2024-11-02T03:15:00.000Z",
            "collected_at": NOW,
            "watch_target": "account:a@s.example",
            "raw": raw,
            "raw_sha256": sha256_text(raw),
        }
    )


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"retry-after": "7"}, 7.0),
        (429, {"retry-after": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2024-11-02T03:04:00.000Z"}, 240.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2024-11-02T03:00:10Z"}, 10.0),
        (
            200,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2024-11-02T02:59:00Z"},
            0.0,
        ),  # already past
        (200, {"x-ratelimit-remaining": "12", "x-ratelimit-reset": "2024-11-02T03:04:00Z"}, None),
        (200, {"retry-after": "7"}, None),  # Retry-After only means something on 429/503
        (429, {}, None),
        (429, {"retry-after": "soon"}, None),
    ],
)
def test_wait_seconds(status: int, headers: dict[str, str], expected: float | None) -> None:
    assert wait_seconds(status, headers, NOW) == expected


def test_rate_limit_middleware_pauses_the_host_within_the_cap() -> None:
    middleware = RateLimitMiddleware(max_wait=5.0)
    request = Request("http://127.0.0.1:9/api/v1/accounts/1/statuses")
    reset = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    response = Response(request.url, status=200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert middleware.process_response(request, response) is response
    pause = middleware._resume_at["127.0.0.1:9"]
    other = Response(request.url, status=200, headers={"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset})
    middleware.process_response(request, other)
    assert middleware._resume_at == {"127.0.0.1:9": pause}  # no new pause, the old one is kept
    assert middleware.pause("127.0.0.1:9", 600) == 5.0


def test_components_switch_off_with_not_configured() -> None:
    with pytest.raises(NotConfigured):
        RateLimitMiddleware.from_crawler(get_crawler(settings_dict={"PANTAU_RATELIMIT_ENABLED": False}))
    with pytest.raises(NotConfigured):
        DedupePostsPipeline.from_crawler(get_crawler(settings_dict={"PANTAU_DEDUPE_ENABLED": False}))
    assert RateLimitMiddleware.from_crawler(get_crawler(settings_dict={"PANTAU_RATELIMIT_MAX_WAIT": 9})).max_wait == 9


# ---------------------------------------------------------------- pipeline and items


def test_dedupe_drops_the_second_copy_only() -> None:
    pipeline = DedupePostsPipeline()
    first = PostRecord.from_post(make_post("5"))
    assert pipeline.process_item(first) is first
    assert pipeline.process_item(PostRecord.from_post(make_post("6")))
    with pytest.raises(DropItem, match="duplicate mastodon post 5"):
        pipeline.process_item(PostRecord.from_post(make_post("5")))
    target = TargetRecord.build(target="t", status="ok", newest_id=None, pages=0, fetched=0, rejected=0, detail="")
    assert pipeline.process_item(target) is target and pipeline.process_item(target) is target


def test_records_are_json_ready() -> None:
    record = PostRecord.from_post(make_post())
    assert record["posted_at"] == "2024-11-02T03:15:00Z" and record["collected_at"] == "2024-11-02T03:00:00Z"
    assert Post.model_validate(json.loads(json.dumps(record))) == make_post()
    reject = RejectRecord.build(source="mastodon", reason="status without id", raw="{}", run_id="r1")
    assert {k: reject[k] for k in ("stage", "source", "reason", "raw", "run_id")} == {
        "stage": "crawl",
        "source": "mastodon",
        "reason": "status without id",
        "raw": "{}",
        "run_id": "r1",
    }
    assert reject["at"].endswith("Z")


# ---------------------------------------------------------------- targets and spider arguments


def test_load_targets_keeps_good_entries_and_explains_bad_ones(tmp_path: Path) -> None:
    entries = [
        account_target("rina@sosial.example", since_id="113000000000000001"),
        tag_target("pilkada", "sosial.example"),
        account_target("rina@sosial.example"),  # duplicate target string
        {**account_target("x@sosial.example"), "since_id": 113000000000000001},  # a number, not a string
        {**account_target("y@sosial.example"), "kind": "list"},
        {**account_target("z@sosial.example"), "instance": "https://sosial.example/"},
        "account:w@sosial.example",
    ]
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(entries))
    targets, bad = load_targets(path, KINDS)
    assert [t.target for t in targets] == ["account:rina@sosial.example", "tag:pilkada@sosial.example"]
    assert targets[0].since_id == "113000000000000001"
    reasons = [reason for reason, _ in bad]
    assert reasons[0] == "duplicate target account:rina@sosial.example: crawled once"
    assert "since_id must be null or a string of digits" in reasons[1]
    assert "kind 'list'" in reasons[2] and "is not a host name" in reasons[3] and "expected an object" in reasons[4]
    path.write_text('{"target": "x"}')
    with pytest.raises(InputError, match="expected a JSON list"):
        load_targets(path, KINDS)


@pytest.mark.parametrize("run_id", [None, "", "../escape", "a/b", "x" * 200])
def test_spider_refuses_a_run_id_that_is_not_a_file_name(tmp_path: Path, run_id: str | None) -> None:
    (tmp_path / "t.json").write_text("[]")
    with pytest.raises(ValueError, match="run_id"):
        MastodonSpider(run_id=run_id, landing_dir=str(tmp_path), targets_file=str(tmp_path / "t.json"))


def test_spider_arguments(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps([account_target("a@s.example")]))
    spider = MastodonSpider(
        run_id="r-1",
        landing_dir=str(tmp_path / "rel" / ".."),
        targets_file=str(tmp_path / "t.json"),
        base_url="http://127.0.0.1:9/",
    )
    assert spider.landing_dir == str(tmp_path) and spider.base_url == "http://127.0.0.1:9"
    assert spider.origin(spider.targets[0]) == "http://127.0.0.1:9"
    spider.base_url = None
    assert spider.origin(spider.targets[0]) == "https://s.example"


# ---------------------------------------------------------------- failures -> target status


def http_failure(status: int, body: bytes = b"") -> Failure:
    return Failure(HttpError(Response("http://127.0.0.1:9/x", status=status, body=body)))


@pytest.mark.parametrize(
    ("failure", "status", "detail"),
    [
        (
            http_failure(401, b'{"error":"This API requires an authenticated user"}'),
            "unauthorized",
            "HTTP 401 on /p: This API requires an authenticated user",
        ),
        (http_failure(404, b'{"error":"Record not found"}'), "not_found", "HTTP 404 on /p: Record not found"),
        (http_failure(429), "rate_limited", "HTTP 429 on /p (retries exhausted)"),
        (http_failure(503, b"<html>busy</html>"), "error", "HTTP 503 on /p"),
        (
            Failure(IgnoreRequest("Forbidden by robots.txt")),
            "error",
            "request to /p not sent: Forbidden by robots.txt",
        ),
        (Failure(TimeoutError("took too long")), "error", "TimeoutError on /p: took too long"),
    ],
)
def test_failure_status(failure: Failure, status: str, detail: str) -> None:
    assert _failure_status(failure, "/p") == (status, detail)
