"""Test data for the workspace, loaded through the real loaders: posts (`Store.load_batch`), predictions, the
watchlist, then `pipeline.review.refresh_queue`. Also users and a signed-in TestClient."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from pipeline.review import refresh_queue
from pipeline.schema import parse_post, sha256_text
from pipeline.storage import PREDICTIONS_SCHEMA, Store, posts_to_arrow
from pipeline.web import auth, repo
from tests.conftest import make_post

NOW = datetime(2024, 11, 20, tzinfo=UTC)
MODEL = "v-test"
PASSWORD = "kata-sandi-yang-panjang"
XSS_TEXT = (
    "Awas <script>alert('xss')</script> <img src=x onerror=alert(1)> "
    '<a href="javascript:alert(2)">klik</a> <b>tag rusak nomor satu'
)
TEXTS = [
    "Besok semua ke TPS ya, coblos nomor satu!",
    "Posko relawan kecamatan buka, yang mau jadi saksi TPS daftar ke saya.",
    "Calon yang satu itu cuma modal baliho, jangan mau ditipu lagi.",
    "Foto bareng calon gubernur, pose dua jari dulu",
    XSS_TEXT,
    "Dukung paslon nomor dua, kerja nyata!",
]
REASONS = ["skor partisan 0.91 ≥ ambang 0.50 (endorsement)", "kata dukungan: 'nomor satu'", "n-gram kuat: 'coblos'"]
WATCH = {
    "kind": "account",
    "platform": "mastodon",
    "name": "Warga Satu",
    "agency": "Dinas Pendidikan Kabupaten Tanah Merah",
    "region_code": "35.91",
    "region_name": "Kabupaten Tanah Merah",
    "nip": "198703122015032004",
    "identified_by": "bio menyebut ASN",
    "enabled": True,
}


def key(i: int) -> tuple[str, str]:
    return ("mastodon", str(110_000_000_000_000_000 + i))


def predictions(posts: list[Any], shas: list[str], scores: list[float]) -> pa.Table:
    n = len(posts)
    return pa.table(
        {
            "platform": ["mastodon"] * n,
            "platform_post_id": [p.platform_post_id for p in posts],
            "model_version": [MODEL] * n,
            "text_sha256": shas,
            "label": ["endorsement"] * n,
            "scores": [json.dumps({"endorsement": s, "non_political": 1 - s}) for s in scores],
            "flag_score": scores,
            "flagged": [True] * n,
            "reasons": [REASONS] * n,
            "predicted_at": [NOW] * n,
            "run_id": ["r1"] * n,
        },
        schema=PREDICTIONS_SCHEMA,
    )


def seed(store: Store, texts: list[str] | None = None, start: int = 1, run_id: str = "r1") -> list[tuple[str, str]]:
    """Load one flagged post per text (post `start` is the newest and scores highest) and queue them all."""
    texts = texts or TEXTS
    posts = [
        parse_post(make_post(start + n, text=t, posted_at=(NOW - timedelta(hours=n)).isoformat()))
        for n, t in enumerate(texts)
    ]
    shas = [sha256_text(p.text) for p in posts]
    scores = [round(0.95 - 0.05 * n, 2) for n in range(len(posts))]
    store.load_batch(run_id, posts_to_arrow(posts, shas, run_id), predictions(posts, shas, scores), [])
    store.replace_watchlist([{**WATCH, "handle": "warga1@sosial.example"}])
    refresh_queue(store, run_id, MODEL, now=NOW)
    return [key(start + n) for n in range(len(texts))]


def add_user(store: Store, name: str, role: str, password: str = PASSWORD) -> None:
    repo.add_user(store, name, auth.hash_password(password), role, "test", datetime.now(UTC))


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(client: Any, name: str, password: str = PASSWORD) -> Any:
    """Sign in through the login form (CSRF included); return the response after the redirect."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": "/"})


def all_routes() -> list[Any]:
    """Every route of the workspace's routers (path, methods, endpoint)."""
    from pipeline.web.routes import auth as auth_routes
    from pipeline.web.routes import dashboard, items, queue, users

    return [r for m in (auth_routes, queue, items, users, dashboard) for r in m.router.routes]
