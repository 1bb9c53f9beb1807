"""Group commit of decisions: decisions that wait while a transaction is written go together in the next one; each is
still checked on its own, in order, against the state the earlier ones of its group left; a refused one writes
nothing and gets its own error while the others are written; a group whose transaction fails is written one decision
at a time, and a decision that cannot be written is never acknowledged.

Concurrency is made deterministic, not timed: the test holds the server's write lock until every request is waiting,
so that they all form one group, written when the lock is let go."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.errors import WorkspaceError
from pipeline.storage import Store
from pipeline.web import queuecache, repo
from pipeline.web.foureyes import Decision
from pipeline.web.routes import queue as queue_routes
from tests.web.seed import add_user, csrf_of, key
from tests.web.test_queue_copy import SHA, _sha

VIOLATION = {"category": "endorsement", "skb_item": "2"}
Post = tuple[TestClient, str, dict[str, str]]


def _path(k: tuple[str, str], action: str = "items") -> str:
    return f"/{action}/{k[0]}/{k[1]}"


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No look at the store for changes during a test (a look takes the write lock the test holds)."""
    monkeypatch.setattr(queuecache, "CHECK_S", 3600.0)
    monkeypatch.setattr(queue_routes, "SYNC_CHECK_S", 3600.0)


def _prepared(client: TestClient, k: tuple[str, str], decision: str, lease: bool = True) -> Post:
    """Open the item (and lease it, as "open next" would have), and make the decision's form as its page does."""
    page = client.get(_path(k)).text
    if lease:
        page = client.post(_path(k, "lease"), data={"csrf_token": csrf_of(page)}).text
    fields = VIOLATION if decision == "violation" else {}
    data = {"csrf_token": csrf_of(page), "decision": decision, "text_sha256": SHA.findall(page)[1], **fields}
    return client, _path(k, "decide"), data


def _wait_until(condition: Callable[[], bool]) -> None:
    """Wait for a state of the server (not a speed: the bound is only there so that a broken test cannot hang)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the requests never all waited for a group"
        time.sleep(0.01)


def _together(app: Any, posts: list[Post]) -> list[Any]:
    """Send the decisions at once while the write lock is held, so that all of them wait for one group."""
    commit, gate = app.state.group_commit, app.state.gate
    with ThreadPoolExecutor(len(posts)) as pool:
        with gate.write_lock:
            futures = [pool.submit(c.post, path, data=data, follow_redirects=False) for c, path, data in posts]
            _wait_until(lambda: commit.waiting == len(posts))
        return [f.result() for f in futures]


def _statuses(store: Store) -> dict[str, str]:
    return {
        r["platform_post_id"]: r["status"] for r in store.query("SELECT platform_post_id, status FROM review_items")
    }


def test_decisions_waiting_together_are_one_transaction_and_a_refused_one_fails_alone(
    app: Any, clients: dict[str, TestClient], seeded: Store, quiet: None
) -> None:
    for name in ("dewi", "eko"):
        add_user(seeded, name, "reviewer")
    _prepared(clients["eko"], key(4), "not_violation")  # eko holds item 4 and does not decide it
    deciders = [("rina", 1, "not_violation"), ("budi", 2, "second_opinion"), ("sari", 3, "violation")]
    posts = [_prepared(clients[name], key(i), decision) for name, i, decision in deciders]
    posts.append(_prepared(clients["dewi"], key(4), "not_violation", lease=False))  # held by eko: refused
    commit = app.state.group_commit
    before = commit.sizes.copy()
    responses = _together(app, posts)

    assert [r.status_code for r in responses] == [303, 303, 303, 409]
    assert "Butir ini sedang dipegang peninjau lain." in responses[3].text
    assert commit.sizes - before == Counter({4: 1})  # one transaction carried all four
    rows = seeded.query("SELECT reviewer, platform_post_id, status_after, decided_at FROM review_decisions")
    assert {(r["reviewer"], r["platform_post_id"], r["status_after"]) for r in rows} == {
        ("rina", key(1)[1], "dismissed"),
        ("budi", key(2)[1], "second_opinion"),
        ("sari", key(3)[1], "second_review"),
    }
    assert len({r["decided_at"] for r in rows}) == 1  # stamped once, for the group
    statuses = _statuses(seeded)
    assert [statuses[key(i)[1]] for i in range(1, 7)] == [
        "dismissed", "second_opinion", "second_review", "pending", "pending", "pending"
    ]  # fmt: skip
    # the two items left went to two of the three, one each; eko kept his; nobody was acknowledged twice
    leases = {r["platform_post_id"]: r["holder"] for r in seeded.query("SELECT * FROM review_leases")}
    assert leases.pop(key(4)[1]) == "eko"
    assert set(leases) == {key(5)[1], key(6)[1]} and len(set(leases.values())) == 2
    for (name, _, _), response in zip(deciders, responses, strict=False):
        held = [post_id for post_id, holder in leases.items() if holder == name]
        assert response.headers["location"] == (_path(("mastodon", held[0])) if held else "/queue")
    # the in-memory queue followed the group, in place
    cache = app.state.queue_cache
    assert {k[1]: r["status"] for k, r in cache._by_key.items()} == statuses
    holders = cache.holders(datetime.now(UTC) + timedelta(seconds=1))
    assert {k[1]: h for k, h in holders.items()} == {**leases, key(4)[1]: "eko"}


def test_each_decision_of_a_group_is_checked_against_the_earlier_ones(seeded: Store) -> None:
    now = datetime.now(UTC)
    repo.sync_queue(seeded, now)
    repo.take_lease(seeded, key(4), "sari", "supervisor", now, 15)
    violation, no = Decision("violation", "endorsement", "2"), Decision("not_violation")

    def asked(i: int, user: str, d: Decision, sha: str | None = None) -> repo.DecisionRequest:
        return repo.DecisionRequest(key(i), user, "reviewer", d, sha or _sha(seeded, key(i)))

    requests = [
        asked(1, "rina", violation),  # pending: second review
        asked(1, "rina", violation),  # the same person again, after their own decision of this group: refused
        asked(1, "budi", violation),  # a second person: confirmed
        asked(2, "rina", no, sha="0" * 64),  # the text changed: refused
        asked(4, "budi", no),  # held by sari: refused
        asked(3, "budi", Decision("second_opinion")),  # leased to budi by his decision above: written
    ]
    outcomes = repo.decide_group(seeded, requests, now, 15)
    assert [str(o) if isinstance(o, WorkspaceError) else o[0] for o in outcomes] == [
        "second_review", "own_item", "confirmed", "text_changed", "held", "second_opinion"
    ]  # fmt: skip
    rows = seeded.query(
        "SELECT reviewer, platform_post_id, status_before, status_after FROM review_decisions ORDER BY decision_id"
    )
    assert [(r["reviewer"], r["platform_post_id"], r["status_before"], r["status_after"]) for r in rows] == [
        ("rina", key(1)[1], "pending", "second_review"),
        ("budi", key(1)[1], "second_review", "confirmed"),
        ("budi", key(3)[1], "pending", "second_opinion"),
    ]
    statuses = _statuses(seeded)
    assert [statuses[key(i)[1]] for i in range(1, 5)] == ["confirmed", "pending", "second_opinion", "pending"]
    copy = {r["platform_post_id"]: r["status"] for r in seeded.query("SELECT * FROM review_queue")}
    assert copy == statuses
    # next items in order: rina got 2, budi got 3 and then, deciding it, 5 (4 is sari's)
    assert [o[1] for o in outcomes if not isinstance(o, WorkspaceError)] == [key(2), key(3), key(5)]
    leases = {r["platform_post_id"]: r["holder"] for r in seeded.query("SELECT * FROM review_leases")}
    assert leases == {key(2)[1]: "rina", key(4)[1]: "sari", key(5)[1]: "budi"}
    log = seeded.query("SELECT actor, action FROM audit_log WHERE entity = 'review_item' ORDER BY audit_id")
    assert [(r["actor"], r["action"]) for r in log] == [
        ("sari", "lease"),
        ("rina", "decide"), ("rina", "lease"),
        ("budi", "decide"), ("budi", "lease"),
        ("budi", "decide"), ("budi", "lease"),
    ]  # fmt: skip


def _fail_after_writing(monkeypatch: pytest.MonkeyPatch, when: Callable[[int], bool]) -> None:
    """Make a group's transaction fail with a DuckDB error after all its writes, when `when(its decisions)`."""
    write = repo._Group.write

    def write_then_fail(group: Any, con: Any) -> None:
        write(group, con)
        if when(len(group.decisions)):
            con.execute("SELECT error('disk full')")

    monkeypatch.setattr(repo._Group, "write", write_then_fail)


def test_a_group_whose_transaction_fails_is_written_one_decision_at_a_time(
    app: Any, clients: dict[str, TestClient], seeded: Store, quiet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = [_prepared(clients["rina"], key(1), "violation"), _prepared(clients["budi"], key(2), "not_violation")]
    posts.append(_prepared(clients["sari"], key(3), "second_opinion"))
    _fail_after_writing(monkeypatch, lambda n: n > 1)
    commit = app.state.group_commit
    before = commit.sizes.copy()
    responses = _together(app, posts)

    assert [r.status_code for r in responses] == [303, 303, 303]
    assert commit.failed_groups == 1 and commit.sizes - before == Counter({1: 3})
    rows = seeded.query("SELECT reviewer, status_after FROM review_decisions ORDER BY reviewer")
    assert [(r["reviewer"], r["status_after"]) for r in rows] == [
        ("budi", "dismissed"),
        ("rina", "second_review"),
        ("sari", "second_opinion"),
    ]  # fmt: skip  (each once: nothing of the failed group stayed)
    decided = seeded.query("SELECT count(*) AS n FROM audit_log WHERE action = 'decide'")[0]["n"]
    assert decided == 3


def test_a_decision_that_cannot_be_written_is_never_acknowledged(
    app: Any, clients: dict[str, TestClient], seeded: Store, quiet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = [_prepared(clients["rina"], key(1), "violation"), _prepared(clients["budi"], key(2), "not_violation")]
    _fail_after_writing(monkeypatch, lambda n: True)
    responses = _together(app, posts)

    assert [r.status_code for r in responses] == [409, 409]
    assert all("Keputusan belum tersimpan" in r.text for r in responses)
    assert seeded.query("SELECT count(*) AS n FROM review_decisions")[0]["n"] == 0
    assert seeded.query("SELECT count(*) AS n FROM audit_log WHERE action = 'decide'")[0]["n"] == 0
    assert set(_statuses(seeded).values()) == {"pending"}
    cache = app.state.queue_cache
    assert {r["status"] for r in cache._by_key.values()} == {"pending"}  # the copy did not move either
    assert app.state.group_commit.waiting == 0
    monkeypatch.undo()  # and the store works on: the same decision, sent again, is written
    client, path, data = posts[0]
    assert client.post(path, data=data, follow_redirects=False).status_code == 303
    assert _statuses(seeded)[key(1)[1]] == "second_review"
