"""Bluesky's XRPC over loopback: getAuthorFeed (no login), getProfile, createSession and searchPosts (login).

Data folder `bluesky/`:
    actors.jsonl  {did, handle, displayName, description, createdAt, followersCount, followsCount, postsCount}
    posts.jsonl   {rkey, actor (handle), createdAt, text, [langs], [tags], [reply_parent (at-uri)],
                   [images: n], [external: {uri, title, description}], replyCount, repostCount, likeCount,
                   quoteCount, label (ground truth, never served)}
               or a repost {rkey, actor, createdAt, repost_of (at-uri of a post in this file)}
               or a fault row {actor, [createdAt], _raw: "<text spliced verbatim into the feed array>"}

Feeds are newest first by the time the item was indexed (a repost: when it was reposted); `cursor` is that time of
the page's last item, as the AppView's author-feed cursor is. searchPosts answers 403 without a session (as
Bluesky does since January 2025) and finds `#tag` in tags and any other query in the text.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spiders.replay.answers import Answer, ReplayRequest, epoch_of, iso_z, json_answer
from spiders.replay.dataset import DatasetError, read_jsonl
from spiders.replay.generate import BUNDLED_SAMPLE, FIRST, LAST, sample_pool, spread_times
from spiders.replay.platforms import REPLAY_CREDENTIALS, Source

_XRPC = re.compile(r"^/xrpc/(?P<method>[A-Za-z.]+)$")
ROUTES = [("GET", "xrpc", _XRPC), ("POST", "xrpc_post", _XRPC)]
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(when: datetime, clock_id: int = 0) -> str:
    """An AT Protocol TID for a time: 53 bits of microseconds and 10 of clock id, base32-sortable."""
    value = (int(when.timestamp() * 1_000_000) << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


def cid_of(text: str) -> str:
    digest = hashlib.sha512(text.encode("utf-8")).hexdigest()
    return "bafyrei" + "".join(_B32[int(digest[i : i + 2], 16) % 32] for i in range(0, 104, 2))


def sort_time(at: float) -> str:
    return iso_z(datetime.fromtimestamp(at, UTC))


@dataclass
class Item:
    """One entry of an author's feed: a post, a repost of one, or a fault row served verbatim."""

    at: float | None
    actor: str
    post: dict[str, Any] | None = None  # a post row
    repost: dict[str, Any] | None = None  # a repost row (its `repost_of` points at a post row)
    raw: bytes | None = None


@dataclass
class Actor:
    data: dict[str, Any]
    feed: list[Item] = field(default_factory=list)  # newest first

    @property
    def did(self) -> str:
        return str(self.data["did"])

    @property
    def handle(self) -> str:
        return str(self.data["handle"])


class BlueskySource(Source):
    name = "bluesky"

    def __init__(self, actors: dict[str, Actor], posts: dict[str, dict[str, Any]]) -> None:
        self.actors = actors  # by handle and by did
        self.posts = posts  # by at-uri
        self.sessions: set[str] = set()
        self._lock = threading.Lock()
        self._views: dict[str, dict[str, Any]] = {}

    def health(self) -> dict[str, Any]:
        people = {a.did: a for a in self.actors.values()}
        return {"actors": len(people), "feed_items": sum(len(a.feed) for a in people.values())}

    def targets(self) -> list[dict[str, str]]:
        people = {a.did: a for a in self.actors.values()}
        return [{"kind": "account", "handle": a.handle} for a in people.values()]

    def too_many(self) -> Answer:
        return json_answer(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})

    def limit_headers(self, limit: int, remaining: int, reset: datetime) -> dict[str, str]:
        return {
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(math.ceil(reset.timestamp())),  # whole seconds, never before the real reset
            "ratelimit-policy": f"{limit};w=300",
        }

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        method = request.params["method"]
        handlers = {
            ("xrpc", "app.bsky.feed.getAuthorFeed"): self.author_feed,
            ("xrpc", "app.bsky.actor.getProfile"): self.profile,
            ("xrpc", "app.bsky.feed.searchPosts"): self.search,
            ("xrpc", "app.bsky.feed.getPosts"): self.get_posts,
            ("xrpc_post", "com.atproto.server.createSession"): self.create_session,
        }
        handler = handlers.get((route, method))
        if handler is None:
            return _error(501, "MethodNotImplemented", f"Method Not Implemented: {method}")
        return handler(request)

    # ------------------------------------------------------------ methods

    def profile(self, request: ReplayRequest) -> Answer:
        actor = self.actors.get(request.query.get("actor", "").lower())
        if actor is None:
            return _error(400, "InvalidRequest", "Profile not found")
        keys = ("did", "handle", "displayName", "description", "createdAt", "followersCount", "followsCount")
        profile = {k: actor.data.get(k) for k in keys if actor.data.get(k) is not None}
        profile.update(postsCount=len(actor.feed), indexedAt=actor.data.get("createdAt"), labels=[])
        return json_answer(200, profile)

    def author_feed(self, request: ReplayRequest) -> Answer:
        actor = self.actors.get(request.query.get("actor", "").lower())
        if actor is None:
            return _error(400, "InvalidRequest", "Profile not found")
        limit = _limit(request.query)
        before = epoch_of(request.query.get("cursor"))
        page: list[Item] = []
        for item in actor.feed:
            if request.visible(item.at) and (before is None or item.at is None or item.at < before):
                page.append(item)
                if len(page) == limit:
                    break
        parts = [item.raw if item.raw is not None else self._item_bytes(item) for item in page]
        body = b'{"feed":[' + b",".join(parts) + b"]"
        last = next((i.at for i in reversed(page) if i.at is not None), None)
        if len(page) == limit and last is not None:
            body += b',"cursor":' + json.dumps(sort_time(last)).encode()
        return Answer(200, body + b"}")

    def create_session(self, request: ReplayRequest) -> Answer:
        try:
            creds = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "InvalidRequest", "Input must be JSON")
        good = (
            creds.get("identifier") == REPLAY_CREDENTIALS["PANTAU_BLUESKY_HANDLE"]
            and creds.get("password") == REPLAY_CREDENTIALS["PANTAU_BLUESKY_APP_PASSWORD"]
        )
        if not good:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        token = "replay-jwt-" + secrets.token_hex(16)
        with self._lock:
            self.sessions.add(token)
        handle = creds["identifier"]
        return json_answer(
            200,
            {
                "accessJwt": token,
                "refreshJwt": token + "-r",
                "handle": handle,
                "did": "did:plc:pantauops",
                "active": True,
            },
        )

    def search(self, request: ReplayRequest) -> Answer:
        token = request.header("Authorization").removeprefix("Bearer ").strip()
        with self._lock:
            allowed = token in self.sessions
        if not allowed:
            return _error(403, "Forbidden", "searchPosts requires an authenticated session")
        query = request.query.get("q", "").strip().lower()
        if not query:
            return _error(400, "InvalidRequest", 'Error: Params must have the property "q"')
        since = epoch_of(request.query.get("since"))
        hits = [
            uri
            for uri, row in self.posts.items()
            if _matches(row, query)
            and request.visible(epoch_of(row.get("createdAt")))
            and (since is None or (epoch_of(row.get("createdAt")) or 0) >= since)
        ]
        hits.sort(key=lambda u: epoch_of(self.posts[u].get("createdAt")) or 0, reverse=True)
        offset = int(request.query["cursor"]) if request.query.get("cursor", "").isdigit() else 0
        limit = _limit(request.query)
        page = hits[offset : offset + limit]
        answer: dict[str, Any] = {"posts": [self.post_view(u) for u in page], "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            answer["cursor"] = str(offset + limit)
        return json_answer(200, answer)

    def get_posts(self, request: ReplayRequest) -> Answer:
        uris = request.values("uris")[:25]
        return json_answer(200, {"posts": [self.post_view(u) for u in uris if u in self.posts]})

    def delete(self, post_id: str) -> bool:
        row = self.posts.pop(post_id, None)
        if row is None:
            return False
        actor = self.actors[row["actor"].lower()]
        actor.feed = [i for i in actor.feed if i.post is not row and (i.repost or {}).get("repost_of") != post_id]
        self._views.pop(post_id, None)
        return True

    def edit(self, post_id: str, text: str) -> bool:
        if post_id not in self.posts:
            return False
        self.posts[post_id]["text"] = text
        self._views.pop(post_id, None)
        return True

    # ------------------------------------------------------------ rendering

    def _item_bytes(self, item: Item) -> bytes:
        return json.dumps(self.feed_item(item), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def feed_item(self, item: Item) -> dict[str, Any]:
        if item.repost is not None:
            by = self.actors[item.actor.lower()]
            rkey = item.repost["rkey"]
            reason = {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": _basic(by),
                "uri": f"at://{by.did}/app.bsky.feed.repost/{rkey}",
                "cid": cid_of(rkey),
                "indexedAt": item.repost["createdAt"],
            }
            return {"post": self.post_view(item.repost["repost_of"]), "reason": reason}
        assert item.post is not None
        uri = self.uri_of(item.post)
        entry: dict[str, Any] = {"post": self.post_view(uri)}
        parent = item.post.get("reply_parent")
        if parent in self.posts:
            entry["reply"] = {"root": self.post_view(parent), "parent": self.post_view(parent)}
        return entry

    def uri_of(self, row: dict[str, Any]) -> str:
        return f"at://{self.actors[row['actor'].lower()].did}/app.bsky.feed.post/{row['rkey']}"

    def post_view(self, uri: str) -> dict[str, Any]:
        cached = self._views.get(uri)
        if cached is None:
            cached = self._views[uri] = _post_view(uri, self.posts[uri], self.actors[self.posts[uri]["actor"].lower()])
        return cached


def _post_view(uri: str, row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": row["text"], "createdAt": row["createdAt"]}
    if row.get("langs"):
        record["langs"] = row["langs"]
    facets = _tag_facets(row["text"])
    if facets:
        record["facets"] = facets
    if row.get("reply_parent"):
        ref = {"uri": row["reply_parent"], "cid": cid_of(row["reply_parent"])}
        record["reply"] = {"root": ref, "parent": ref}
    view: dict[str, Any] = {
        "uri": uri,
        "cid": cid_of(uri),
        "author": _basic(actor),
        "record": record,
        "replyCount": row.get("replyCount", 0),
        "repostCount": row.get("repostCount", 0),
        "likeCount": row.get("likeCount", 0),
        "quoteCount": row.get("quoteCount", 0),
        "indexedAt": row["createdAt"],
        "labels": [],
    }
    embed = _embed(row, actor)
    if embed:
        record["embed"], view["embed"] = embed
    return view


def _basic(actor: Actor) -> dict[str, Any]:
    return {
        "did": actor.did,
        "handle": actor.handle,
        "displayName": actor.data.get("displayName", ""),
        "avatar": f"https://cdn.bsky.example/img/avatar/plain/{actor.did}/avatar@jpeg",
        "labels": [],
        "createdAt": actor.data.get("createdAt"),
    }


def _tag_facets(text: str) -> list[dict[str, Any]]:
    facets = []
    for match in re.finditer(r"(?<!\w)#(\w+)", text):
        start = len(text[: match.start()].encode("utf-8"))
        end = start + len(match.group().encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}],
            }
        )
    return facets


def _embed(row: dict[str, Any], actor: Actor) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the record's embed, the view's embed) for images or an external link card."""
    if row.get("images"):
        refs = [f"{row['rkey']}{n}" for n in range(int(row["images"]))]
        record = {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": {"ref": cid_of(r)}} for r in refs]}
        base = f"https://cdn.bsky.example/img/feed_fullsize/plain/{actor.did}/"
        view = {
            "$type": "app.bsky.embed.images#view",
            "images": [
                {"thumb": f"{base}{cid_of(r)}@jpeg", "fullsize": f"{base}{cid_of(r)}@jpeg", "alt": ""} for r in refs
            ],
        }
        return record, view
    if row.get("external"):
        external = row["external"]
        return {"$type": "app.bsky.embed.external", "external": external}, {
            "$type": "app.bsky.embed.external#view",
            "external": external,
        }
    return None


def _matches(row: dict[str, Any], query: str) -> bool:
    if query.startswith("#"):
        return query[1:] in {t.lower() for t in re.findall(r"(?<!\w)#(\w+)", row["text"])}
    return query in row["text"].lower()


def _limit(query: dict[str, str]) -> int:
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))


def _error(status: int, error: str, message: str) -> Answer:
    return json_answer(status, {"error": error, "message": message})


# ---------------------------------------------------------------- loading and generating


def load(folder: Path) -> BlueskySource:
    actors: dict[str, Actor] = {}
    for where, row in read_jsonl(folder / "actors.jsonl"):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("did", "handle")):
            raise DatasetError(f"{where}: an actor needs did and handle strings")
        actor = Actor(row)
        actors[actor.handle.lower()] = actors[actor.did.lower()] = actor
    return _index(actors, read_jsonl(folder / "posts.jsonl"))


def _index(actors: dict[str, Actor], rows: list[tuple[str, Any]]) -> BlueskySource:
    posts: dict[str, dict[str, Any]] = {}
    items: list[Item] = []
    for where, row in rows:
        if not isinstance(row, dict) or str(row.get("actor", "")).lower() not in actors:
            raise DatasetError(f"{where}: actor {row.get('actor') if isinstance(row, dict) else row!r} is unknown")
        at = epoch_of(row.get("createdAt"))
        if "_raw" in row:
            items.append(Item(at, row["actor"], raw=str(row["_raw"]).encode("utf-8", "surrogatepass")))
            continue
        if at is None or not isinstance(row.get("rkey"), str):
            raise DatasetError(f"{where}: rkey and an ISO createdAt are required")
        if "repost_of" in row:
            items.append(Item(at, row["actor"], repost=row))
            continue
        uri = f"at://{actors[row['actor'].lower()].did}/app.bsky.feed.post/{row['rkey']}"
        if uri in posts:
            raise DatasetError(f"{where}: duplicate post {uri}")
        posts[uri] = row
        items.append(Item(at, row["actor"], post=row))
    for item in items:
        if item.repost is not None and item.repost["repost_of"] not in posts:
            raise DatasetError(f"repost {item.repost['rkey']}: repost_of {item.repost['repost_of']} is not a post")
        actors[item.actor.lower()].feed.append(item)
    for actor in {a.did: a for a in actors.values()}.values():
        actor.feed.sort(key=lambda i: i.at if i.at is not None else float("-inf"), reverse=True)
    return BlueskySource(actors, posts)


def generate(n: int, seed: int) -> BlueskySource:
    """n posts over about n/400 accounts, texts recombined from the bundled sample."""
    sentences, tags = sample_pool(BUNDLED_SAMPLE)
    rng = random.Random(seed)
    actors: dict[str, Actor] = {}
    people = []
    for i in range(max(1, round(n / 400))):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        data = {
            "did": f"did:plc:gen{i:06d}{seed:04d}",
            "handle": f"{first.lower()}{i:05d}.bsky.social",
            "displayName": f"{first} {last}",
            "description": "ASN Pemkab Tanah Merah. Akun pribadi.",
            "createdAt": "2023-05-01T00:00:00.000Z",
        }
        actor = Actor(data)
        actors[actor.handle] = actors[actor.did] = actor
        people.append(actor)
    rows: list[tuple[str, Any]] = []
    for k, when in enumerate(spread_times(rng, n)):
        actor = people[int(rng.random() * len(people))]
        text = " ".join(rng.choice(sentences) for _ in range(1 + int(rng.random() * 2)))
        if rng.random() < 0.3:
            text += " #" + rng.choice(tags)
        row = {
            "rkey": tid(when, k),
            "actor": actor.handle,
            "createdAt": iso_z(when),
            "text": text[:300],
            "langs": ["id"],
        }
        row.update(replyCount=k % 7, repostCount=k % 11, likeCount=k % 50, quoteCount=k % 3)
        rows.append((f"generated {k}", row))
    return _index(actors, rows)


def build(folder: Path, generate_n: int | None, seed: int) -> BlueskySource:
    return generate(generate_n, seed) if generate_n is not None else load(folder)
