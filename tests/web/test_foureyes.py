"""The four-eyes rule as a table: every status, decision and role."""

from __future__ import annotations

import pytest

from pipeline.errors import WorkspaceError
from pipeline.web.foureyes import Decision, can_act, check_form, next_status


@pytest.mark.parametrize(
    ("status", "decision", "role", "before", "after"),
    [
        ("pending", "violation", "reviewer", False, "second_review"),
        ("pending", "not_violation", "reviewer", False, "dismissed"),
        ("pending", "second_opinion", "reviewer", False, "second_opinion"),
        ("pending", "violation", "supervisor", False, "second_review"),
        ("second_opinion", "violation", "reviewer", False, "second_review"),
        ("second_opinion", "not_violation", "reviewer", False, "dismissed"),
        ("second_opinion", "second_opinion", "reviewer", False, "disputed"),
        ("second_review", "violation", "reviewer", False, "confirmed"),
        ("second_review", "violation", "supervisor", False, "confirmed"),
        ("second_review", "not_violation", "reviewer", False, "disputed"),
        ("second_review", "not_violation", "supervisor", False, "dismissed"),
        ("second_review", "second_opinion", "reviewer", False, "disputed"),
        ("disputed", "violation", "supervisor", False, "confirmed"),
        ("disputed", "not_violation", "supervisor", False, "dismissed"),
    ],
)
def test_transitions(status: str, decision: str, role: str, before: bool, after: str) -> None:
    assert next_status(status, decision, role, before) == after


@pytest.mark.parametrize(
    ("status", "decision", "role", "before", "reason"),
    [
        ("second_review", "violation", "reviewer", True, "own_item"),
        ("second_review", "violation", "supervisor", True, "own_item"),
        ("second_opinion", "violation", "reviewer", True, "own_item"),
        ("disputed", "violation", "reviewer", False, "supervisor_only"),
        ("disputed", "violation", "supervisor", True, "own_item"),
        ("disputed", "second_opinion", "supervisor", False, "supervisor_must_decide"),
        ("confirmed", "not_violation", "supervisor", False, "final"),
        ("dismissed", "violation", "supervisor", False, "final"),
        ("pending", "violation", "analyst", False, "own_item"),
    ],
)
def test_refusals(status: str, decision: str, role: str, before: bool, reason: str) -> None:
    with pytest.raises(WorkspaceError) as err:
        next_status(status, decision, role, before)
    assert str(err.value) == reason


def test_can_act_matches_next_status() -> None:
    assert can_act("pending", "reviewer", False)
    assert not can_act("pending", "admin", False)
    assert not can_act("confirmed", "supervisor", False)


def test_form_fields_that_do_not_apply_are_dropped() -> None:
    d = check_form(Decision("not_violation", category="endorsement", skb_item="2", note="  x  ", dismiss_reason=""))
    assert d == Decision("not_violation", note="x")
    with pytest.raises(WorkspaceError):
        check_form(Decision("violation", category="endorsement", skb_item="99"))
