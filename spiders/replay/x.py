"""X API v2 over loopback: user lookup, user timelines, recent search and tweet lookup, with a bearer token.

Data folder `x/`:
    users.jsonl   {id (digits), username, name, description, created_at, [protected: true]}
    tweets.jsonl  {id (digits, grows with time), author_id, created_at, text, lang, reply_count, retweet_count,
                   like_count, quote_count, impression_count, [in_reply_to_id], [retweet_of], [quote_of],
                   [photos: n], label (ground truth, never served)}
               or a fault row {id, author_id, created_at, _raw: "<text spliced verbatim into the data array>"}

Answers are newest first, up to max_results (5..100), with `meta.next_token` while more remain; `since_id` keeps
only newer tweets. Every route needs `Authorization: Bearer <the replay token>`. Problems come as X words them:
a 200 with an `errors` array (unknown or protected user), 401 for a bad token, 429 with `x-rate-limit-reset`.
"""

from __future__ import annotations

import json
import math
import random
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from spiders.replay.answers import Answer, ReplayRequest, epoch_of, iso_z, json_answer
from spiders.replay.dataset import DatasetError, read_jsonl
from spiders.replay.generate import BUNDLED_SAMPLE, FIRST, LAST, sample_pool, spread_times
from spiders.replay.platforms import REPLAY_CREDENTIALS, Source

ROUTES = [
    ("GET", "user_by_username", re.compile(r"^/2/users/by/username/(?P<username>[A-Za-z0-9_]+)$")),
    ("GET", "user_tweets", re.compile(r"^/2/users/(?P<user_id>[0-9]+)/tweets$")),
    ("GET", "search_recent", re.compile(r"^/2/tweets/search/recent$")),
    ("GET", "tweets", re.compile(r"^/2/tweets$")),
]
PROBLEMS = "https://api.twitter.com/2/problems/"


def key(tweet_id: str) -> tuple[int, str]:
    return (len(tweet_id), tweet_id)


@dataclass
class Tweet:
    id: str
    author_id: str
    at: float | None
    data: dict[str, Any] | None = None
    raw: bytes | None = None


@dataclass
class User:
    data: dict[str, Any]
    tweets: list[Tweet] = field(default_factory=list)  # oldest first
    keys: list[tuple[int, str]] = field(default_factory=list)


class XSource(Source):
    name = "x"

    def __init__(self, users: dict[str, User], tweets: dict[str, Tweet]) -> None:
        self.users = users  # by id
        self.by_name = {u.data["username"].lower(): u for u in users.values()}
        self.tweets = tweets
        self.timeline = sorted(tweets.values(), key=lambda t: key(t.id))  # every tweet, for search
        self._rendered: dict[str, bytes] = {}

    def health(self) -> dict[str, Any]:
        return {"users": len(self.users), "tweets": len(self.tweets)}

    def targets(self) -> list[dict[str, str]]:
        return [{"kind": "account", "handle": u.data["username"]} for u in self.users.values()]

    def too_many(self) -> Answer:
        return json_answer(
            429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
        )

    def limit_headers(self, limit: int, remaining: int, reset: datetime) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(math.ceil(reset.timestamp())),
        }

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        token = request.header("Authorization").removeprefix("Bearer ").strip()
        if token != REPLAY_CREDENTIALS["PANTAU_X_BEARER_TOKEN"]:
            return json_answer(
                401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
            )
        if route == "user_by_username":
            return self.user_by_username(request.params["username"])
        if route == "user_tweets":
            return self.user_tweets(request)
        if route == "tweets":
            return self.lookup(request)
        return self.search(request)

    def user_by_username(self, username: str) -> Answer:
        user = self.by_name.get(username.lower())
        if user is None:
            return json_answer(
                200,
                {
                    "errors": [
                        _problem(
                            "resource-not-found",
                            "Not Found Error",
                            f"Could not find user with username: [{username}].",
                            username,
                        )
                    ]
                },
            )
        return json_answer(200, {"data": _user_json(user)})

    def user_tweets(self, request: ReplayRequest) -> Answer:
        user = self.users.get(request.params["user_id"])
        if user is None:
            return json_answer(
                200,
                {
                    "errors": [
                        _problem(
                            "resource-not-found",
                            "Not Found Error",
                            f"Could not find user with id: [{request.params['user_id']}].",
                            request.params["user_id"],
                        )
                    ]
                },
            )
        if user.data.get("protected"):
            return json_answer(
                200,
                {
                    "errors": [
                        _problem(
                            "not-authorized-for-resource",
                            "Authorization Error",
                            f"Sorry, you are not authorized to see the user with id: [{user.data['id']}].",
                            user.data["id"],
                        )
                    ]
                },
            )
        return self._page(user.tweets, user.keys, request, "pagination_token", lambda t: True)

    def search(self, request: ReplayRequest) -> Answer:
        query = request.query.get("query", "").strip()
        if not query:
            return json_answer(
                400,
                {
                    "errors": [
                        {"parameters": {"query": []}, "message": "The `query` query parameter can not be empty"}
                    ],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": f"{PROBLEMS}invalid-request",
                },
            )
        match = _matcher(query, self.by_name)
        tweets = self.timeline
        return self._page(tweets, [key(t.id) for t in tweets], request, "next_token", match)

    def lookup(self, request: ReplayRequest) -> Answer:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        found = [self.tweets[i] for i in ids if i in self.tweets and self.tweets[i].data is not None]
        missing = [i for i in ids if i not in self.tweets]
        body: dict[str, Any] = {}
        if found:
            body["data"] = [json.loads(self._tweet_bytes(t)) for t in found]
            body["includes"] = {"users": [_user_json(self.users[a]) for a in sorted({t.author_id for t in found})]}
        if missing:
            body["errors"] = [
                _problem("resource-not-found", "Not Found Error", f"Could not find tweet with ids: [{i}].", i)
                for i in missing
            ]
        return json_answer(200, body)

    def _page(
        self, tweets: list[Tweet], keys: list[tuple[int, str]], request: ReplayRequest, token_name: str, match: Any
    ) -> Answer:
        query = request.query
        try:
            limit = max(5, min(100, int(query.get("max_results", 10))))
        except ValueError:
            limit = 10
        token = query.get(token_name) or query.get("pagination_token") or ""
        upper = bisect_left(keys, key(_untoken(token))) if token else len(tweets)
        lower = bisect_right(keys, key(query["since_id"])) if query.get("since_id", "").isdigit() else 0
        page: list[Tweet] = []
        more = False
        for i in range(upper - 1, lower - 1, -1):
            tweet = tweets[i]
            if request.visible(tweet.at) and match(tweet):
                if len(page) == limit:
                    more = True
                    break
                page.append(tweet)
        if not page:
            return json_answer(200, {"meta": {"result_count": 0}})
        body = b'{"data":[' + b",".join(t.raw if t.raw is not None else self._tweet_bytes(t) for t in page) + b"]"
        authors = sorted({t.author_id for t in page if t.author_id in self.users})
        includes: dict[str, Any] = {"users": [_user_json(self.users[a]) for a in authors]}
        media = [
            {"media_key": f"3_{t.id}{n}", "type": "photo", "url": f"https://pbs.twimg.example/media/{t.id}{n}.jpg"}
            for t in page
            if t.data is not None
            for n in range(int(t.data.get("photos") or 0))
        ]
        if media:
            includes["media"] = media
        meta: dict[str, Any] = {"newest_id": page[0].id, "oldest_id": page[-1].id, "result_count": len(page)}
        if more:
            meta["next_token"] = _token(page[-1].id)
        tail = {"includes": includes, "meta": meta}
        return Answer(200, body + b"," + json.dumps(tail, ensure_ascii=False)[1:].encode("utf-8"))

    def delete(self, post_id: str) -> bool:
        tweet = self.tweets.pop(post_id, None)
        if tweet is None:
            return False
        user = self.users[tweet.author_id]
        user.tweets.remove(tweet)
        user.keys = [key(t.id) for t in user.tweets]
        self.timeline.remove(tweet)
        return True

    def edit(self, post_id: str, text: str) -> bool:
        tweet = self.tweets.get(post_id)
        if tweet is None or tweet.data is None:
            return False
        tweet.data["text"] = text
        self._rendered.pop(post_id, None)
        return True

    def _tweet_bytes(self, tweet: Tweet) -> bytes:
        cached = self._rendered.get(tweet.id)
        if cached is None:
            text = json.dumps(_tweet_json(tweet, self), ensure_ascii=False, separators=(",", ":"))
            cached = self._rendered[tweet.id] = text.encode("utf-8")
        return cached


def _token(tweet_id: str) -> str:
    """An opaque-looking paging token (X's are opaque; this one encodes the last id shown)."""
    return "7140dibd" + format(int(tweet_id), "x")


def _untoken(token: str) -> str:
    try:
        return str(int(token.removeprefix("7140dibd"), 16))
    except ValueError:
        return "0"


def _problem(kind: str, title: str, detail: str, value: str) -> dict[str, Any]:
    return {"value": value, "detail": detail, "title": title, "type": f"{PROBLEMS}{kind}"}


def _user_json(user: User) -> dict[str, Any]:
    data = user.data
    out = {k: data[k] for k in ("id", "name", "username", "description", "created_at") if k in data}
    out["protected"] = bool(data.get("protected"))
    return out


def _tweet_json(tweet: Tweet, source: XSource) -> dict[str, Any]:
    data = tweet.data or {}
    text = data["text"]
    refs = []
    for field_name, kind in (("in_reply_to_id", "replied_to"), ("retweet_of", "retweeted"), ("quote_of", "quoted")):
        if data.get(field_name):
            refs.append({"type": kind, "id": str(data[field_name])})
    original = source.tweets.get(str(data.get("retweet_of") or ""))
    if original is not None and original.data is not None:
        author = source.users[original.author_id].data["username"]
        text = f"RT @{author}: {original.data['text']}"
    out: dict[str, Any] = {
        "id": tweet.id,
        "text": text,
        "created_at": data["created_at"],
        "author_id": tweet.author_id,
        "lang": data.get("lang", "und"),
        "conversation_id": str(data.get("in_reply_to_id") or tweet.id),
        "edit_history_tweet_ids": [tweet.id],
        "public_metrics": {
            "retweet_count": data.get("retweet_count", 0),
            "reply_count": data.get("reply_count", 0),
            "like_count": data.get("like_count", 0),
            "quote_count": data.get("quote_count", 0),
            "bookmark_count": 0,
            "impression_count": data.get("impression_count", 0),
        },
    }
    if refs:
        out["referenced_tweets"] = refs
    if data.get("photos"):
        out["attachments"] = {"media_keys": [f"3_{tweet.id}{n}" for n in range(int(data["photos"]))]}
    return out


def _matcher(query: str, users: dict[str, User]) -> Any:
    """A tweet filter for a recent-search query: every plain term must occur (hashtags as #word); `from:name`
    limits the author; `-is:retweet` drops retweets; other operators (lang:, has:) are accepted and ignored."""
    terms, authors, no_retweets = [], set(), False
    for term in query.lower().split():
        if term.startswith("from:"):
            user = users.get(term[5:])
            authors.add(user.data["id"] if user else "")
        elif term == "-is:retweet":
            no_retweets = True
        elif ":" not in term and not term.startswith("-"):
            terms.append(term.strip('"'))

    def match(tweet: Tweet) -> bool:
        data = tweet.data
        if data is None:
            return False
        if (authors and tweet.author_id not in authors) or (no_retweets and data.get("retweet_of")):
            return False
        words = set(re.findall(r"#?\w+", data["text"].lower()))
        text = data["text"].lower()
        return all((t in words) if t.startswith("#") else (t in text) for t in terms)

    return match


# ---------------------------------------------------------------- loading and generating


def load(folder: Path) -> XSource:
    users: dict[str, User] = {}
    for where, row in read_jsonl(folder / "users.jsonl"):
        if not isinstance(row, dict) or not str(row.get("id", "")).isdigit() or not row.get("username"):
            raise DatasetError(f"{where}: a user needs a digit-string id and a username")
        users[str(row["id"])] = User(row)
    return _index(users, read_jsonl(folder / "tweets.jsonl"))


def _index(users: dict[str, User], rows: list[tuple[str, Any]]) -> XSource:
    tweets: dict[str, Tweet] = {}
    for where, row in rows:
        if not isinstance(row, dict) or str(row.get("author_id")) not in users:
            raise DatasetError(
                f"{where}: author_id {row.get('author_id') if isinstance(row, dict) else row!r} is unknown"
            )
        tweet_id = str(row.get("id", ""))
        if not tweet_id.isdigit() or tweet_id in tweets:
            raise DatasetError(f"{where}: id must be a unique string of digits")
        author = str(row["author_id"])
        at = epoch_of(row.get("created_at"))
        if "_raw" in row:
            tweet = Tweet(tweet_id, author, at, raw=str(row["_raw"]).encode("utf-8", "surrogatepass"))
        else:
            tweet = Tweet(tweet_id, author, at, data=row)
        tweets[tweet_id] = tweet
        users[author].tweets.append(tweet)
    for user in users.values():
        user.tweets.sort(key=lambda t: key(t.id))
        user.keys = [key(t.id) for t in user.tweets]
    return XSource(users, tweets)


def snowflake(when: datetime, seq: int = 0) -> str:
    """An X-style id for a time: ms since the Twitter epoch << 22 | sequence."""
    return str(((int(when.timestamp() * 1000) - 1288834974657) << 22) | (seq & 0x3FFFFF))


def generate(n: int, seed: int) -> XSource:
    """n tweets over about n/400 users, texts recombined from the bundled sample."""
    sentences, tags = sample_pool(BUNDLED_SAMPLE)
    rng = random.Random(seed)
    users: dict[str, User] = {}
    for i in range(max(1, round(n / 400))):
        first = rng.choice(FIRST)
        user_id = str(1_500_000_000_000_000_000 + i * 7919)
        name = f"{first} {rng.choice(LAST)}"
        users[user_id] = User(
            {
                "id": user_id,
                "username": f"{first.lower()}_{i:05d}",
                "name": name,
                "description": "ASN Pemkab Tanah Merah. Cuitan pribadi.",
            }
        )
    people = list(users)
    rows: list[tuple[str, Any]] = []
    for k, when in enumerate(spread_times(rng, n)):
        text = " ".join(rng.choice(sentences) for _ in range(1 + int(rng.random() * 2)))[:270]
        if rng.random() < 0.3:
            text += " #" + rng.choice(tags)
        row = {
            "id": snowflake(when, k),
            "author_id": people[int(rng.random() * len(people))],
            "created_at": iso_z(when),
            "text": text,
            "lang": "in",
            "like_count": k % 97,
            "impression_count": k % 5000,
        }
        rows.append((f"generated {k}", row))
    return _index(users, rows)


def build(folder: Path, generate_n: int | None, seed: int) -> XSource:
    return generate(generate_n, seed) if generate_n is not None else load(folder)
