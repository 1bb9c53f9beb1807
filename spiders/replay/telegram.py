"""Telegram's public channel preview over loopback: the HTML of `t.me/s/<channel>`, paged with `?before=<id>`.

Data folder `telegram/`:
    channels.jsonl  {username, title, description, subscribers, photos, links, [_behaviour: "private"]}
    messages.jsonl  {channel, id, date (ISO), text (plain, newlines kept), views, [author] (signature),
                     [photos: n], [link_preview: {url, site, title, description}], [forwarded_from: {name, url}],
                     [reply_to: id], [service: "text"], label (ground truth, never served)}
                 or a fault row {channel, id, [date], _raw_html: "<the message's HTML, spliced verbatim>"}

A page shows the newest 20 messages older than `before`, oldest first, as the web preview does, with the
"more" link (`a.tme_messages_more[data-before]`) while older ones exist. A private channel, or one that does not
exist, redirects from `/s/<name>` to `/<name>`, a page without any message.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from spiders.replay.answers import Answer, ReplayRequest, epoch_of, html_answer
from spiders.replay.dataset import DatasetError, read_jsonl
from spiders.replay.generate import BUNDLED_SAMPLE, FIRST, LAST, sample_pool, spread_times
from spiders.replay.platforms import Source

ROUTES = [
    ("GET", "preview", re.compile(r"^/s/(?P<channel>[A-Za-z0-9_]+)/?$")),
    ("GET", "channel_page", re.compile(r"^/(?P<channel>[A-Za-z][A-Za-z0-9_]{3,31})/?$")),
]
PAGE_SIZE = 20
BEHAVIOURS = frozenset({"private"})
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,!?)]")
_HASHTAG = re.compile(r"(?<![\w/])#(\w+)")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


@dataclass
class Message:
    id: int
    at: float | None
    data: dict[str, Any] | None = None
    raw_html: str | None = None


@dataclass
class Channel:
    username: str
    data: dict[str, Any]
    behaviour: str | None = None
    messages: list[Message] = field(default_factory=list)  # oldest first
    ids: list[int] = field(default_factory=list)

    def freeze(self) -> None:
        self.messages.sort(key=lambda m: m.id)
        self.ids = [m.id for m in self.messages]


def views_text(views: int) -> str:
    """Telegram's short count: 987, 1.2K, 15K, 1.1M."""
    for size, unit in ((1_000_000, "M"), (1_000, "K")):
        if views >= size:
            return f"{views / size:.1f}".removesuffix(".0") + unit
    return str(views)


def text_html(text: str) -> str:
    """Plain text as the preview marks it up: links, hashtag links, <br/> and wrapped emoji."""
    out = escape(text, quote=False)
    out = _URL.sub(lambda m: f'<a href="{m.group()}" target="_blank" rel="noopener">{m.group()}</a>', out)
    out = _HASHTAG.sub(lambda m: f'<a href="?q=%23{m.group(1)}">#{m.group(1)}</a>', out)
    out = _EMOJI.sub(
        lambda m: (
            f'<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/'
            f"{ord(m.group()):X}.png')\"><b>{m.group()}</b></i>"
        ),
        out,
    )
    return out.replace("\n", "<br/>")


class TelegramSource(Source):
    name = "telegram"

    def __init__(self, channels: dict[str, Channel]) -> None:
        self.channels = channels
        self._html: dict[tuple[str, int], str] = {}

    def targets(self) -> list[dict[str, str]]:
        return [{"kind": "channel", "handle": c.username} for c in self.channels.values() if not c.behaviour]

    def _find(self, post_id: str) -> tuple[Channel, Message] | None:
        name, _, number = post_id.partition("/")
        channel = self.channels.get(name.lower())
        found = [m for m in channel.messages if str(m.id) == number] if channel else []
        return (channel, found[0]) if channel and found else None

    def delete(self, post_id: str) -> bool:
        found = self._find(post_id)
        if found is None:
            return False
        channel, message = found
        channel.messages.remove(message)
        channel.freeze()
        return True

    def edit(self, post_id: str, text: str) -> bool:
        found = self._find(post_id)
        if found is None or found[1].data is None:
            return False
        found[1].data["text"] = text
        self._html.pop((found[0].username, found[1].id), None)
        return True

    def health(self) -> dict[str, Any]:
        return {"channels": len(self.channels), "messages": sum(len(c.messages) for c in self.channels.values())}

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        name = request.params["channel"]
        channel = self.channels.get(name.lower())
        if route == "channel_page":
            return html_answer(200, _join_page(name, channel))
        if channel is None or channel.behaviour == "private":
            # what t.me does for a channel without a public preview: away from /s/
            return Answer(302, b"", "text/html; charset=utf-8", {"Location": f"{request.base}/{name}"})
        before = request.query.get("before", "")
        upper = bisect_left(channel.ids, int(before)) if before.isdigit() else len(channel.ids)
        shown: list[Message] = []
        for i in range(upper - 1, -1, -1):
            if request.visible(channel.messages[i].at):
                shown.append(channel.messages[i])
                if len(shown) == PAGE_SIZE:
                    break
        shown.reverse()
        first = bisect_left(channel.ids, shown[0].id) if shown else 0
        older = any(request.visible(m.at) for m in channel.messages[:first])
        return html_answer(200, self._page(channel, shown, older))

    def _page(self, channel: Channel, shown: list[Message], older: bool) -> str:
        data = channel.data
        more = (
            f'<a href="/s/{channel.username}?before={shown[0].id}" class="tme_messages_more js-messages_more" '
            f'data-before="{shown[0].id}"></a>'
            if older
            else ""
        )
        body = "\n".join(self._message_html(channel, m) for m in shown)
        title = escape(data.get("title") or channel.username)
        return (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title} – Telegram</title>'
            f'<meta property="og:title" content="{title}"></head>\n'
            '<body class="widget_frame_base tgme_webpreview emoji_image">\n'
            f'<header class="tgme_header search_collapsed"><div class="tgme_header_title"><span dir="auto">{title}'
            "</span></div></header>\n"
            f'<main class="tgme_main"><div class="tgme_container">{_channel_info(channel)}\n'
            f'<section class="tgme_channel_history js-message_history">{more}\n{body}\n</section>'
            "</div></main></body></html>\n"
        )

    def _message_html(self, channel: Channel, message: Message) -> str:
        if message.raw_html is not None:
            return message.raw_html
        key = (channel.username, message.id)
        cached = self._html.get(key)
        if cached is None:
            cached = self._html[key] = message_html(channel, message)
        return cached


def _channel_info(channel: Channel) -> str:
    data = channel.data
    counters = "".join(
        f'<div class="tgme_channel_info_counter"><span class="counter_value">{views_text(int(data.get(k) or 0))}'
        f'</span> <span class="counter_type">{label}</span></div>'
        for k, label in (("subscribers", "subscribers"), ("photos", "photos"), ("links", "links"))
    )
    return (
        '<div class="tgme_channel_info"><div class="tgme_channel_info_header">'
        f'<div class="tgme_channel_info_header_title"><span dir="auto">{escape(data.get("title") or "")}</span></div>'
        f'<div class="tgme_channel_info_header_username"><a href="https://t.me/{channel.username}">'
        f"@{channel.username}</a></div></div>"
        f'<div class="tgme_channel_info_description">{text_html(data.get("description") or "")}</div>'
        f'<div class="tgme_channel_info_counters">{counters}</div></div>'
    )


def message_html(channel: Channel, message: Message) -> str:
    """One message as the preview renders it."""
    data = message.data or {}
    post = f"{channel.username}/{message.id}"
    if data.get("service"):
        return (
            f'<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message '
            f'service_message js-widget_message" data-post="{post}"><div class="tgme_widget_message_bubble">'
            f'<div class="message_media_not_supported_label">{escape(data["service"])}</div></div></div></div>'
        )
    when = datetime.fromisoformat(data["date"]).astimezone(UTC)
    parts = [
        '<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
        f'href="https://t.me/{channel.username}"><span dir="auto">{escape(channel.data.get("title") or "")}'
        "</span></a></div>"
    ]
    parts += _extras_before_text(channel, data)
    if data.get("text"):
        parts.append(
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text_html(data["text"])}</div>'
        )
    preview = data.get("link_preview")
    if preview:
        parts.append(
            f'<a class="tgme_widget_message_link_preview" href="{escape(preview["url"])}">'
            f'<div class="link_preview_site_name accent_color" dir="auto">{escape(preview.get("site", ""))}</div>'
            f'<div class="link_preview_title" dir="auto">{escape(preview.get("title", ""))}</div>'
            f'<div class="link_preview_description" dir="auto">{escape(preview.get("description", ""))}</div></a>'
        )
    signature = (
        f'<span class="tgme_widget_message_from_author" dir="auto">{escape(data["author"])}</span>&nbsp;'
        if data.get("author")
        else ""
    )
    parts.append(
        '<div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info '
        f'short js-message_info"><span class="tgme_widget_message_views">{views_text(int(data.get("views") or 0))}'
        f'</span>{signature}<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" '
        f'href="https://t.me/{post}"><time datetime="{when.isoformat()}" class="time">{when:%H:%M}</time></a>'
        "</span></div></div>"
    )
    return (
        '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
        f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{post}" '
        f'data-view="{message.id}"><div class="tgme_widget_message_user"><a href="https://t.me/{channel.username}">'
        '<i class="tgme_widget_message_user_photo bgcolor0" data-content="T"></i></a></div>'
        f'<div class="tgme_widget_message_bubble">{"".join(parts)}</div></div></div>'
    )


def _extras_before_text(channel: Channel, data: dict[str, Any]) -> list[str]:
    parts = []
    forwarded = data.get("forwarded_from")
    if forwarded:
        parts.append(
            '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
            f'<a class="tgme_widget_message_forwarded_from_name" href="{escape(forwarded["url"])}">'
            f'<span dir="auto">{escape(forwarded["name"])}</span></a></div>'
        )
    if data.get("reply_to"):
        parts.append(
            f'<a class="tgme_widget_message_reply" href="https://t.me/{channel.username}/{data["reply_to"]}">'
            '<div class="tgme_widget_message_author accent_color"><span class="tgme_widget_message_author_name">'
            f"{escape(channel.data.get('title') or '')}</span></div>"
            '<div class="tgme_widget_message_text js-message_reply_text" dir="auto">…</div></a>'
        )
    for n in range(int(data.get("photos") or 0)):
        parts.append(
            f'<a class="tgme_widget_message_photo_wrap" href="https://t.me/{channel.username}/{data["id"]}?single" '
            f"style=\"width:800px;background-image:url('https://cdn.telegram.example/file/{channel.username}-"
            f"{data['id']}-{n}.jpg')\"></a>"
        )
    return parts


def _join_page(name: str, channel: Channel | None) -> str:
    title = escape(channel.data.get("title") or name) if channel else escape(name)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Telegram: Contact @{escape(name)}</title></head>'
        f'<body class="tgme_page_wrap"><div class="tgme_page"><div class="tgme_page_title"><span dir="auto">{title}'
        '</span></div><div class="tgme_page_extra">private channel</div><div class="tgme_page_action">'
        '<a class="tgme_action_button_new" href="tg://resolve">View in Telegram</a></div></div></body></html>\n'
    )


# ---------------------------------------------------------------- loading and generating


def load(folder: Path) -> TelegramSource:
    channels: dict[str, Channel] = {}
    for where, row in read_jsonl(folder / "channels.jsonl"):
        if not isinstance(row, dict) or not isinstance(row.get("username"), str) or not row["username"]:
            raise DatasetError(f"{where}: expected an object with a username")
        behaviour = row.get("_behaviour")
        if behaviour is not None and behaviour not in BEHAVIOURS:
            raise DatasetError(f"{where}: _behaviour {behaviour!r} is not one of {sorted(BEHAVIOURS)}")
        if row["username"].lower() in channels:
            raise DatasetError(f"{where}: duplicate channel {row['username']}")
        channels[row["username"].lower()] = Channel(row["username"], row, behaviour)
    for where, row in read_jsonl(folder / "messages.jsonl"):
        _add_message(channels, where, row)
    for channel in channels.values():
        channel.freeze()
    return TelegramSource(channels)


def _add_message(channels: dict[str, Channel], where: str, row: Any) -> None:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object")
    channel = channels.get(str(row.get("channel", "")).lower())
    if channel is None:
        raise DatasetError(f"{where}: channel {row.get('channel')!r} is not in channels.jsonl")
    if not isinstance(row.get("id"), int) or row["id"] < 1:
        raise DatasetError(f"{where}: id must be a positive integer")
    if row["id"] in {m.id for m in channel.messages}:
        raise DatasetError(f"{where}: duplicate message id {row['id']} in {channel.username}")
    if "_raw_html" in row:
        channel.messages.append(Message(row["id"], epoch_of(row.get("date")), raw_html=str(row["_raw_html"])))
        return
    if epoch_of(row.get("date")) is None or datetime.fromisoformat(row["date"]).tzinfo is None:
        raise DatasetError(f"{where}: date must be an ISO time with a zone")
    channel.messages.append(Message(row["id"], epoch_of(row["date"]), data=row))


def generate(n: int, seed: int) -> TelegramSource:
    """n messages over about n/400 channels, texts recombined from the bundled sample."""
    sentences, tags = sample_pool(BUNDLED_SAMPLE)
    rng = random.Random(seed)
    channels: dict[str, Channel] = {}
    count = max(1, round(n / 400))
    for i in range(count):
        name = f"kanal_{rng.choice(FIRST).lower()}_{i:04d}"
        data = {
            "username": name,
            "title": f"Kanal {rng.choice(FIRST)} {rng.choice(LAST)}",
            "description": "Info kegiatan dan layanan warga Kabupaten Tanah Merah.",
            "subscribers": rng.randrange(100, 90_000),
        }
        channels[name] = Channel(name, data)
    ordered = list(channels.values())
    for n_msg, at in enumerate(spread_times(rng, n)):
        channel = ordered[int(rng.random() * len(ordered))]
        message_id = len(channel.messages) + 1
        text = " ".join(rng.choice(sentences) for _ in range(1 + int(rng.random() * 3)))
        if rng.random() < 0.3:
            text += " #" + rng.choice(tags)
        row = {
            "channel": channel.username,
            "id": message_id,
            "date": at.isoformat(),
            "text": text,
            "views": int(rng.random() ** 3 * 200_000),
            "photos": 1 if n_msg % 9 == 0 else 0,
        }
        channel.messages.append(Message(message_id, at.timestamp(), data=row))
    for channel in ordered:
        channel.freeze()
    return TelegramSource(channels)


def build(folder: Path, generate_n: int | None, seed: int) -> TelegramSource:
    return generate(generate_n, seed) if generate_n is not None else load(folder)
