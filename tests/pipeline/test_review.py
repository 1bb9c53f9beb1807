from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pipeline.asn import asn_likelihood
from pipeline.review import pending_count, pending_queue, refresh_queue
from pipeline.schema import parse_post, sha256_text
from pipeline.storage import PREDICTIONS_SCHEMA, Store, posts_to_arrow
from tests.conftest import make_post

NOW = datetime(2024, 11, 20, tzinfo=UTC)


def _load(store: Store, specs: list[tuple[int, float, bool, int]]) -> None:
    """specs: (i, flag_score, flagged, age_days)."""
    posts = [parse_post(make_post(i, posted_at=(NOW - timedelta(days=age)).isoformat())) for i, _, _, age in specs]
    shas = [sha256_text(p.text) for p in posts]
    preds = pa.table(
        {
            "platform": ["mastodon"] * len(posts),
            "platform_post_id": [p.platform_post_id for p in posts],
            "model_version": ["v-test"] * len(posts),
            "text_sha256": shas,
            "label": ["endorsement" if f else "non_political" for _, _, f, _ in specs],
            "scores": [json.dumps({"endorsement": s}) for _, s, _, _ in specs],
            "flag_score": [s for _, s, _, _ in specs],
            "flagged": [f for _, _, f, _ in specs],
            "reasons": [[] for _ in specs],
            "predicted_at": [NOW] * len(posts),
            "run_id": ["r1"] * len(posts),
        },
        schema=PREDICTIONS_SCHEMA,
    )
    store.load_batch("r1", posts_to_arrow(posts, shas, "r1"), preds, [])


def test_only_flagged_posts_are_queued_once_in_priority_order(store: Store) -> None:
    store.replace_watchlist(
        [
            {
                "kind": "account",
                "platform": "mastodon",
                "handle": "warga1@sosial.example",
                "name": "W",
                "agency": "",
                "region_code": "",
                "region_name": "",
                "nip": "",
                "identified_by": "t",
                "enabled": True,
            }
        ]
    )
    # post 1: on the watchlist, recent; post 2: not on it, same score; post 3: old; post 4: not flagged
    _load(store, [(1, 0.9, True, 0), (2, 0.9, True, 0), (3, 0.9, True, 14), (4, 0.2, False, 0)])
    assert refresh_queue(store, "r1", "v-test", now=NOW) == 3
    assert refresh_queue(store, "r2", "v-test", now=NOW) == 0
    queue = pending_queue(store)
    assert [q["platform_post_id"][-1] for q in queue] == ["1", "2", "3"]
    # author weight = 0.3 + 0.7 x ASN-likelihood: 1.0 on the watchlist; make_post's bio "Guru SD, abdi negara"
    # gives likelihood 1 - (1 - 0.6)(1 - 0.25) = 0.7 (pipeline.asn), so weight 0.79; post 3 is two weeks older
    assert asn_likelihood("Guru SD, abdi negara", "Warga 2").score == 0.7
    assert [q["priority"] for q in queue] == pytest.approx([0.9, 0.9 * 0.79, 0.9 * 0.79 * 0.25], abs=1e-9)
    assert queue[0]["on_watchlist"] and not queue[1]["on_watchlist"]
    assert pending_count(store) == 3


def test_other_model_versions_do_not_queue(store: Store) -> None:
    _load(store, [(1, 0.9, True, 0)])
    assert refresh_queue(store, "r1", "v-other", now=NOW) == 0


def test_author_weight_follows_the_asn_likelihood(store: Store) -> None:
    """Same score and age: a post by an account whose bio says nothing of the civil service ranks below one by a
    teacher at a state school, which ranks below one by a declared PNS."""
    bios = {1: "", 2: "Guru SMP Negeri 2", 3: "PNS Dinas Pendidikan"}
    posts = []
    for i, bio in bios.items():
        p = make_post(i, posted_at=NOW.isoformat())
        p["author"] = {**p["author"], "platform_id": str(800 + i), "handle": f"akun{i}@sosial.example", "bio": bio}
        posts.append(parse_post(p))
    shas = [sha256_text(p.text) for p in posts]
    preds = pa.table(
        {
            "platform": ["mastodon"] * 3,
            "platform_post_id": [p.platform_post_id for p in posts],
            "model_version": ["v-test"] * 3,
            "text_sha256": shas,
            "label": ["endorsement"] * 3,
            "scores": [json.dumps({"endorsement": 0.8})] * 3,
            "flag_score": [0.8] * 3,
            "flagged": [True] * 3,
            "reasons": [[]] * 3,
            "predicted_at": [NOW] * 3,
            "run_id": ["r1"] * 3,
        },
        schema=PREDICTIONS_SCHEMA,
    )
    store.load_batch("r1", posts_to_arrow(posts, shas, "r1"), preds, [])
    assert refresh_queue(store, "r1", "v-test", now=NOW) == 3
    got = {q["platform_post_id"][-1]: q["priority"] for q in pending_queue(store)}
    want = {str(i): 0.8 * (0.3 + 0.7 * asn_likelihood(bio, "").score) for i, bio in bios.items()}
    assert got == pytest.approx(want, abs=1e-9)
    assert got["1"] == pytest.approx(0.8 * 0.3) and got["1"] < got["2"] < got["3"]
