"""Watch targets: what each spider is asked to read, built from the watchlist rows of its platform (and, for the
re-fetch of flagged posts, from the posts themselves). A target is {target, kind, value, instance}; the flow adds
its cursor and state (flows.crawl.build_targets)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pipeline.watchlist import telegram_channel, watch_key


def _instance_of(handle: str) -> str:
    return handle.partition("@")[2].lower()


def _mastodon_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    accounts = [r for r in rows if r["kind"] == "account"]
    instances = Counter(_instance_of(r["handle"]) for r in accounts)
    default_instance = instances.most_common(1)[0][0] if instances else ""
    targets = []
    for row in rows:
        value, _, instance = row["handle"].lstrip("#@").partition("@")
        if row["kind"] == "account":
            handle = row["handle"].lower()
            targets.append(
                {"target": f"account:{handle}", "kind": "account", "value": handle, "instance": instance.lower()}
            )
        else:
            instance = (instance or default_instance).lower()
            tag = value.lower()
            targets.append({"target": f"tag:{tag}@{instance}", "kind": "hashtag", "value": tag, "instance": instance})
    return targets


def _search_or_account(row: dict[str, Any], account_host: str, search_host: str) -> dict[str, Any]:
    handle = row["handle"].strip()
    if row["kind"] == "account":
        value = handle.lstrip("@").lower()
        return {"target": f"account:{value}", "kind": "account", "value": value, "instance": account_host}
    value = "#" + handle.lstrip("#").lower() if row["kind"] == "hashtag" else handle
    return {"target": f"search:{value}", "kind": "search", "value": value, "instance": search_host}


def _telegram_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    for row in rows:
        name = telegram_channel(row["handle"]).lower()
        targets.append({"target": f"channel:{name}", "kind": "channel", "value": name, "instance": "t.me"})
    return targets


def _youtube_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    host = "www.googleapis.com"
    targets = []
    for row in rows:
        value = row["handle"].strip()
        if row["kind"] == "video":
            targets.append({"target": f"comments:video:{value}", "kind": "video", "value": value, "instance": host})
            continue
        targets.append({"target": f"uploads:{value}", "kind": "uploads", "value": value, "instance": host})
        targets.append({"target": f"comments:{value}", "kind": "comments", "value": value, "instance": host})
    return targets


def _rss_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    for row in rows:
        url = row["handle"].strip()
        host = url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].lower()
        targets.append({"target": f"feed:{url}", "kind": "feed", "value": url, "instance": host})
    return targets


def watch_targets(rows: list[dict[str, Any]], platform: str) -> list[dict[str, Any]]:
    """One platform's watch targets from its watchlist rows (the spider's targets file, before cursors)."""
    mine = [r for r in rows if r["platform"] == platform]
    builders: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
        "mastodon": _mastodon_targets,
        "bluesky": lambda rs: [_search_or_account(r, "public.api.bsky.app", "bsky.social") for r in rs],
        "telegram": _telegram_targets,
        "x": lambda rs: [_search_or_account(r, "api.x.com", "api.x.com") for r in rs],
        "youtube": _youtube_targets,
        "rss": _rss_targets,
    }
    build = builders.get(platform)
    if build is None:
        return []
    unique: dict[str, dict[str, Any]] = {}
    for target in build(mine):
        unique.setdefault(target["target"], target)  # two spellings of one channel are one target
    return list(unique.values())


# Platforms whose spider can fetch one post again (kind "recheck"), with the host it asks; RSS and Mastodon ask a
# host of each post's own (see _recheck_host).
RECHECK_HOSTS = {
    "telegram": "t.me",
    "bluesky": "public.api.bsky.app",
    "x": "api.x.com",
    "youtube": "www.googleapis.com",
}


def _recheck_host(platform: str, post: dict[str, Any]) -> str:
    if platform == "rss":
        return watch_key("rss", post["url"])
    if platform == "mastodon":
        # A status id is the asked instance's own: ask the instance of the target that found it (its url's host
        # for a post that came some other way).
        instance = post["watch_target"].rpartition("@")[2] if "@" in post["watch_target"] else ""
        return instance.lower() or (urlsplit(post["url"]).hostname or "")
    return RECHECK_HOSTS[platform]


def recheck_targets(platform: str, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Targets that fetch flagged posts again (value: the post id; for rss, the article's URL)."""
    if platform not in ("rss", "mastodon") and platform not in RECHECK_HOSTS:
        return []
    targets = []
    for post in posts:
        post_id = post["platform_post_id"]
        value = post["url"] if platform == "rss" else post_id
        host = _recheck_host(platform, post)
        targets.append(
            {
                "target": f"recheck:{post_id}",
                "kind": "recheck",
                "value": value,
                "instance": host,
                "found_by": post["watch_target"],
            }
        )
    return targets
