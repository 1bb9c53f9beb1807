"""Mastodon's flagged statuses fetched again (`GET /api/v1/statuses/:id`): the page object on golden answers, the
replay server's single-status route with its edit/delete knobs, the spider's verdicts on what an instance answers,
and the whole round through the flow's own functions (crawl, flag, edit and delete on the server, crawl again,
load): an edit becomes a new version with the earlier one kept, a deletion a post_deletions row with the time it
was noticed, an unchanged status nothing new.

The golden cases are in tests/fixtures/mastodon/status/<case>/ (`input.*` as served, `meta.json` with the
status_id asked for, target, instance, content_type and collected_at, `output.json` the expected
`StatusResult.to_json()`); regenerate with `UPDATE_GOLDEN=1` as for the timeline pages.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from flows.crawl import build_targets, landing_paths, run_spider
from flows.load import load_spider
from models.predict import Classifier
from pipeline.config import Settings
from pipeline.schema import parse_post
from pipeline.storage import Store
from pipeline.targets import recheck_targets
from pipeline.watchlist import read_watchlist
from spiders.pages.mastodon import parse_status
from spiders.platforms.mastodon import MastodonSpider
from tests.spiders.golden import check_golden
from tests.spiders.helpers import (
    BAD_DATASET,
    FIXTURES,
    get_json,
    http,
    read_jsonl,
    replay_in_thread,
    start_replay,
    tiny_dataset,
    write_watchlist,
)

CASES = sorted(p for p in (FIXTURES / "status").iterdir() if p.is_dir())
RINA_ID = "1001"  # rina_guru@sosial.example in tests.spiders.helpers.tiny_dataset


# ---------------------------------------------------------------- the page object


def run_case(case: Path) -> dict[str, Any]:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    [body] = list(case.glob("input.*"))
    result = parse_status(
        body.read_bytes(),
        meta["content_type"],
        status_id=meta["status_id"],
        target=meta["target"],
        instance=meta["instance"],
        collected_at=datetime.fromisoformat(meta["collected_at"]),
    )
    return result.to_json()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_status(case: Path) -> None:
    check_golden(case, run_case(case))


def test_golden_status_cases_say_what_they_test() -> None:
    out = {c.name: json.loads((c / "output.json").read_text(encoding="utf-8")) for c in CASES}
    for name, result in out.items():  # one status at most, and every post obeys the contract
        assert len(result["posts"]) <= 1 and all(parse_post(p) for p in result["posts"]), name
    [normal] = out["normal_status"]["posts"]
    assert (normal["text"], out["normal_status"]["edited_at"]) == ("Kabar nomor 5 dari rina_guru.", None)
    [edited] = out["edited"]["posts"]
    assert out["edited"]["edited_at"] == "2024-11-22T08:30:00.000Z"
    assert edited["text"] == "Kabar nomor 6 dari rina_guru, sudah diubah: tetap netral ya."
    assert edited["author"]["handle"] == "rina_guru@sosial.example"  # a local acct gets the asked instance
    assert '"edited_at":"2024-11-22T08:30:00.000Z"' in edited["raw"]  # the evidence says it was edited
    [boost] = out["boost"]["posts"]
    assert boost["repost_of"] and boost["repost_of"] != boost["platform_post_id"] and boost["text"]
    assert out["other_status"]["error"].startswith("asked for status ") and out["other_status"]["posts"] == []
    assert out["array_instead_of_object"]["error"] == "expected a JSON status object, got array"
    assert out["error_object"]["error"] == "expected a JSON status object, got an error object: Record not found"
    assert out["html_instead_of_json"]["error"] == "expected JSON, got text/html"
    assert out["malformed_json"]["error"].startswith("malformed JSON: ")
    assert out["without_account"]["rejects"][0]["reason"] == "status without account"
    assert out["without_account"]["error"] is None and out["without_account"]["count"] == 1
    for name in ("other_status", "array_instead_of_object", "error_object", "html_instead_of_json"):
        assert out[name]["rejects"][0]["raw"], f"{name}: the answer is kept as evidence"


# ---------------------------------------------------------------- recheck targets


def test_a_status_is_rechecked_on_the_instance_that_found_it() -> None:
    found = [
        ("11", "https://sosial.example/@rina_guru/11", "account:rina_guru@sosial.example"),
        ("12", "https://remote.example/@ani/99", "tag:pilkada@Pemda.example"),
        ("13", "https://Guru.example/@sari/13", "import:berkas.csv"),
    ]
    posts = [{"platform_post_id": i, "url": url, "watch_target": target} for i, url, target in found]
    targets = recheck_targets("mastodon", posts)
    assert [(t["target"], t["kind"], t["value"], t["instance"], t["found_by"]) for t in targets] == [
        ("recheck:11", "recheck", "11", "sosial.example", "account:rina_guru@sosial.example"),
        # a remote status found through a tag timeline has that instance's id, not its home instance's
        ("recheck:12", "recheck", "12", "pemda.example", "tag:pilkada@Pemda.example"),
        ("recheck:13", "recheck", "13", "guru.example", "import:berkas.csv"),
    ]


# ---------------------------------------------------------------- the replay server


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[str]:
    with replay_in_thread(tiny_dataset(tmp_path / "data")) as server:
        yield server.url


def rina_timeline(url: str) -> list[dict[str, Any]]:
    return get_json(f"{url}/api/v1/accounts/{RINA_ID}/statuses?limit=40")


def admin(url: str, action: str, status_id: str, text: str = "") -> tuple[int, dict[str, Any]]:
    query = urllib.parse.urlencode({"id": status_id, "text": text})
    status, _, body = http(f"{url}/_replay/mastodon/{action}?{query}", "POST")
    return status, json.loads(body)


def test_replay_serves_a_single_status_as_in_its_timeline(tiny: str) -> None:
    timeline = rina_timeline(tiny)
    for status in timeline[:5]:
        code, headers, body = http(f"{tiny}/api/v1/statuses/{status['id']}")
        assert code == 200 and json.loads(body) == status and headers["X-RateLimit-Limit"]
    code, _, body = http(f"{tiny}/api/v1/statuses/1")
    assert (code, json.loads(body)) == (404, {"error": "Record not found"})


def test_replay_edit_changes_content_and_edited_at_everywhere(tiny: str) -> None:
    boost = next(s for s in rina_timeline(tiny) if s["reblog"])
    original = boost["reblog"]["id"]
    assert admin(tiny, "edit", original, "Sudah diubah & <dirapikan>") == (200, {"edit": original, "done": True})
    status = get_json(f"{tiny}/api/v1/statuses/{original}")
    assert status["content"] == "<p>Sudah diubah &amp; &lt;dirapikan&gt;</p>" and status["edited_at"]
    assert status["created_at"] and status["id"] == original  # an edit keeps the status, as on Mastodon
    again = get_json(f"{tiny}/api/v1/statuses/{boost['id']}")
    assert again["reblog"] == status and again["edited_at"] is None  # the boost shows the edited original
    assert admin(tiny, "edit", boost["id"], "x")[1]["done"] is False  # a boost has no text of its own
    assert admin(tiny, "edit", "1", "x") == (404, {"edit": "1", "done": False})


def test_replay_delete_removes_a_status_and_its_boosts(tiny: str) -> None:
    boost = next(s for s in rina_timeline(tiny) if s["reblog"])
    original = boost["reblog"]["id"]
    tagged = next(s for s in rina_timeline(tiny) if s["tags"])
    tag_url = f"{tiny}/api/v1/timelines/tag/{tagged['tags'][0]['name']}?limit=40"
    before = {s["id"] for s in get_json(tag_url)}
    for status_id in (original, tagged["id"]):
        assert admin(tiny, "delete", status_id) == (200, {"delete": status_id, "done": True})
        assert http(f"{tiny}/api/v1/statuses/{status_id}")[0] == 404
    assert http(f"{tiny}/api/v1/statuses/{boost['id']}")[0] == 404
    left = {s["id"] for s in rina_timeline(tiny)}
    assert not left & {original, tagged["id"], boost["id"]} and len(left) == 40  # paging still fills pages
    assert {s["id"] for s in get_json(tag_url)} == before - {original, tagged["id"]}
    assert admin(tiny, "delete", original)[0] == 404
    assert http(f"{tiny}/_replay/mastodon/undelete?id={original}", "POST")[0] == 404


def test_replay_single_status_honours_the_clock_and_account_behaviours(tmp_path: Path) -> None:
    rows = read_jsonl(BAD_DATASET / "statuses.jsonl")
    accounts = {a["id"]: a for a in read_jsonl(BAD_DATASET / "accounts.jsonl")}
    locked = next(r["id"] for r in rows if accounts[r["account_id"]].get("_behaviour") == "unauthorized")
    with replay_in_thread(BAD_DATASET) as server:
        code, _, body = http(f"{server.url}/api/v1/statuses/{locked}")
        assert (code, json.loads(body)) == (401, {"error": "This API requires an authenticated user"})
    with replay_in_thread(tiny_dataset(tmp_path / "data"), clock=datetime(2024, 11, 2, tzinfo=UTC)) as server:
        statuses = read_jsonl(tmp_path / "data" / "statuses.jsonl")
        early = next(s["id"] for s in statuses if s["created_at"] < "2024-11-02")
        late = next(s["id"] for s in statuses if s["created_at"] > "2024-11-02")
        assert http(f"{server.url}/api/v1/statuses/{early}")[0] == 200
        assert http(f"{server.url}/api/v1/statuses/{late}")[0] == 404  # not published yet


# ---------------------------------------------------------------- the spider's verdicts


def recheck_spider(tmp_path: Path, status_id: str = "113406093557760001") -> MastodonSpider:
    targets = [{"target": f"recheck:{status_id}", "kind": "recheck", "value": status_id, "instance": "sosial.example",
                "found_by": "account:rina_guru@sosial.example"}]  # fmt: skip
    (tmp_path / "targets.json").write_text(json.dumps(targets), encoding="utf-8")
    return MastodonSpider(run_id="r1", landing_dir=str(tmp_path), targets_file=str(tmp_path / "targets.json"))


def answer(spider: MastodonSpider, status: int, body: bytes, content_type: str = "application/json") -> list[Any]:
    """What the spider makes of one answer to its recheck request (an error status goes to the errback)."""
    [run] = spider.open_runs()
    request = spider._recheck_request(run)
    assert request.url == "https://sosial.example/api/v1/statuses/113406093557760001"
    assert request.meta["handle_httpstatus_list"] == [404, 410]
    response = TextResponse(request.url, status=status, body=body, headers={"Content-Type": content_type},
                            request=request)  # fmt: skip
    if status in (200, 404, 410):
        return list(spider.parse_recheck(response, **request.cb_kwargs))
    failure = Failure(HttpError(response))
    failure.request = request  # type: ignore[attr-defined]  # as Scrapy hands it to an errback
    return list(spider.on_recheck_error(failure))


def test_a_404_from_mastodon_is_a_deletion(tmp_path: Path) -> None:
    deletion, row = answer(recheck_spider(tmp_path), 404, b'{"error":"Record not found"}')
    assert (deletion["platform"], deletion["platform_post_id"]) == ("mastodon", "113406093557760001")
    assert deletion["detail"] == "the instance answers HTTP 404: Record not found"
    assert datetime.fromisoformat(deletion["noticed_at"]) <= datetime.now(UTC)
    assert (row["status"], row["detail"], row["newest_id"]) == ("ok", f"gone: {deletion['detail']}", None)


@pytest.mark.parametrize(
    ("status", "body", "verdict", "said"),
    [
        (404, b"<html><h1>Not Found</h1></html>", "not_found", "without Mastodon's error body; not a deletion"),
        (401, b'{"error":"This API requires an authenticated user"}', "unauthorized", "the instance wants a login"),
        (403, b'{"error":"This action is not allowed"}', "not_public", "not shown without a login"),
        (500, b'{"error":"We\'re sorry"}', "error", "HTTP 500 on /api/v1/statuses/113406093557760001"),
        (429, b'{"error":"Too many requests"}', "rate_limited", "retries exhausted"),
    ],
)
def test_answers_that_do_not_say_the_status_is_gone(
    status: int, body: bytes, verdict: str, said: str, tmp_path: Path
) -> None:
    content_type = "text/html" if body.startswith(b"<") else "application/json"
    [row] = answer(recheck_spider(tmp_path), status, body, content_type)  # no deletion record among them
    assert row["status"] == verdict and said in row["detail"], row


def test_a_status_fetched_again_lands_as_a_post_of_the_target_that_found_it(tmp_path: Path) -> None:
    body = (FIXTURES / "status" / "normal_status" / "input.json").read_bytes()
    post, row = answer(recheck_spider(tmp_path), 200, body)
    assert post["platform_post_id"] == "113406093557760001"
    assert post["watch_target"] == "account:rina_guru@sosial.example"  # the target that found it, not recheck:…
    assert (row["status"], row["detail"], row["fetched"], row["newest_id"]) == ("ok", "fetched again", 1, None)
    edited = json.loads(body) | {"edited_at": "2024-11-22T08:30:00.000Z", "content": "<p>Diubah.</p>"}
    post, row = answer(recheck_spider(tmp_path), 200, json.dumps(edited).encode())
    assert post["text"] == "Diubah." and row["detail"] == "fetched again; edited at 2024-11-22T08:30:00.000Z"
    other = (FIXTURES / "status" / "other_status" / "input.json").read_bytes()
    reject, row = answer(recheck_spider(tmp_path), 200, other)
    assert reject["reason"].startswith("asked for status ") and row["status"] == "error"


# ---------------------------------------------------------------- the round through the flow


@pytest.mark.slow
def test_flagged_statuses_edited_or_deleted_on_the_instance_are_kept_as_versions_and_deletions(tmp_path: Path) -> None:
    """Crawl rina_guru, flag three of her statuses, edit one and delete one on the server, crawl again with the
    flow's recheck targets and load: a new version (the earlier kept), a deletion with its notice time, and nothing
    new for the third."""
    with start_replay(data_dir=tiny_dataset(tmp_path / "data")) as replay, Classifier.load(workers=0) as classifier:
        settings = Settings.from_env(
            {}, data_dir=tmp_path / "pantau", replay_url=replay.url, download_delay_s=0, autothrottle=False
        )
        store = Store(settings.database)
        store.init()
        rows, problems = read_watchlist(write_watchlist(tmp_path / "watchlist.csv", ["rina_guru@sosial.example"]))
        assert problems == []
        store.replace_watchlist(rows)
        run_spider(settings, "mastodon", "r1", build_targets(store, "mastodon"))
        assert load_spider(settings, "mastodon", "r1", classifier).new_posts == 45
        texts = {r["platform_post_id"]: r["text"] for r in store.query("SELECT platform_post_id, text FROM posts")}
        same, edited, deleted = (
            next(i for i, t in texts.items() if t.startswith(f"Kabar nomor {n} dari rina_guru")) for n in (2, 3, 5)
        )
        store.execute_in_transaction(
            (
                "INSERT INTO review_items VALUES ('mastodon', ?, 'pending', 1.0, 'campaign', 0.9, 'v', true, "
                "now(), now(), 'r1') ON CONFLICT DO NOTHING",
                [post_id],
            )
            for post_id in (same, edited, deleted)
        )
        assert get_json(f"{replay.url}/_replay/mastodon/edit?id={edited}&text=Sudah+diubah+penulisnya.", "POST")
        assert get_json(f"{replay.url}/_replay/mastodon/delete?id={deleted}", "POST")["done"]

        targets = build_targets(store, "mastodon", settings.recheck_days)
        rechecks = {t["value"]: t for t in targets if t["kind"] == "recheck"}
        assert set(rechecks) == {same, edited, deleted}
        assert {(t["instance"], t["found_by"]) for t in rechecks.values()} == {
            ("sosial.example", "account:rina_guru@sosial.example")
        }
        before = datetime.now(UTC)
        run_spider(settings, "mastodon", "r2", targets)
        loaded = load_spider(settings, "mastodon", "r2", classifier)

    results = {r["target"]: r for r in read_jsonl(landing_paths(settings, "mastodon", "r2")["targets"])}
    assert {results[f"recheck:{i}"]["status"] for i in (same, edited, deleted)} == {"ok"}, results
    assert results[f"recheck:{edited}"]["detail"].startswith("fetched again; edited at ")
    assert (loaded.new_posts, loaded.updated_posts, loaded.unchanged_posts) == (0, 1, 1)
    versions = store.query("SELECT platform_post_id, text, superseded_by_run FROM post_versions")
    assert versions == [{"platform_post_id": edited, "text": texts[edited], "superseded_by_run": "r2"}]
    now = store.query("SELECT platform_post_id, text, raw FROM posts WHERE platform_post_id IN (?, ?, ?)",
                      [same, edited, deleted])  # fmt: skip
    by_id = {r["platform_post_id"]: r for r in now}
    assert by_id[edited]["text"] == "Sudah diubah penulisnya." and '"edited_at":"' in by_id[edited]["raw"]
    assert by_id[same]["text"] == texts[same] and by_id[deleted]["text"] == texts[deleted]  # evidence stays
    [gone] = store.query("SELECT platform, platform_post_id, noticed_at, run_id, detail FROM post_deletions")
    assert (gone["platform"], gone["platform_post_id"], gone["run_id"]) == ("mastodon", deleted, "r2")
    assert gone["detail"] == "the instance answers HTTP 404: Record not found"
    assert before <= gone["noticed_at"].astimezone(UTC) <= datetime.now(UTC)
    # the deletion is noticed once: the status is not fetched again
    assert {t["value"] for t in build_targets(store, "mastodon", 14) if t["kind"] == "recheck"} == {same, edited}
