"""The review workspace's fixed vocabularies: roles, decisions, item statuses, behaviour categories, SKB 2022 items
and the reasons a reviewer may give for "not a violation" (they become retraining labels).

Codes are stored in English; the message catalogue (`i18n.py`) gives each its Indonesian and English name.
"""

from __future__ import annotations

from pipeline.schema import FLAGGED_LABELS, Label

ROLES = ("reviewer", "supervisor", "analyst", "admin")
DECIDERS = frozenset({"reviewer", "supervisor"})
READERS = frozenset({"reviewer", "supervisor", "analyst"})  # who may read evidence

DECISIONS = ("violation", "not_violation", "second_opinion")

# Item status in review_items.status. 'pending' is the pipeline's; the others are the workspace's four-eyes states.
STATUSES = ("pending", "second_opinion", "second_review", "disputed", "confirmed", "dismissed")
OPEN_STATUSES = ("pending", "second_opinion", "second_review", "disputed")

# Behaviour categories are the four flagged labels of TAXONOMY.md, in its order.
CATEGORIES: tuple[str, ...] = tuple(lbl.value for lbl in Label if lbl in FLAGGED_LABELS)

# The SKB 2022 items the taxonomy links to each behaviour (its "legal hook" column): offered first in the form.
SKB_ITEMS: tuple[str, ...] = tuple(str(n) for n in range(1, 13))
SKB_FOR_CATEGORY: dict[str, tuple[str, ...]] = {
    "endorsement": ("2", "6", "8"),
    "campaign": ("2", "4", "6", "9", "10", "11"),
    "attack": ("2", "6", "8"),
    "symbol": ("7",),
}

# Why a flagged post is not a violation: each maps to what the post really is, for retraining.
DISMISS_REASONS = (
    "news_or_information",
    "neutral_reminder",
    "not_political",
    "not_asn",
    "no_side_taken",
    "other",
)
