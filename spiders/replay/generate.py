"""A synthetic replay dataset for load tests: N statuses over about N/250 accounts.

Texts are recombined from the sentences and hashtags of a sample dataset (the bundled one by default; a few
built-in sentences while it is absent) with a seeded RNG, so the same (N, seed, sample) always gives the
same accounts, ids, texts and pages. Ids are Mastodon-style snowflakes (milliseconds << 16 | random bits)
and grow with created_at, as on a real server.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spiders.pages.mastodon import html_to_text
from spiders.replay.dataset import Dataset, DatasetError, html_paragraphs, read_jsonl

STATUSES_PER_ACCOUNT = 250
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_MS = 330 * 24 * 3600 * 1000
DOMAINS = ("sosial.example", "guru.example", "warga.example", "pemda.example")
FIRST = (
    "Rina",
    "Budi",
    "Sari",
    "Agus",
    "Dewi",
    "Joko",
    "Wati",
    "Andi",
    "Putri",
    "Hendra",
    "Lestari",
    "Yusuf",
)
LAST = ("Hartono", "Siregar", "Wijaya", "Nasution", "Saputra", "Rahayu", "Gunawan", "Lubis", "Pratama")
FALLBACK_SENTENCES = (
    "Selamat pagi rekan-rekan guru, jangan lupa rapat koordinasi hari ini.",
    "Pelayanan KTP di kantor kecamatan buka sampai pukul 15.00.",
    "Hari ini kami menanam seribu pohon bersama warga.",
    "Terima kasih atas kerja keras tim puskesmas minggu ini.",
    "Jalan desa sudah diperbaiki, semoga bermanfaat.",
    "Ayo datang ke TPS dan gunakan hak pilih Anda dengan bijak.",
    "Pilkada damai, mari jaga persatuan.",
    "Informasi beasiswa untuk siswa berprestasi sudah dibuka.",
)
FALLBACK_TAGS = ("pilkada", "pelayanan", "sekolah", "desa", "kesehatan")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TAG = re.compile(r"#\w+")


BUNDLED_SAMPLE = Path(__file__).resolve().parent / "data"


def spread_times(rng: random.Random, n: int) -> list[datetime]:
    """n distinct, increasing creation times over the sample's span (for the other platforms' generators)."""
    return [datetime.fromtimestamp(ms / 1000, UTC) for ms in _times(rng, n)]


def sample_pool(sample_dir: Path | None) -> tuple[list[str], list[str]]:
    """(sentences, hashtags) to recombine: from sample_dir/statuses.jsonl, else the built-in few."""
    try:
        rows = read_jsonl(sample_dir / "statuses.jsonl") if sample_dir is not None else []
    except DatasetError:
        rows = []
    sentences: set[str] = set()
    tags: set[str] = set()
    for _, row in rows:
        if isinstance(row, dict) and isinstance(row.get("content"), str):
            text = _TAG.sub("", html_to_text(row["content"]))
            sentences.update(s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 3)
            tags.update(str(t).lower() for t in row.get("tags") or ())
    return sorted(sentences) or list(FALLBACK_SENTENCES), sorted(tags) or list(FALLBACK_TAGS)


def generate(n: int, seed: int = 0, sample_dir: Path | None = None) -> Dataset:
    accounts, statuses = generate_rows(n, seed, *sample_pool(sample_dir))
    return Dataset.from_rows(
        ((f"generated account {i}", row) for i, row in enumerate(accounts)),
        ((f"generated status {i}", row) for i, row in enumerate(statuses)),
    )


def generate_rows(
    n: int, seed: int, sentences: list[str], tags: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if n < 0:
        raise ValueError(f"generate: N must be at least 0, got {n}")
    rng = random.Random(seed)
    accounts = [_account(rng, i) for i in range(max(1, round(n / STATUSES_PER_ACCOUNT)))]
    statuses: list[dict[str, Any]] = []
    for ms in _times(rng, n):
        account = accounts[int(rng.random() * len(accounts))]
        statuses.append(_status(rng, ms, account, statuses, sentences, tags))
    return accounts, statuses


def _pick(rng: random.Random, items: list[Any]) -> Any:
    # random.choice is several times slower, and 100k statuses make several picks each
    return items[int(rng.random() * len(items))]


def _times(rng: random.Random, n: int) -> list[int]:
    """n creation times in ms, sorted and strictly increasing, so every snowflake id is unique."""
    base = int(START.timestamp() * 1000)
    times = sorted(int(rng.random() * SPAN_MS) for _ in range(n))
    out, last = [], -1
    for t in times:
        last = max(t, last + 1)
        out.append(base + last)
    return out


def _account(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": str(110_000_000_000_000_000 + i * 7919),
        "username": f"{first.lower()}_{i:05d}",
        "domain": DOMAINS[i % len(DOMAINS)],
        "display_name": f"{first} {last}",
        "note": f"<p>ASN di {rng.choice(DOMAINS).split('.')[0]}. Akun pribadi.</p>",
        "created_at": "2022-11-05T00:00:00.000Z",
        "followers_count": rng.randrange(2000),
        "following_count": rng.randrange(500),
        "statuses_count": 0,
    }


def _status(
    rng: random.Random,
    ms: int,
    account: dict[str, Any],
    earlier: list[dict[str, Any]],
    sentences: list[str],
    tags: list[str],
) -> dict[str, Any]:
    account["statuses_count"] += 1
    status_id = str((ms << 16) | rng.getrandbits(16))
    created = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    roll = rng.random()
    boost = _pick(rng, earlier) if earlier and roll < 0.04 else None
    if boost is not None and boost["reblog_of"]:
        boost = None  # a boost of a boost is not a thing on Mastodon
    chosen = [] if boost else sorted({_pick(rng, tags) for _ in range(_pick(rng, [0, 0, 1, 2]))})
    text = " ".join(_pick(rng, sentences) for _ in range(1 + int(rng.random() * 3)))
    counts = rng.getrandbits(24)
    return {
        "id": status_id,
        "account_id": account["id"],
        "created_at": created,
        "language": "id",
        "content": "" if boost else html_paragraphs(text, chosen, f"https://{account['domain']}"),
        "tags": chosen,
        "replies_count": counts % 20,
        "reblogs_count": (counts >> 5) % 50,
        "favourites_count": (counts >> 11) % 200,
        "media": [{"type": "image", "description": "foto kegiatan"}] if rng.random() < 0.1 and not boost else [],
        "in_reply_to_id": _pick(rng, earlier)["id"] if earlier and 0.04 <= roll < 0.1 else None,
        "reblog_of": boost["id"] if boost else None,
        "label": None,
    }
