"""Classify a batch of validated posts into prediction rows (Arrow), the form the store appends."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from models.predict import Classifier
from pipeline.schema import FLAGGED_LABELS, Post
from pipeline.storage import PREDICTIONS_SCHEMA

_FLAGGED = sorted(label.value for label in FLAGGED_LABELS)


def classify_posts(
    classifier: Classifier, posts: Sequence[Post], text_shas: Sequence[str], run_id: str
) -> tuple[pa.Table, Counter[str]]:
    """Predict every post; return the prediction rows and the count of flagged posts per label."""
    results = classifier.predict([p.text for p in posts], [p.author.bio for p in posts])
    now = datetime.now(UTC)
    flagged: Counter[str] = Counter()
    rows: dict[str, list[object]] = {name: [] for name in PREDICTIONS_SCHEMA.names}
    for post, sha, res in zip(posts, text_shas, results, strict=True):
        if res.flagged:
            flagged[res.label.value] += 1
        values = (
            post.platform.value,
            post.platform_post_id,
            classifier.version,
            sha,
            res.label.value,
            json.dumps(res.scores),
            sum(res.scores.get(k, 0.0) for k in _FLAGGED),
            res.flagged,
            list(res.reasons),
            now,
            run_id,
        )
        for name, value in zip(PREDICTIONS_SCHEMA.names, values, strict=True):
            rows[name].append(value)
    return pa.table(rows, schema=PREDICTIONS_SCHEMA), flagged
