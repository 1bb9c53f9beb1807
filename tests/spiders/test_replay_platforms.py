"""The replay server speaks every platform's wire format: paging, authentication, limits, quota, conditional
requests, robots.txt, target listings, generated data and dataset errors. In-process servers on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from protego import Protego

from spiders.replay import make_server
from spiders.replay.dataset import DatasetError
from spiders.replay.platforms import REPLAY_CREDENTIALS, Platforms
from tests.spiders.helpers import get_json, http, replay_in_thread, write_jsonl

X_AUTH = {"Authorization": "Bearer " + REPLAY_CREDENTIALS["PANTAU_X_BEARER_TOKEN"]}
YT_KEY = {"X-Goog-Api-Key": REPLAY_CREDENTIALS["PANTAU_YOUTUBE_API_KEY"]}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def test_telegram_pages_and_redirects() -> None:
    with replay_in_thread() as server:
        status, _, body = http(f"{server.url}/s/infotanahmerah")
        redirect = call(f"{server.url}/s/tidak_ada_kanal")
    html = body.decode()
    assert status == 200 and html.count('class="tgme_widget_message ') == 9
    assert 'data-post="infotanahmerah/4150"' in html and "tme_messages_more" not in html
    assert redirect[0] == 200 and "tgme_page" in redirect[2].decode()  # followed to /<name>, a page without posts


def test_bluesky_feed_cursor_profile_and_search_login() -> None:
    with replay_in_thread() as server:
        first = get_json(f"{server.url}/xrpc/app.bsky.feed.getAuthorFeed?actor=sitirahma.bsky.social&limit=5")
        rest = get_json(
            f"{server.url}/xrpc/app.bsky.feed.getAuthorFeed?actor=sitirahma.bsky.social&limit=5&cursor={first['cursor']}"
        )
        profile = get_json(f"{server.url}/xrpc/app.bsky.actor.getProfile?actor=sitirahma.bsky.social")
        anonymous = call(f"{server.url}/xrpc/app.bsky.feed.searchPosts?q=%23rayu03")
        creds = {"identifier": REPLAY_CREDENTIALS["PANTAU_BLUESKY_HANDLE"], "password": "salah"}
        refused = call(
            f"{server.url}/xrpc/com.atproto.server.createSession",
            {"Content-Type": "application/json"},
            json.dumps(creds).encode(),
        )
        creds["password"] = REPLAY_CREDENTIALS["PANTAU_BLUESKY_APP_PASSWORD"]
        _, _, session = call(
            f"{server.url}/xrpc/com.atproto.server.createSession",
            {"Content-Type": "application/json"},
            json.dumps(creds).encode(),
        )
        token = json.loads(session)["accessJwt"]
        found = call(f"{server.url}/xrpc/app.bsky.feed.searchPosts?q=%23rayu03", {"Authorization": f"Bearer {token}"})
    times = [e.get("reason", e["post"]).get("indexedAt") for e in first["feed"] + rest["feed"]]
    assert len(first["feed"]) == 5 and len(rest["feed"]) == 3 and times == sorted(times, reverse=True)
    assert "cursor" not in rest and any(
        e.get("reason", {}).get("$type", "").endswith("reasonRepost") for e in first["feed"] + rest["feed"]
    )
    assert profile["description"].startswith("Guru kelas 5")
    assert anonymous[0] == 403 and refused[0] == 401
    assert found[0] == 200 and len(json.loads(found[2])["posts"]) == 3
    assert "ratelimit-reset" in {k.lower() for k in found[1]}


def test_x_token_since_id_and_problems() -> None:
    with replay_in_thread() as server:
        unauthorized = call(f"{server.url}/2/users/1587234401019/tweets")
        timeline = json.loads(call(f"{server.url}/2/users/1587234401019/tweets?max_results=5", X_AUTH)[2])
        newer = json.loads(
            call(f"{server.url}/2/users/1587234401019/tweets?since_id={timeline['data'][1]['id']}", X_AUTH)[2]
        )
        missing = json.loads(call(f"{server.url}/2/users/by/username/tidak_ada", X_AUTH)[2])
        status, headers, _ = call(f"{server.url}/2/tweets/search/recent?query=%23PilkadaTanahMerah", X_AUTH)
    assert unauthorized[0] == 401
    assert timeline["meta"]["result_count"] == 5 and timeline["includes"]["users"][0]["username"] == "hendra_bkj"
    assert [t["id"] for t in newer["data"]] == [timeline["data"][0]["id"]]
    assert missing["errors"][0]["type"].endswith("resource-not-found")
    assert status == 200 and int(headers["x-rate-limit-reset"]) > 1_700_000_000


def test_youtube_key_paging_and_quota() -> None:
    with replay_in_thread() as server:
        assert call(f"{server.url}/youtube/v3/commentThreads?videoId=tmDebat2024")[0] == 403  # no key
        page = json.loads(call(f"{server.url}/youtube/v3/commentThreads?videoId=tmDebat2024&maxResults=2", YT_KEY)[2])
        get_json(f"{server.url}/_replay/youtube/quota?limit=2&reset=1", "POST")
        spent = [call(f"{server.url}/youtube/v3/channels?id=UCpemkabTanahMerahTV0001", YT_KEY) for _ in range(3)]
        health = get_json(f"{server.url}/_replay/health")["platforms"]["youtube"]
    assert len(page["items"]) == 2 and page["nextPageToken"] == "CA000002QAA"
    assert [s[0] for s in spent] == [200, 200, 403]
    assert json.loads(spent[2][2])["error"]["errors"][0]["reason"] == "quotaExceeded"
    assert (health["quota_used"], health["quota_limit"]) == (2, 2)


def test_rss_feed_conditional_requests_and_robots() -> None:
    with replay_in_thread() as server:
        feed = f"{server.url}/_sites/kabartanahmerah.example/feed/"
        status, headers, body = call(feed)
        again = call(feed, {"If-None-Match": headers["ETag"]})
        since = call(feed, {"If-Modified-Since": headers["Last-Modified"]})
        robots = Protego.parse(http(f"{server.url}/robots.txt")[2].decode())
        article = call(f"{server.url}/_sites/kabartanahmerah.example/2024/11/05/bawaslu-panggil-kepala-sekolah")
    assert status == 200 and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"')
    assert again[0] == 304 and since[0] == 304 and again[2] == b""
    assert not robots.can_fetch(f"{server.url}/_sites/kabartanahmerah.example/internal/x", "pantau")
    assert robots.can_fetch(f"{server.url}/_sites/kabartanahmerah.example/2024/x", "pantau")
    assert article[0] == 200 and b'itemprop="articleBody"' in article[2]


def test_targets_listing_and_generated_platforms() -> None:
    with replay_in_thread(generate=1200, seed=3) as server:
        telegram = get_json(f"{server.url}/_replay/telegram/targets")
        x = get_json(f"{server.url}/_replay/x/targets")
        health = get_json(f"{server.url}/_replay/health")["platforms"]
    assert len(telegram) == 3 and telegram[0]["kind"] == "channel" and len(x) == 3
    assert health["telegram"]["messages"] == 1200 and health["x"]["tweets"] == 1200
    assert set(health) == {"telegram", "x"}  # generated data is built on first use only
    again = Platforms(generate=1200, seed=3)
    assert again.get("telegram").targets() == telegram


def test_bad_platform_data_names_the_line(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "telegram" / "channels.jsonl", [{"username": "kanal_a"}])
    write_jsonl(tmp_path / "telegram" / "messages.jsonl", [{"channel": "kanal_a", "id": 1, "date": "2024-11-01"}])
    with pytest.raises(DatasetError, match=r"messages.jsonl:1: date must be an ISO time with a zone"):
        make_server(platform_data=tmp_path)
