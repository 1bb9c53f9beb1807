"""The replay server speaks Mastodon's wire format: paging and Link headers, since/max/min_id, rate limits,
faults, the clock, generated datasets and the bad-behaviour accounts. In-process servers on 127.0.0.1,
plus the command line as a subprocess."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from protego import Protego

from spiders.pages.mastodon import parse_link_header
from spiders.replay import make_server
from spiders.replay.dataset import Dataset, DatasetError
from spiders.replay.generate import generate
from tests.spiders.helpers import (
    BAD_DATASET,
    TINY_LATE_FROM,
    TINY_TAG,
    get_json,
    http,
    read_jsonl,
    replay_in_thread,
    start_replay,
    tiny_dataset,
    write_dataset,
)

RINA = "1001"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tiny_dataset(tmp_path / "data")


def ids_of(data: Path, account_id: str) -> list[str]:
    """The account's status ids, newest first, by Mastodon's rule (length, then text)."""
    ids = [r["id"] for r in read_jsonl(data / "statuses.jsonl") if r["account_id"] == account_id]
    return sorted(ids, key=lambda i: (len(i), i), reverse=True)


def page(url: str) -> tuple[list[dict], dict[str, str]]:
    status, headers, body = http(url)
    assert status == 200, body
    return json.loads(body), headers


def test_pages_follow_link_headers_to_the_end(data: Path) -> None:
    expected = ids_of(data, RINA)
    with replay_in_thread(data) as server:
        first, headers = page(f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=40")
        links = parse_link_header(headers["Link"])
        assert [s["id"] for s in first] == expected[:40]
        assert links["next"] == f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=40&max_id={expected[39]}"
        assert links["prev"].endswith(f"min_id={expected[0]}")
        second, headers = page(links["next"])
        assert [s["id"] for s in second] == expected[40:]
        assert "next" not in parse_link_header(headers["Link"])  # short page: no next, as on Mastodon
        empty, headers = page(f"{server.url}/api/v1/accounts/{RINA}/statuses?max_id={expected[-1]}")
        assert empty == [] and "Link" not in headers


def test_limit_default_and_maximum(data: Path) -> None:
    with replay_in_thread(data) as server:
        assert len(page(f"{server.url}/api/v1/accounts/{RINA}/statuses")[0]) == 20
        assert len(page(f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=400")[0]) == 40
        assert len(page(f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=junk")[0]) == 20


def test_since_max_and_min_id(data: Path) -> None:
    ids = ids_of(data, RINA)  # newest first
    base_path = f"/api/v1/accounts/{RINA}/statuses"
    with replay_in_thread(data) as server:

        def get(query: str) -> list[str]:
            return [s["id"] for s in page(f"{server.url}{base_path}?{query}")[0]]

        assert get(f"limit=5&max_id={ids[10]}") == ids[11:16]  # strictly older, newest first
        assert get(f"limit=5&since_id={ids[20]}") == ids[:5]  # strictly newer, newest page first
        assert get(f"limit=40&since_id={ids[3]}") == ids[:3]
        assert get(f"limit=5&min_id={ids[20]}") == ids[15:20]  # immediately newer, still newest first
        assert get(f"limit=40&max_id={ids[2]}&since_id={ids[6]}") == ids[3:6]
        assert get(f"since_id={ids[0]}") == []


def test_ids_compare_by_length_then_text(tmp_path: Path) -> None:
    """'99' is older than '100': a server comparing text alone would page wrongly."""
    account = {"id": "1", "username": "u", "domain": "d.example"}
    rows = [
        {"id": i, "account_id": "1", "created_at": "2024-01-01T00:00:00Z", "content": i} for i in ("99", "100", "9")
    ]
    with replay_in_thread(write_dataset(tmp_path / "d", [account], rows)) as server:
        assert [s["id"] for s in page(f"{server.url}/api/v1/accounts/1/statuses")[0]] == ["100", "99", "9"]
        assert [s["id"] for s in page(f"{server.url}/api/v1/accounts/1/statuses?max_id=100")[0]] == [
            "99",
            "9",
        ]


def test_status_wire_format(data: Path) -> None:
    with replay_in_thread(data) as server:
        statuses, headers = page(f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=40&max_id=9" + "9" * 20)
    assert headers["Content-Type"].startswith("application/json")
    by_kind = {"boost": None, "media": None}
    for s in statuses:
        assert s["url"] == f"https://sosial.example/@rina_guru/{s['id']}"
        assert s["account"]["acct"] == "rina_guru@sosial.example" and "label" not in s
        assert datetime.fromisoformat(s["created_at"]).tzinfo is not None
        if s["reblog"]:
            by_kind["boost"] = s
        if s["media_attachments"]:
            by_kind["media"] = s
    boost, media = by_kind["boost"], by_kind["media"]
    assert boost["content"] == "" and boost["reblog"]["account"]["acct"] == "budi_camat@pemda.example"
    assert [m["url"] for m in media["media_attachments"]] == [
        f"https://sosial.example/media/{media['id']}/1.jpg",
        f"https://sosial.example/media/{media['id']}/2.jpg",
    ]


def test_lookup_and_unknown_records(data: Path) -> None:
    with replay_in_thread(data) as server:
        assert get_json(f"{server.url}/api/v1/accounts/lookup?acct=rina_guru@sosial.example")["id"] == RINA
        assert get_json(f"{server.url}/api/v1/accounts/lookup?acct=RINA_GURU@sosial.example")["id"] == RINA
        status, _, body = http(f"{server.url}/api/v1/accounts/lookup?acct=nobody@sosial.example")
        assert (status, json.loads(body)) == (404, {"error": "Record not found"})
        assert http(f"{server.url}/api/v1/accounts/999/statuses")[0] == 404


def test_tag_timeline(data: Path) -> None:
    with replay_in_thread(data) as server:
        statuses, _ = page(f"{server.url}/api/v1/timelines/tag/{TINY_TAG.upper()}?limit=40")
        assert statuses and all(TINY_TAG in [t["name"] for t in s["tags"]] for s in statuses)
        assert all(s["reblog"] is None for s in statuses)  # boosts carry no tags of their own
        expected = sum(1 for r in read_jsonl(data / "statuses.jsonl") if TINY_TAG in r["tags"])
        assert len(statuses) == expected
        assert page(f"{server.url}/api/v1/timelines/tag/nothinghere")[0] == []


def test_rate_limit_headers_and_429(data: Path) -> None:
    with replay_in_thread(data, rate_limit=3, rate_window=60) as server:
        answers = [http(f"{server.url}/api/v1/accounts/lookup?acct=rina_guru@sosial.example") for _ in range(4)]
        stats = get_json(f"{server.url}/_replay/stats")
    remaining = [h["X-RateLimit-Remaining"] for _, h, _ in answers]
    assert remaining == ["2", "1", "0", "0"]
    assert [s for s, _, _ in answers] == [200, 200, 200, 429]
    assert all(h["X-RateLimit-Limit"] == "3" for _, h, _ in answers)
    reset = datetime.fromisoformat(answers[0][1]["X-RateLimit-Reset"])
    assert 0 < (reset - datetime.now(UTC)).total_seconds() <= 60
    assert stats["rate_limited"] == 1


def test_rate_window_resets(data: Path) -> None:
    with replay_in_thread(data, rate_limit=1, rate_window=0.5) as server:
        url = f"{server.url}/api/v1/accounts/lookup?acct=rina_guru@sosial.example"
        time.sleep(0.5 - time.time() % 0.5 + 0.01)  # start at the beginning of a window
        assert [http(url)[0], http(url)[0]] == [200, 429]
        time.sleep(0.5)
        assert http(url)[0] == 200


def test_fault_every_alternates_500_and_429(data: Path) -> None:
    with replay_in_thread(data, fault_every=3) as server:
        answers = [http(f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=1") for _ in range(9)]
        http(f"{server.url}/robots.txt")  # not an API request: never a fault, not counted
        stats = get_json(f"{server.url}/_replay/stats")
    assert [s for s, _, _ in answers] == [200, 200, 500, 200, 200, 429, 200, 200, 500]
    assert answers[5][1]["Retry-After"] == "1"
    assert all("X-RateLimit-Remaining" in h for _, h, _ in answers)
    assert stats["faults"] == {"500": 2, "429": 1}
    assert stats["requests"] == {"account_statuses": 9, "robots": 1, "admin": 1}
    assert sum(stats["user_agents"].values()) == 10  # admin calls are not counted


def test_clock_hides_future_statuses_and_moves(data: Path) -> None:
    all_ids = ids_of(data, RINA)
    with replay_in_thread(data, clock=TINY_LATE_FROM) as server:
        url = f"{server.url}/api/v1/accounts/{RINA}/statuses?limit=40"
        before = [s["id"] for s in page(url)[0]]
        assert before == all_ids[5:]  # the 5 late statuses are not published yet
        moved = get_json(f"{server.url}/_replay/clock?until=2030-01-01T00:00:00Z", "POST")
        assert moved == {"clock": "2030-01-01T00:00:00.000Z"}
        assert [s["id"] for s in page(url)[0]] == all_ids[:40]
        assert get_json(f"{server.url}/_replay/health")["clock"] == "2030-01-01T00:00:00.000Z"
        assert http(f"{server.url}/_replay/clock?until=yesterday", "POST")[0] == 400


def test_bad_behaviours() -> None:
    with replay_in_thread(BAD_DATASET) as server:
        ids = {a["acct"].split("@")[0]: a["id"] for a in get_json(f"{server.url}/_replay/accounts")}
        status, headers, body = http(f"{server.url}/api/v1/accounts/{ids['locked_api']}/statuses")
        assert (status, json.loads(body)) == (401, {"error": "This API requires an authenticated user"})
        status, headers, body = http(f"{server.url}/api/v1/accounts/{ids['html_page']}/statuses")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and body.startswith(b"<!DOCTYPE")
        status, headers, body = http(f"{server.url}/api/v1/accounts/{ids['cut_off']}/statuses")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
        status, _, body = http(f"{server.url}/api/v1/accounts/{ids['bad_data']}/statuses?limit=40")
    assert status == 200
    assert b"\xff" in body  # the invalid UTF-8 bytes are served verbatim
    assert b'"created_at":"2024-11-02T05:10:00"' in body and b'"replies_count":"banyak"' in body


def test_generate_counts_and_determinism() -> None:
    first, again, other = generate(2000, seed=7), generate(2000, seed=7), generate(2000, seed=8)
    assert sum(len(a.timeline.rows) for a in first.accounts.values()) == 2000
    assert len(first.accounts) == 8  # ~N/250
    one = first.accounts[next(iter(first.accounts))]
    same = again.accounts[one.id]
    assert [first.status_bytes(r) for r in one.timeline.rows] == [again.status_bytes(r) for r in same.timeline.rows]
    assert [r.id for r in one.timeline.rows] != [r.id for r in other.accounts[one.id].timeline.rows]


def test_generate_100k_is_fast_and_pages_fast() -> None:
    started = time.perf_counter()
    with replay_in_thread(generate=100_000, seed=1) as server:
        built = time.perf_counter() - started
        health = get_json(f"{server.url}/_replay/health")
        account = get_json(f"{server.url}/_replay/accounts")[0]
        started = time.perf_counter()
        url = f"{server.url}/api/v1/accounts/{account['id']}/statuses?limit=40"
        pages = 0
        while url:
            statuses, headers = page(url)
            pages += 1
            url = parse_link_header(headers.get("Link")).get("next")
        paged = time.perf_counter() - started
    assert health["statuses"] == 100_000 and health["accounts"] == 400
    assert pages == account["statuses"] // 40 + 1
    assert built < 15, f"building 100k statuses took {built:.1f}s"
    assert paged / pages < 0.1, f"{paged / pages * 1000:.0f} ms per page"


def test_robots_txt_allows_the_api(data: Path) -> None:
    with replay_in_thread(data) as server:
        status, _, body = http(f"{server.url}/robots.txt")
    robots = Protego.parse(body.decode())
    assert status == 200 and robots.can_fetch(f"{server.url}/api/v1/accounts/1/statuses", "pantau/0.1")


def test_dataset_errors_name_the_line(tmp_path: Path) -> None:
    account = {"id": "1", "username": "u", "domain": "d.example"}
    good = {"id": "5", "account_id": "1", "created_at": "2024-01-01T00:00:00Z", "content": "x"}
    write_dataset(tmp_path / "a", [account], [good, {**good, "id": "6", "account_id": "2"}])
    with pytest.raises(DatasetError, match=r"statuses.jsonl:2: account_id 2 is not in accounts.jsonl"):
        Dataset.load(tmp_path / "a")
    write_dataset(tmp_path / "b", [account], [{**good, "reblog_of": "77"}])
    with pytest.raises(DatasetError, match="reblog_of 77"):
        Dataset.load(tmp_path / "b")
    with pytest.raises(DatasetError, match="not found"):
        make_server(data_dir=tmp_path / "missing")


def test_bundled_dataset_loads_and_hides_labels() -> None:
    with replay_in_thread() as server:
        health = get_json(f"{server.url}/_replay/health")
        account = get_json(f"{server.url}/_replay/accounts")[0]
        statuses, _ = page(f"{server.url}/api/v1/accounts/{account['id']}/statuses?limit=40")
    assert health["statuses"] > 0 and all("label" not in s for s in statuses)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["terminate", "interrupt"])
def test_command_line_announces_and_stops_cleanly(data: Path, signal_name: str) -> None:
    import signal

    with start_replay("--clock", "2024-11-10T00:00:00Z", data_dir=data) as replay:
        assert replay.url.startswith("http://127.0.0.1:")
        assert get_json(f"{replay.url}/_replay/health")["clock"] == "2024-11-10T00:00:00.000Z"
        if signal_name == "terminate":
            replay.process.terminate()
        else:
            replay.process.send_signal(signal.SIGINT)
        assert replay.process.wait(10) == 0
        assert replay.process.stdout.read() == ""  # exactly one line was printed
