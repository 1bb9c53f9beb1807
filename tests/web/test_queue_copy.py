"""The server's in-memory queue and leases: its own decisions and leases update the one row (never a reload), what
changes elsewhere is found at the next look, and a decision's transaction re-checks in the store whatever the copy
said (stale candidates, leases, statuses)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pipeline.errors import WorkspaceError
from pipeline.storage import Store
from pipeline.web import repo
from pipeline.web.foureyes import Decision
from tests.web.seed import add_user, csrf_of, key, sign_in
from tests.web.test_queue import count, ids

SHA = re.compile(r'class="hash">([0-9a-f]{64})<')


def _sha(store: Store, k: tuple[str, str]) -> str:
    return str(store.query("SELECT text_sha256 FROM posts WHERE platform_post_id = ?", [k[1]])[0]["text_sha256"])


def _look_now(app: object) -> None:
    """Skip the wait for the next look at the store."""
    app.state.queue_cache._checked = -60.0  # type: ignore[attr-defined]
    app.state.synced_check = -60.0  # type: ignore[attr-defined]


def _decide(client: TestClient, path: str, decision: str = "not_violation", **fields: str) -> object:
    page = client.get(path).text
    data = {"csrf_token": csrf_of(page), "decision": decision, "text_sha256": SHA.findall(page)[1], **fields}
    return client.post(path.replace("/items/", "/decide/"), data=data, follow_redirects=False)


def test_own_decisions_and_leases_update_the_copy_without_a_reload(
    app: object, clients: dict[str, TestClient], seeded: Store
) -> None:
    rina, budi = clients["rina"], clients["budi"]
    cache = app.state.queue_cache  # type: ignore[attr-defined]
    assert count(rina.get("/queue").text) == 6
    loads = cache.loads
    first = rina.post("/queue/next", data={"csrf_token": csrf_of(rina.get("/queue").text)}).url.path
    assert "dipegang rina" in budi.get("/queue").text  # the lease, from memory
    response = _decide(rina, first)
    assert response.status_code == 303  # type: ignore[attr-defined]
    following = response.headers["location"]  # type: ignore[attr-defined]
    _look_now(app)
    page = budi.get("/queue", params={"view": "open"}).text
    assert count(page) == 5 and first.rsplit("/", 1)[1] not in ids(page)
    assert count(budi.get("/queue", params={"view": "dismissed"}).text) == 1
    assert "dipegang rina" in page and following.rsplit("/", 1)[1] in ids(page)
    assert cache.loads == loads  # the store and the copy agreed at the look: nothing was read again
    held = seeded.query("SELECT platform_post_id, holder FROM review_leases")
    assert held == [{"platform_post_id": following.rsplit("/", 1)[1], "holder": "rina"}]


def test_leases_taken_elsewhere_show_after_the_next_look(
    app: object, clients: dict[str, TestClient], seeded: Store
) -> None:
    rina = clients["rina"]
    assert "dipegang" not in rina.get("/queue").text
    now = datetime.now(UTC)
    assert repo.take_next(seeded, repo.QueueFilter(), "budi", "reviewer", now, 15) == key(1)  # another process
    _look_now(app)
    page = rina.get("/queue").text
    assert "dipegang budi" in page
    # and open next passes over it (the copy knows), landing on the next item
    assert rina.post("/queue/next", data={"csrf_token": csrf_of(page)}).url.path == f"/items/mastodon/{key(2)[1]}"
    repo.release_lease(seeded, key(1), "budi")
    _look_now(app)
    assert "dipegang budi" not in rina.get("/queue").text


def test_a_filtered_count_follows_decisions(clients: dict[str, TestClient]) -> None:
    rina = clients["rina"]
    assert count(rina.get("/queue", params={"watchlist": "1", "view": "open"}).text) == 1
    assert count(rina.get("/queue", params={"watchlist": "1", "view": "open"}).text) == 1  # kept
    assert _decide(rina, f"/items/mastodon/{key(1)[1]}").status_code == 303  # type: ignore[attr-defined]
    assert count(rina.get("/queue", params={"watchlist": "1", "view": "open"}).text) == 0
    assert count(rina.get("/queue", params={"watchlist": "1", "view": "dismissed"}).text) == 1


def test_a_decision_rechecks_stale_candidates_in_the_store(seeded: Store) -> None:
    now = datetime.now(UTC)
    repo.sync_queue(seeded, now)
    # since the copy was made, key(2) was decided (and its reviewer leased key(6)), and key(3) was leased
    budi = repo.decide(
        seeded, key(2), "budi", "reviewer", Decision("not_violation"), _sha(seeded, key(2)), now, 15, [key(6)]
    )
    assert budi == ("dismissed", key(6))
    repo.take_lease(seeded, key(3), "sari", "supervisor", now, 15)
    stale = [key(1), key(2), key(3), key(6), key(4)]
    status, following = repo.decide(
        seeded, key(1), "rina", "reviewer", Decision("second_opinion"), _sha(seeded, key(1)), now, 15, stale
    )
    assert (status, following) == ("second_opinion", key(4))
    leases = {r["platform_post_id"]: r["holder"] for r in seeded.query("SELECT * FROM review_leases")}
    assert leases == {key(3)[1]: "sari", key(6)[1]: "budi", key(4)[1]: "rina"}
    # none acceptable: the next item comes from the store's ranking, never a decided or held one
    status, following = repo.decide(
        seeded, key(4), "rina", "reviewer", Decision("not_violation"), _sha(seeded, key(4)), now, 15, [key(2)]
    )
    assert (status, following) == ("dismissed", key(5))


def test_a_decision_is_checked_in_the_store_whatever_the_copy_says(seeded: Store) -> None:
    now = datetime.now(UTC)
    repo.sync_queue(seeded, now)
    repo.take_lease(seeded, key(1), "budi", "reviewer", now, 15)
    with pytest.raises(WorkspaceError, match="held"):
        repo.decide(seeded, key(1), "rina", "reviewer", Decision("not_violation"), _sha(seeded, key(1)), now, 15)
    with pytest.raises(WorkspaceError, match="text_changed"):
        repo.decide(seeded, key(2), "rina", "reviewer", Decision("not_violation"), "0" * 64, now, 15)
    with pytest.raises(WorkspaceError, match="not_found"):
        repo.decide(seeded, ("mastodon", "404"), "rina", "reviewer", Decision("not_violation"), "0" * 64, now, 15)
    repo.decide(
        seeded, key(2), "rina", "reviewer", Decision("violation", "endorsement", "2"), _sha(seeded, key(2)), now, 15
    )
    with pytest.raises(WorkspaceError, match="own_item"):
        repo.decide(
            seeded, key(2), "rina", "reviewer", Decision("violation", "endorsement", "2"), _sha(seeded, key(2)), now, 15
        )
    # nothing of the refused attempts was written; the accepted one wrote its decision, its audit rows and a lease
    assert [r["platform_post_id"] for r in seeded.query("SELECT * FROM review_decisions")] == [key(2)[1]]
    log = seeded.query("SELECT action, entity_key FROM audit_log WHERE entity = 'review_item' ORDER BY audit_id")
    assert [r["action"] for r in log] == ["lease", "decide", "lease"]
    assert log[1]["entity_key"] == f"mastodon:{key(2)[1]}"


def test_concurrent_decisions_leave_the_copy_equal_to_the_store(app: object, seeded: Store) -> None:
    names = [f"peninjau{i}" for i in range(5)]
    for name in names:
        add_user(seeded, name, "reviewer")

    def work(name: str) -> list[int]:
        client = TestClient(app, base_url="http://127.0.0.1")  # type: ignore[arg-type]
        sign_in(client, name)
        path = client.post("/queue/next", data={"csrf_token": csrf_of(client.get("/queue").text)}).url.path
        codes = []
        for n in range(3):
            if not path.startswith("/items/"):
                break
            decision = ("second_opinion", "violation", "not_violation")[n % 3]
            fields = {"category": "endorsement", "skb_item": "2"} if decision == "violation" else {}
            response = _decide(client, path, decision, **fields)
            codes.append(response.status_code)  # type: ignore[attr-defined]
            path = response.headers.get("location", "")  # type: ignore[attr-defined]
        return codes

    with ThreadPoolExecutor(len(names)) as pool:
        codes = [c for cs in pool.map(work, names) for c in cs]
    assert codes and set(codes) == {303}
    cache = app.state.queue_cache  # type: ignore[attr-defined]
    loads = cache.loads
    _look_now(app)
    clients = TestClient(app, base_url="http://127.0.0.1")  # type: ignore[arg-type]
    sign_in(clients, names[0])
    clients.get("/queue")
    assert cache.loads == loads  # every own change was applied in place, in commit order
    now = datetime.now(UTC)
    stored = {r["platform_post_id"]: r["status"] for r in seeded.query("SELECT * FROM review_queue")}
    assert {k[1]: r["status"] for k, r in cache._by_key.items()} == stored
    leases = {(r["platform"], r["platform_post_id"]): r["holder"] for r in seeded.query("SELECT * FROM review_leases")}
    assert cache.holders(now + timedelta(seconds=1)) == leases


def test_filtered_pages_from_memory_agree_with_the_sql_answer(
    app: object, clients: dict[str, TestClient], seeded: Store
) -> None:
    """Every narrowing and view, for a reviewer and a supervisor, before and after decisions (the copy's counts by
    narrowing are kept current by the server's own decisions, not counted again)."""
    cache = app.state.queue_cache  # type: ignore[attr-defined]
    assert count(clients["rina"].get("/queue").text) == 6  # loads the copy
    watch = repo.watch_entries(seeded)
    label = seeded.query("SELECT label FROM review_items WHERE platform_post_id = ?", [key(1)[1]])[0]["label"]
    narrowings: list[dict[str, object]] = [
        {"region": "35.91"},
        {"agency": "Dinas Pendidikan Kabupaten Tanah Merah"},
        {"watchlist_only": True},
        {"platform": "mastodon"},
        {"platform": "bluesky"},
        {"label": label},
        {"posted_from": datetime(2024, 11, 19, 21, tzinfo=UTC)},
        {"posted_before": datetime(2024, 11, 19, 22, tzinfo=UTC), "platform": "mastodon"},
        {"region": "' OR '1'='1"},
    ]
    views = ("todo", "open", "all", "pending", "second_review", "disputed", "dismissed")

    def agree() -> None:
        for narrow in narrowings:
            for view in views:
                flt = repo.QueueFilter(view=view, **narrow)  # type: ignore[arg-type]
                for user, role in (("rina", "reviewer"), ("sari", "supervisor")):
                    memory, n = cache.filtered_page(flt, role, cache.decided_by(seeded, user), watch)
                    sql, sql_n = repo.queue_page(seeded, flt, user, role)
                    got = ([r["platform_post_id"] for r in memory], n)
                    assert got == ([r["platform_post_id"] for r in sql], sql_n), (flt, user)

    agree()
    rina, budi, sari = clients["rina"], clients["budi"], clients["sari"]
    violation = {"category": "endorsement", "skb_item": "2"}
    assert _decide(rina, f"/items/mastodon/{key(1)[1]}", "violation", **violation).status_code == 303  # type: ignore[attr-defined]
    assert _decide(budi, f"/items/mastodon/{key(1)[1]}").status_code == 303  # type: ignore[attr-defined]
    assert _decide(rina, f"/items/mastodon/{key(2)[1]}", "violation", **violation).status_code == 303  # type: ignore[attr-defined]
    assert _decide(sari, f"/items/mastodon/{key(5)[1]}").status_code == 303  # type: ignore[attr-defined]
    loads = cache.loads
    agree()
    assert cache.loads == loads  # kept current in place, not read again
