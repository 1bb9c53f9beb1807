"""Sign-in, sessions and CSRF: argon2 hashes, cookie flags, throttling, sign-out ending every copy of a session."""

from __future__ import annotations

import stat

from fastapi.testclient import TestClient

from pipeline.config import Settings
from pipeline.storage import Store
from tests.web.seed import PASSWORD, all_routes, csrf_of, sign_in


def test_passwords_are_stored_as_argon2id_hashes(seeded: Store) -> None:
    rows = seeded.query("SELECT username, password_hash FROM users")
    assert rows and all(r["password_hash"].startswith("$argon2id$") for r in rows)
    assert all(PASSWORD not in r["password_hash"] for r in rows)


def test_session_cookie_is_httponly_samesite_and_signed(app: object) -> None:
    client = TestClient(app, base_url="http://127.0.0.1")  # type: ignore[arg-type]
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    token = csrf_of(response.text)
    client.cookies.set("pantau_session", "forged" + client.cookies["pantau_session"][6:])
    refused = client.post("/login", data={"username": "rina", "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 403  # a tampered cookie is a new, empty session: its CSRF token is gone


def test_secure_cookie_when_configured_and_secret_file_is_private(settings: Settings, seeded: Store) -> None:
    from pipeline.web.app import create_app

    app = create_app(settings.model_copy(update={"cookie_secure": True}))
    try:
        cookie = TestClient(app, base_url="https://127.0.0.1").get("/login").headers["set-cookie"].lower()
        assert "; secure" in cookie
    finally:
        app.state.gate.close()
    mode = stat.S_IMODE(settings.session_secret_path.stat().st_mode)
    assert mode == 0o600


def test_sign_in_and_out(clients: dict[str, TestClient]) -> None:
    rina = clients["rina"]
    assert "rina" in rina.get("/queue").text
    token = csrf_of(rina.get("/queue").text)
    response = rina.post("/logout", data={"csrf_token": token})
    assert response.url.path == "/login"
    assert rina.get("/queue").url.path == "/login"


def test_sign_out_ends_a_copied_session_cookie(app: object) -> None:
    a = TestClient(app, base_url="http://127.0.0.1")  # type: ignore[arg-type]
    sign_in(a, "rina")
    stolen = a.cookies["pantau_session"]
    a.post("/logout", data={"csrf_token": csrf_of(a.get("/queue").text)})
    b = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)  # type: ignore[arg-type]
    b.cookies.set("pantau_session", stolen)
    response = b.get("/queue")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_wrong_password_and_unknown_user_fail_alike(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    wrong = sign_in(anon, "rina", "salah-salah-salah")
    unknown = sign_in(anon, "tidakada", "salah-salah-salah")
    assert wrong.status_code == unknown.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in wrong.text


def test_login_is_throttled_after_repeated_failures(clients: dict[str, TestClient], seeded: Store) -> None:
    anon = clients["anon"]
    for _ in range(3):  # the fixture's settings allow 3 failures per account
        assert sign_in(anon, "budi", "bukan-kata-sandinya").status_code == 401
    blocked = sign_in(anon, "budi")  # even the right password now waits
    assert blocked.status_code == 429 and "Terlalu banyak percobaan" in blocked.text
    assert sign_in(anon, "rina").status_code == 200  # other accounts are not affected
    attempts = seeded.query("SELECT count(*) AS n FROM login_attempts WHERE username = 'budi' AND NOT succeeded")
    assert attempts[0]["n"] == 3


def test_disabled_account_is_signed_out_at_once(clients: dict[str, TestClient]) -> None:
    budi, adm = clients["budi"], clients["adm"]
    assert budi.get("/queue").url.path == "/queue"
    token = csrf_of(adm.get("/users").text)
    adm.post("/users/enabled", data={"csrf_token": token, "username": "budi", "enabled": "0"})
    assert budi.get("/queue").url.path == "/login"
    assert sign_in(clients["anon"], "budi").status_code == 401


def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(app: object, clients: dict[str, TestClient]) -> None:
    posts = [r.path for r in all_routes() if "POST" in r.methods]
    assert len(posts) >= 9
    rina = clients["rina"]
    for path in posts:
        concrete = path.replace("{platform}", "mastodon").replace("{post_id:path}", "110000000000000001")
        for data in ({}, {"csrf_token": "not-the-token"}):
            response = rina.post(concrete, data=data)
            assert response.status_code in (403,), (concrete, response.status_code)
    assert rina.get("/queue").status_code == 200  # still signed in: nothing happened


def test_open_redirect_after_login_is_refused(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    token = csrf_of(anon.get("/login").text)
    response = anon.post(
        "/login", data={"username": "rina", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    )
    assert response.url.host == "127.0.0.1" and response.url.path == "/queue"
