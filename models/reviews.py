"""Reviewers' decisions as training labels (`pantau train --with-reviews`).

Reads `review_decisions` joined to the posts they were made on (pipeline.storage, short read connection) and turns
each post's latest decision into one of the six labels:

* `violation` with a `category` that is one of the four partisan labels -> that label;
* `not_violation` -> `political_neutral` when the reviewer's `dismiss_reason` says the post is about the election
  without taking a side (`news_or_information`, `neutral_reminder`, `no_side_taken`) or the `category` says so;
  `non_political` for `not_political`; for `not_asn` and `other` (which say nothing of the content's kind) the
  more probable of the two non-partisan labels under the current model (`resolve`), so a dismissal still teaches
  "do not flag this";
* anything else (`second_opinion`, a violation without a usable category) is skipped and counted.

The text is the version the reviewer decided on: the decision's `text_sha256` picks the current text or an earlier
version from `post_versions`; a decision whose text is no longer stored is skipped and counted. An empty table is
"no extra labels", said plainly, never an error.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.schema import FLAGGED_LABELS, Label
from pipeline.storage import Store

PARTISAN = frozenset(label.value for label in FLAGGED_LABELS)
NEUTRAL_REASONS = frozenset({"news_or_information", "neutral_reminder", "no_side_taken"})
NON_POLITICAL_REASONS = frozenset({"not_political"})
NON_PARTISAN = (Label.political_neutral.value, Label.non_political.value)

_QUERY = """
SELECT d.decision_id, d.platform, d.platform_post_id, d.decision, d.category, d.dismiss_reason, d.text_sha256,
       p.text, p.text_sha256 AS current_sha256
FROM review_decisions d
JOIN posts p ON p.platform = d.platform AND p.platform_post_id = d.platform_post_id
WHERE d.decision IN ('violation', 'not_violation')
QUALIFY row_number() OVER (PARTITION BY d.platform, d.platform_post_id
                           ORDER BY d.decided_at DESC, d.decision_id DESC) = 1
ORDER BY d.platform, d.platform_post_id
"""


@dataclass
class ReviewLabels:
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"id", "text", "label", "author": "reviewers"}
    decisions: int = 0  # posts with a violation / not_violation decision
    skipped: Counter[str] = field(default_factory=Counter)  # why a decision gave no label
    unresolved: list[dict[str, Any]] = field(default_factory=list)  # dismissals whose kind the model decides

    def summary(self) -> str:
        if not self.decisions:
            return (
                "no reviewer decisions in the database yet: no extra labels, the model is trained on models/data only"
            )
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{len(self.rows)} labels from {self.decisions} reviewed posts (skipped: {skipped})"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reviewer_labels(store: Store) -> ReviewLabels:
    """The latest decision of every reviewed post as a labelled row (see the module docstring)."""
    out = ReviewLabels()
    decisions = store.query(_QUERY)
    out.decisions = len(decisions)
    if not decisions:
        return out
    versions: dict[tuple[str, str], list[str]] = {}
    for v in store.query(
        "SELECT v.platform, v.platform_post_id, v.text FROM post_versions v "
        "JOIN review_decisions d ON d.platform = v.platform AND d.platform_post_id = v.platform_post_id"
    ):
        versions.setdefault((v["platform"], v["platform_post_id"]), []).append(v["text"])
    for d in decisions:
        text = _decided_text(d, versions.get((d["platform"], d["platform_post_id"]), []))
        if text is None:
            out.skipped["text decided on no longer stored"] += 1
            continue
        row = {"id": f"review-{d['decision_id']}", "text": text, "author": "reviewers", "source": "review_decisions"}
        category, reason = d["category"], d["dismiss_reason"]
        if d["decision"] == "violation":
            if category not in PARTISAN:
                out.skipped["violation without a partisan category"] += 1
                continue
            out.rows.append({**row, "label": category})
        elif category in NON_PARTISAN:
            out.rows.append({**row, "label": category})
        elif reason in NEUTRAL_REASONS:
            out.rows.append({**row, "label": Label.political_neutral.value})
        elif reason in NON_POLITICAL_REASONS:
            out.rows.append({**row, "label": Label.non_political.value})
        else:
            out.unresolved.append(row)
    return out


def _decided_text(d: dict[str, Any], earlier: list[str]) -> str | None:
    want = d["text_sha256"]
    if not want or want == d["current_sha256"]:
        return str(d["text"])
    for text in earlier:
        if _sha(text) == want:
            return text
    return None


def resolve(labels: ReviewLabels, more_probable: Callable[[list[str]], list[str]]) -> ReviewLabels:
    """Give the unresolved dismissals the label `more_probable(texts)` returns (one of NON_PARTISAN each)."""
    if labels.unresolved:
        picked = more_probable([r["text"] for r in labels.unresolved])
        for row, label in zip(labels.unresolved, picked, strict=True):
            if label not in NON_PARTISAN:
                raise ValueError(f"expected one of {NON_PARTISAN}, got {label!r}")
            labels.rows.append({**row, "label": label})
        labels.unresolved = []
    return labels
