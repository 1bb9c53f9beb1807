from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

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
    assert [round(q["priority"], 3) for q in queue] == [0.9, 0.45, round(0.9 * 0.5 * 0.25, 3)]
    assert queue[0]["on_watchlist"] and not queue[1]["on_watchlist"]
    assert pending_count(store) == 3


def test_other_model_versions_do_not_queue(store: Store) -> None:
    _load(store, [(1, 0.9, True, 0)])
    assert refresh_queue(store, "r1", "v-other", now=NOW) == 0
