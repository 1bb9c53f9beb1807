"""YouTube Data API v3 over loopback: channels, uploads (playlistItems), commentThreads and comments, with an API
key and a daily quota.

Data folder `youtube/`:
    channels.jsonl  {id (UC…), title, description, customUrl, publishedAt}
    videos.jsonl    {id (11 characters), channel_id, publishedAt, title, description, label}
    comments.jsonl  {id, video_id, author (display name), author_channel_id, text, publishedAt, [updatedAt],
                     likeCount, [parent_id] (a reply), label}
                 or a fault row {video_id, publishedAt, _raw: "<text spliced verbatim into the items array>"}

Every request needs the key (`X-Goog-Api-Key` header or `key=`) and costs one unit; once the quota is spent every
request answers 403 `quotaExceeded` until `POST /_replay/youtube/quota?reset=1` (the next day) or a new
`limit=N`. Lists are newest first with `nextPageToken` while more remain, as with `order=time`.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spiders.replay.answers import Answer, ReplayRequest, epoch_of, iso_z, json_answer
from spiders.replay.dataset import DatasetError, read_jsonl
from spiders.replay.generate import BUNDLED_SAMPLE, FIRST, LAST, sample_pool, spread_times
from spiders.replay.platforms import REPLAY_CREDENTIALS, Source

ROUTES = [("GET", "api", re.compile(r"^/youtube/v3/(?P<resource>[A-Za-z]+)$"))]
DAILY_QUOTA = 10_000
_QUOTA_MESSAGE = (
    'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">'
    "quota</a>."
)


@dataclass
class Thread:
    at: float | None
    top: dict[str, Any] | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    raw: bytes | None = None


@dataclass
class Channel:
    data: dict[str, Any]
    videos: list[dict[str, Any]] = field(default_factory=list)  # newest first
    threads: list[Thread] = field(default_factory=list)  # newest first


class YouTubeSource(Source):
    name = "youtube"

    def __init__(
        self, channels: dict[str, Channel], videos: dict[str, dict[str, Any]], threads: dict[str, list[Thread]]
    ):
        self.channels = channels
        self.videos = videos
        self.video_threads = threads  # by video id, newest first
        self.comments = {t.top["id"]: t.top for ts in threads.values() for t in ts if t.top is not None}
        self.comments.update({r["id"]: r for ts in threads.values() for t in ts for r in t.replies})
        self.quota_limit = DAILY_QUOTA
        self.quota_used = 0
        self._lock = threading.Lock()

    def health(self) -> dict[str, Any]:
        return {
            "channels": len(self.channels),
            "videos": len(self.videos),
            "comments": len(self.comments),
            "quota_used": self.quota_used,
            "quota_limit": self.quota_limit,
        }

    def targets(self) -> list[dict[str, str]]:
        return [{"kind": "channel", "handle": channel_id} for channel_id in self.channels]

    def admin(self, action: str, query: dict[str, str]) -> Answer | None:
        if action != "quota":
            return super().admin(action, query)
        with self._lock:
            if query.get("limit", "").isdigit():
                self.quota_limit = int(query["limit"])
            if query.get("reset"):
                self.quota_used = 0
            return json_answer(200, {"quota_used": self.quota_used, "quota_limit": self.quota_limit})

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        key = request.header("X-Goog-Api-Key") or request.query.get("key", "")
        if not key:
            return _error(
                403,
                "forbidden",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API.",
                "global",
                "PERMISSION_DENIED",
            )
        if key != REPLAY_CREDENTIALS["PANTAU_YOUTUBE_API_KEY"]:
            return _error(
                400, "badRequest", "API key not valid. Please pass a valid API key.", "global", "INVALID_ARGUMENT"
            )
        with self._lock:
            if self.quota_used >= self.quota_limit:
                return _error(403, "quotaExceeded", _QUOTA_MESSAGE, "youtube.quota")
            self.quota_used += 1
        handlers = {
            "channels": self.list_channels,
            "playlistItems": self.list_uploads,
            "commentThreads": self.list_threads,
            "comments": self.list_comments,
        }
        handler = handlers.get(request.params["resource"])
        if handler is None:
            return _error(404, "notFound", "Not Found", "global")
        return handler(request)

    def list_channels(self, request: ReplayRequest) -> Answer:
        items = [_channel_json(self.channels[i]) for i in request.query.get("id", "").split(",") if i in self.channels]
        return json_answer(
            200, {"kind": "youtube#channelListResponse", "pageInfo": _info(len(items), 5), "items": items}
        )

    def list_uploads(self, request: ReplayRequest) -> Answer:
        playlist = request.query.get("playlistId", "")
        channel = self.channels.get("UC" + playlist[2:]) if playlist.startswith("UU") else None
        if channel is None:
            return _error(
                404,
                "playlistNotFound",
                "The playlist identified with the request's <code>playlistId</code> parameter cannot be found.",
                "youtube.playlistItem",
            )
        videos = [v for v in channel.videos if request.visible(epoch_of(v["publishedAt"]))]
        start, size = _paging(request.query, 50)
        items = [_upload_json(v, channel, playlist, start + n) for n, v in enumerate(videos[start : start + size])]
        return self._list("youtube#playlistItemListResponse", items, start, size, len(videos))

    def list_threads(self, request: ReplayRequest) -> Answer:
        if request.query.get("videoId"):
            if request.query["videoId"] not in self.videos:
                return _error(
                    404,
                    "videoNotFound",
                    'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/list#videoId">'
                    "videoId</a></code> parameter could not be found.",
                    "youtube.commentThread",
                )
            threads = self.video_threads.get(request.query["videoId"], [])
        else:
            channel = self.channels.get(request.query.get("allThreadsRelatedToChannelId", ""))
            if channel is None:
                return _error(404, "channelNotFound", "The channel could not be found.", "youtube.commentThread")
            threads = channel.threads
        threads = [t for t in threads if request.visible(t.at)]
        start, size = _paging(request.query, 20)
        page = threads[start : start + size]
        parts = [t.raw if t.raw is not None else json.dumps(_thread_json(t), ensure_ascii=False).encode() for t in page]
        head = {"kind": "youtube#commentThreadListResponse", "pageInfo": _info(len(page), size)}
        if start + size < len(threads):
            head["nextPageToken"] = _token(start + size)
        return Answer(
            200, json.dumps(head, ensure_ascii=False)[:-1].encode() + b',"items":[' + b",".join(parts) + b"]}"
        )

    def list_comments(self, request: ReplayRequest) -> Answer:
        ids = [i for i in request.query.get("id", "").split(",") if i]
        items = [_comment_json(self.comments[i]) for i in ids if i in self.comments]
        return json_answer(200, {"kind": "youtube#commentListResponse", "items": items})

    def delete(self, post_id: str) -> bool:
        row = self.comments.pop(post_id, None)
        if row is None:
            return False
        for channel in self.channels.values():
            channel.threads = [t for t in channel.threads if t.top is not row]
            for thread in channel.threads:
                thread.replies = [r for r in thread.replies if r is not row]
        for video, threads in self.video_threads.items():
            self.video_threads[video] = [t for t in threads if t.top is not row]
        return True

    def edit(self, post_id: str, text: str) -> bool:
        row = self.comments.get(post_id)
        if row is None:
            return False
        row["text"] = text
        return True

    def _list(self, kind: str, items: list[dict[str, Any]], start: int, size: int, total: int) -> Answer:
        body: dict[str, Any] = {"kind": kind, "pageInfo": _info(total, size), "items": items}
        if start + size < total:
            body["nextPageToken"] = _token(start + size)
        return json_answer(200, body)


def _token(offset: int) -> str:
    return f"CA{offset:06d}QAA"


def _paging(query: dict[str, str], default: int) -> tuple[int, int]:
    token = query.get("pageToken", "")
    start = int(token[2:8]) if re.fullmatch(r"CA\d{6}QAA", token) else 0
    try:
        size = max(1, min(100 if default == 20 else 50, int(query.get("maxResults", default))))
    except ValueError:
        size = default
    return start, size


def _info(total: int, per_page: int) -> dict[str, int]:
    return {"totalResults": total, "resultsPerPage": per_page}


def _error(status: int, reason: str, message: str, domain: str, state: str | None = None) -> Answer:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if state:
        error["status"] = state
    return json_answer(status, {"error": error})


def _channel_json(channel: Channel) -> dict[str, Any]:
    data = channel.data
    return {
        "kind": "youtube#channel",
        "id": data["id"],
        "snippet": {k: data.get(k) for k in ("title", "description", "customUrl", "publishedAt")},
        "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UU" + data["id"][2:]}},
    }


def _upload_json(video: dict[str, Any], channel: Channel, playlist: str, position: int) -> dict[str, Any]:
    snippet = {
        "publishedAt": video["publishedAt"],
        "channelId": channel.data["id"],
        "title": video["title"],
        "description": video.get("description", ""),
        "thumbnails": {"high": {"url": f"https://i.ytimg.example/vi/{video['id']}/hqdefault.jpg"}},
        "channelTitle": channel.data.get("title"),
        "playlistId": playlist,
        "position": position,
        "resourceId": {"kind": "youtube#video", "videoId": video["id"]},
        "videoOwnerChannelTitle": channel.data.get("title"),
        "videoOwnerChannelId": channel.data["id"],
    }
    return {
        "kind": "youtube#playlistItem",
        "id": f"UEx{video['id']}",
        "snippet": snippet,
        "contentDetails": {"videoId": video["id"], "videoPublishedAt": video["publishedAt"]},
    }


def _comment_json(row: dict[str, Any]) -> dict[str, Any]:
    snippet = {
        "channelId": row["channel_id"],
        "videoId": row["video_id"],
        "textDisplay": row["text"],
        "textOriginal": row["text"],
        "authorDisplayName": row["author"],
        "authorProfileImageUrl": f"https://yt3.ggpht.example/{row['author_channel_id']}",
        "authorChannelUrl": f"http://www.youtube.com/{row['author']}",
        "authorChannelId": {"value": row["author_channel_id"]},
        "canRate": True,
        "viewerRating": "none",
        "likeCount": row.get("likeCount", 0),
        "publishedAt": row["publishedAt"],
        "updatedAt": row.get("updatedAt") or row["publishedAt"],
    }
    if row.get("parent_id"):
        snippet["parentId"] = row["parent_id"]
    return {"kind": "youtube#comment", "id": row["id"], "snippet": snippet}


def _thread_json(thread: Thread) -> dict[str, Any]:
    assert thread.top is not None
    top = thread.top
    out: dict[str, Any] = {
        "kind": "youtube#commentThread",
        "id": top["id"],
        "snippet": {
            "channelId": top["channel_id"],
            "videoId": top["video_id"],
            "topLevelComment": _comment_json(top),
            "canReply": True,
            "totalReplyCount": len(thread.replies),
            "isPublic": True,
        },
    }
    if thread.replies:
        out["replies"] = {"comments": [_comment_json(r) for r in thread.replies[:5]]}
    return out


# ---------------------------------------------------------------- loading and generating


def load(folder: Path) -> YouTubeSource:
    channels: dict[str, Channel] = {}
    for where, row in read_jsonl(folder / "channels.jsonl"):
        if not isinstance(row, dict) or not re.fullmatch(r"UC[A-Za-z0-9_-]{22}", str(row.get("id"))):
            raise DatasetError(f"{where}: a channel needs a UC… id of 24 characters")
        channels[row["id"]] = Channel(row)
    return _index(channels, read_jsonl(folder / "videos.jsonl"), read_jsonl(folder / "comments.jsonl"))


def _index(
    channels: dict[str, Channel], video_rows: list[tuple[str, Any]], comment_rows: list[tuple[str, Any]]
) -> YouTubeSource:
    videos: dict[str, dict[str, Any]] = {}
    for where, row in video_rows:
        if (
            not isinstance(row, dict)
            or row.get("channel_id") not in channels
            or epoch_of(row.get("publishedAt")) is None
        ):
            raise DatasetError(f"{where}: a video needs a known channel_id and a publishedAt")
        videos[row["id"]] = row
        channels[row["channel_id"]].videos.append(row)
    threads: dict[str, list[Thread]] = {}
    by_id: dict[str, Thread] = {}
    replies: list[tuple[str, dict[str, Any]]] = []
    for where, row in comment_rows:
        video = videos.get(row.get("video_id") if isinstance(row, dict) else None)
        if video is None:
            raise DatasetError(f"{where}: video_id is not in videos.jsonl")
        row.setdefault("channel_id", video["channel_id"])
        if "_raw" in row:
            thread = Thread(epoch_of(row.get("publishedAt")), raw=str(row["_raw"]).encode("utf-8", "surrogatepass"))
        elif row.get("parent_id"):
            replies.append((where, row))
            continue
        else:
            thread = by_id[row["id"]] = Thread(epoch_of(row["publishedAt"]), top=row)
        threads.setdefault(row["video_id"], []).append(thread)
        channels[video["channel_id"]].threads.append(thread)
    for where, row in replies:
        if row["parent_id"] not in by_id:
            raise DatasetError(f"{where}: parent_id {row['parent_id']} is not a top-level comment")
        by_id[row["parent_id"]].replies.append(row)
    newest_first = {"key": lambda t: t.at if t.at is not None else float("-inf"), "reverse": True}
    for channel in channels.values():
        channel.videos.sort(key=lambda v: epoch_of(v["publishedAt"]) or 0, reverse=True)
        channel.threads.sort(**newest_first)  # type: ignore[call-overload]
    for listed in threads.values():
        listed.sort(**newest_first)  # type: ignore[call-overload]
    return YouTubeSource(channels, videos, threads)


def generate(n: int, seed: int) -> YouTubeSource:
    """n comments on videos of about n/1000 channels, texts recombined from the bundled sample."""
    sentences, _ = sample_pool(BUNDLED_SAMPLE)
    rng = random.Random(seed)
    channels = {}
    for i in range(max(1, round(n / 1000))):
        channel_id = f"UCgen{seed:04d}{i:015d}"[:24]
        channels[channel_id] = Channel(
            {"id": channel_id, "title": f"Kanal {rng.choice(FIRST)}", "description": "Kanal warga Tanah Merah."}
        )
    ids = list(channels)
    video_rows = [
        (
            f"video {k}",
            {
                "id": f"v{k:010d}",
                "channel_id": ids[k % len(ids)],
                "publishedAt": "2024-01-01T00:00:00Z",
                "title": f"Video {k}",
                "description": rng.choice(sentences),
            },
        )
        for k in range(max(1, len(ids) * 5))
    ]
    comment_rows = []
    for k, when in enumerate(spread_times(rng, n)):
        video = video_rows[int(rng.random() * len(video_rows))][1]
        text = " ".join(rng.choice(sentences) for _ in range(1 + int(rng.random() * 2)))
        comment_rows.append(
            (
                f"comment {k}",
                {
                    "id": f"Ugz{k:012d}",
                    "video_id": video["id"],
                    "author": f"@{rng.choice(FIRST).lower()}{k % 997}",
                    "author_channel_id": f"UCa{k % 997:021d}",
                    "text": text,
                    "publishedAt": iso_z(when, millis=False),
                    "likeCount": k % 41,
                    "channel_id": video["channel_id"],
                    "label": rng.choice(LAST),
                },
            )
        )
    return _index(channels, video_rows, comment_rows)


def build(folder: Path, generate_n: int | None, seed: int) -> YouTubeSource:
    return generate(generate_n, seed) if generate_n is not None else load(folder)
