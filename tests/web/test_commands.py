"""`pantau user add` (password from stdin, never an argument) and `pantau serve` as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.storage import Store
from tests.web.seed import CSRF, PASSWORD
from tests.web.server import pantau_env, running_server


def _user_add(data_dir: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "user", "add", *args],
        cwd=PROJECT_ROOT,
        env=pantau_env(data_dir),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    done = _user_add(tmp_path, "rina", "--role", "supervisor", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    rows = Store(tmp_path / "pantau.duckdb").query("SELECT username, role, password_hash FROM users")
    assert rows[0]["username"] == "rina" and rows[0]["role"] == "supervisor"
    assert rows[0]["password_hash"].startswith("$argon2id$")
    again = _user_add(tmp_path, "rina", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "taken" in again.stderr


def test_user_add_refuses_bad_input(tmp_path: Path) -> None:
    assert _user_add(tmp_path, "x", "--role", "boss", "--password-stdin", stdin=PASSWORD).returncode == 2
    assert _user_add(tmp_path, "x", "--password-stdin", stdin="pendek\n").returncode == 2
    assert _user_add(tmp_path, "a b", "--password-stdin", stdin=PASSWORD).returncode == 2
    no_flag = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "user", "add", "x", "--password", PASSWORD],
        cwd=PROJECT_ROOT,
        env=pantau_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert no_flag.returncode != 0  # there is no way to pass a password on the command line


def test_serve_answers_over_loopback(tmp_path: Path) -> None:
    assert _user_add(tmp_path, "rina", "--password-stdin", stdin=PASSWORD).returncode == 0
    with running_server(tmp_path, tmp_path / "server.log") as url, httpx.Client(base_url=url) as client:
        page = client.get("/login")
        assert page.status_code == 200 and "Masuk" in page.text
        token = CSRF.search(page.text)
        assert token
        response = client.post(
            "/login",
            data={"username": "rina", "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=True,
        )
        assert response.status_code == 200 and response.url.path == "/queue"
        assert "httponly" in page.headers["set-cookie"].lower()


def test_demo_workspace_makes_its_accounts_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.config import Settings
    from pipeline.web import auth
    from pipeline.web.commands import DEMO_USERS, demo_workspace

    settings = Settings(data_dir=tmp_path)
    assert demo_workspace(settings, serve_now=False) == [name for name, _ in DEMO_USERS]
    assert demo_workspace(settings, serve_now=False) == []  # a second demo run keeps the accounts as they are
    password = (tmp_path / ".demo-password").read_text(encoding="ascii").strip()[:20]
    assert oct((tmp_path / ".demo-password").stat().st_mode & 0o777) == "0o600"
    out = capsys.readouterr().out
    assert password in out
    hint = out.split("start it with: ", 1)[1].splitlines()[0].split()
    assert hint[0] == f"PANTAU_DATA_DIR={tmp_path}" and hint[2] == "serve"
    assert Path(hint[1]).name == "pantau" and (hint[1] == "pantau" or Path(hint[1]).is_file())  # runnable as shown
    rows = Store(settings.database).query("SELECT username, role, password_hash FROM users ORDER BY username")
    assert {(r["username"], r["role"]) for r in rows} == set(DEMO_USERS)
    assert all(auth.verify_password(r["password_hash"], password) for r in rows)
    assert not auth.verify_password(rows[0]["password_hash"], password + "x")
