"""Role checks on every route: analysts read but never decide, reviewers never manage users, admins manage users
and read no evidence; a visitor who is not signed in is sent to the login page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.seed import all_routes, csrf_of

ITEM = "mastodon/110000000000000001"
# who may use each route (by path template and method); anything else must answer 403
ALLOWED = {
    ("GET", "/queue"): {"rina", "sari", "ana"},
    ("POST", "/queue/next"): {"rina", "sari"},
    ("GET", "/items/{platform}/{post_id:path}"): {"rina", "sari", "ana"},
    ("POST", "/decide/{platform}/{post_id:path}"): {"rina", "sari"},
    ("POST", "/lease/{platform}/{post_id:path}"): {"rina", "sari"},
    ("POST", "/release/{platform}/{post_id:path}"): {"rina", "sari"},
    ("GET", "/audit/{platform}/{post_id:path}"): {"rina", "sari", "ana"},
    ("GET", "/casefile/{platform}/{post_id:path}"): {"rina", "sari"},
    ("GET", "/users"): {"adm"},
    ("POST", "/users"): {"adm"},
    ("POST", "/users/enabled"): {"adm"},
    ("GET", "/dashboard"): {"rina", "sari", "ana", "adm"},
    ("GET", "/runs"): {"sari", "adm"},
}
OPEN = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/language"), ("GET", "/")}


def test_every_route_is_in_the_role_table() -> None:
    routes = {(m, r.path) for r in all_routes() for m in r.methods if m != "HEAD"}
    assert routes == set(ALLOWED) | OPEN


def test_each_role_gets_403_where_it_does_not_belong(clients: dict[str, TestClient]) -> None:
    for (method, path), allowed in ALLOWED.items():
        concrete = path.replace("{platform}/{post_id:path}", ITEM)
        for name in ("rina", "sari", "ana", "adm"):
            client = clients[name]
            data = {"csrf_token": csrf_of(client.get("/login").text if name == "adm" else client.get("/queue").text)}
            response = client.request(method, concrete, data=data if method == "POST" else None)
            if name in allowed:
                assert response.status_code != 403, (name, method, concrete)
            else:
                assert response.status_code == 403, (name, method, concrete, response.status_code)


def test_not_signed_in_goes_to_login(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    for (method, path), _ in ALLOWED.items():
        if method != "GET":
            continue
        response = anon.get(path.replace("{platform}/{post_id:path}", ITEM))
        assert response.url.path == "/login"


def test_analyst_sees_no_decision_forms(clients: dict[str, TestClient]) -> None:
    page = clients["ana"].get(f"/items/{ITEM}").text
    assert "Anda hanya dapat membaca butir ini" in page
    assert 'id="decide-violation"' not in page and "/queue/next" not in page
