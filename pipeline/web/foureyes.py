"""The four-eyes rule: which decision moves a review item to which status, and who may make it.

    pending ──violation──> second_review ──violation (another person)──> confirmed
       │                        │──not_violation by a reviewer / second_opinion──> disputed ──supervisor──> confirmed
       │                        └──not_violation by a supervisor──> dismissed                              or dismissed
       ├──not_violation──> dismissed
       └──second_opinion──> second_opinion (another reviewer decides as if first; unsure again ──> disputed)

A violation is confirmed only when two different people said so, or a supervisor agreed with a reviewer; a person
never decides the same item twice; nothing is overwritten (every decision is a new row in review_decisions).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import WorkspaceError
from pipeline.web.taxonomy import CATEGORIES, DECIDERS, DECISIONS, DISMISS_REASONS, SKB_ITEMS

MAX_NOTE_CHARS = 4000

_NEXT: dict[tuple[str, str], str] = {
    ("pending", "violation"): "second_review",
    ("pending", "not_violation"): "dismissed",
    ("pending", "second_opinion"): "second_opinion",
    ("second_opinion", "violation"): "second_review",
    ("second_opinion", "not_violation"): "dismissed",
    ("second_opinion", "second_opinion"): "disputed",
    ("second_review", "violation"): "confirmed",
    ("second_review", "not_violation"): "disputed",
    ("second_review", "second_opinion"): "disputed",
    ("disputed", "violation"): "confirmed",
    ("disputed", "not_violation"): "dismissed",
}


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision as submitted (validated by `check_form`)."""

    decision: str
    category: str | None = None
    skb_item: str | None = None
    note: str = ""
    dismiss_reason: str | None = None


def check_form(decision: Decision) -> Decision:
    """Refuse a decision whose fields do not fit it; return it with the fields that do not apply cleared."""
    if decision.decision not in DECISIONS:
        raise WorkspaceError("bad_decision")
    if len(decision.note) > MAX_NOTE_CHARS:
        raise WorkspaceError("note_too_long")
    note = decision.note.strip()
    if decision.decision == "violation":
        if decision.category not in CATEGORIES or decision.skb_item not in SKB_ITEMS:
            raise WorkspaceError("violation_needs_category")
        return Decision("violation", decision.category, decision.skb_item, note)
    if decision.decision == "not_violation":
        reason = decision.dismiss_reason or None
        if reason is not None and reason not in DISMISS_REASONS:
            raise WorkspaceError("bad_reason")
        return Decision("not_violation", note=note, dismiss_reason=reason)
    return Decision("second_opinion", note=note)


def can_act(status: str, role: str, decided_before: bool) -> bool:
    """Whether this person may decide an item in this status now."""
    if role not in DECIDERS or status in ("confirmed", "dismissed"):
        return False
    if status == "pending":
        return True
    if decided_before:
        return False
    return status != "disputed" or role == "supervisor"


def next_status(status: str, decision: str, role: str, decided_before: bool) -> str:
    """The status the item moves to, or WorkspaceError saying why this person may not decide it now."""
    if status in ("confirmed", "dismissed"):
        raise WorkspaceError("final")
    if not can_act(status, role, decided_before):
        raise WorkspaceError("supervisor_only" if status == "disputed" and not decided_before else "own_item")
    if status == "disputed" and decision == "second_opinion":
        raise WorkspaceError("supervisor_must_decide")
    if status == "second_review" and decision == "not_violation" and role == "supervisor":
        return "dismissed"  # a supervisor's word settles a disagreement
    try:
        return _NEXT[(status, decision)]
    except KeyError:
        raise WorkspaceError("bad_decision") from None
