"""Flagged posts fetched again, on every platform that allows it: an unchanged post lands as it was, an edited one
lands with its new text (the load keeps the earlier version), a deleted one becomes a deletion record."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.schema import parse_post
from spiders.replay import BUNDLED_DATA
from spiders.replay.platforms import REPLAY_CREDENTIALS
from tests.spiders.helpers import ReplayProcess, get_json, read_jsonl, run_spider, start_replay

pytestmark = pytest.mark.slow


def bluesky_uri(n: int) -> str:
    rows = read_jsonl(BUNDLED_DATA / "bluesky" / "posts.jsonl")
    dids = {a["handle"]: a["did"] for a in read_jsonl(BUNDLED_DATA / "bluesky" / "actors.jsonl")}
    posts = [r for r in rows if r["actor"] == "sitirahma.bsky.social" and "repost_of" not in r]
    return f"at://{dids[posts[n]['actor']]}/app.bsky.feed.post/{posts[n]['rkey']}"


def mastodon_id(n: int) -> str:
    rina = "103818976886811236"  # rina_guru@sosial.example
    rows = read_jsonl(BUNDLED_DATA / "statuses.jsonl")
    return [r["id"] for r in rows if r["account_id"] == rina and not r.get("reblog_of")][n]


def x_id(n: int) -> str:
    return [t["id"] for t in read_jsonl(BUNDLED_DATA / "x" / "tweets.jsonl") if t["author_id"] == "1587234401019"][n]


# platform: (host, unchanged, edited, deleted) post ids
CASES = {
    "telegram": ("t.me", "guru_tanahmerah/301", "guru_tanahmerah/302", "guru_tanahmerah/305"),
    "bluesky": ("public.api.bsky.app", bluesky_uri(0), bluesky_uri(1), bluesky_uri(2)),
    "mastodon": ("sosial.example", mastodon_id(0), mastodon_id(1), mastodon_id(2)),
    "x": ("api.x.com", x_id(0), x_id(1), x_id(4)),
    "youtube": ("www.googleapis.com", "Ugw0003tanahmerahKom", "Ugw0004tanahmerahKom", "Ugw0005tanahmerahKom"),
}


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayProcess]:
    with start_replay() as server:
        yield server


def recheck(post_id: str, host: str, value: str | None = None) -> dict:
    return {"target": f"recheck:{post_id}", "kind": "recheck", "value": value or post_id, "instance": host,
            "since_id": None, "found_by": "account:asal"}  # fmt: skip


def change(replay: ReplayProcess, platform: str, action: str, post_id: str, text: str = "") -> None:
    query = urllib.parse.urlencode({"id": post_id, "text": text})
    assert get_json(f"{replay.url}/_replay/{platform}/{action}?{query}", "POST")["done"]


@pytest.mark.parametrize("platform", sorted(CASES))
def test_recheck_finds_edits_and_deletions(platform: str, replay: ReplayProcess, tmp_path: Path) -> None:
    host, same, edited, deleted = CASES[platform]
    change(replay, platform, "edit", edited, "Teks ini sudah diubah oleh penulisnya.")
    change(replay, platform, "delete", deleted)
    targets = [recheck(p, host) for p in (same, edited, deleted)]
    run = run_spider(platform, landing_dir=tmp_path / "l", targets=targets, base_url=replay.url, env=REPLAY_CREDENTIALS)
    assert run.returncode == 0, run.log[-3000:]
    posts = {p.platform_post_id: p for p in map(parse_post, (run.landing / "run1.jsonl").read_text().splitlines())}
    assert set(posts) == {same, edited}
    assert posts[edited].text == "Teks ini sudah diubah oleh penulisnya." and posts[same].text
    assert {p.watch_target for p in posts.values()} == {"account:asal"}  # a re-fetch keeps who found the post
    [gone] = [json.loads(line) for line in (run.landing / "run1.deletions.jsonl").read_text().splitlines()]
    assert (gone["platform"], gone["platform_post_id"]) == (platform, deleted) and gone["noticed_at"]
    rows = {t["target"]: t for t in run.targets}
    assert all(t["status"] == "ok" and t["newest_id"] is None for t in rows.values())  # no cursor moves
    assert rows[f"recheck:{deleted}"]["detail"].startswith("gone: ")


def test_rss_recheck_notices_a_removed_article(replay: ReplayProcess, tmp_path: Path) -> None:
    kept = "https://tanahmerahkab.example/siaran-pers/2024/10/31/apel-netralitas-asn"
    removed = "https://tanahmerahkab.example/siaran-pers/2024/11/20/sanksi-disiplin"
    change(replay, "rss", "delete", removed)
    targets = [recheck(url, "tanahmerahkab.example", url) for url in (kept, removed)]
    run = run_spider("rss", landing_dir=tmp_path / "l", targets=targets, base_url=replay.url)
    rows = {t["target"]: t for t in run.targets}
    assert rows[f"recheck:{kept}"]["detail"].startswith("the article is still online")
    assert rows[f"recheck:{removed}"]["detail"] == "gone: the article answers HTTP 404"
    assert [
        json.loads(x)["platform_post_id"] for x in (run.landing / "run1.deletions.jsonl").read_text().splitlines()
    ] == [removed]
