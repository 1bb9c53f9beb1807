"""Who is asking: argon2 password hashes, the signed session, CSRF tokens, sign-in throttling and role checks.

The session is a signed cookie (HttpOnly, SameSite=Lax, Secure when configured) holding the user name, when it was
issued, a CSRF token and the language. Every request re-reads the user's row, so a disabled account or a sign-out
(which moves `users.sessions_after` forward) ends every copy of the cookie at once.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request

from pipeline.config import Settings
from pipeline.web import repo
from pipeline.web.db import Gate

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD_CHARS = 12
# verifying against this keeps a wrong user name as slow as a wrong password (no user-name probing by timing)
_DUMMY_HASH = _hasher.hash("pantau-dummy-password")


class LoginRequired(Exception):
    """Internal signal: the request needs a signed-in user; the app answers with a redirect to /login."""


class CsrfError(Exception):
    """Internal signal: a form came without the session's CSRF token; the app answers 403."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def load_or_create_secret(path: Path) -> str:
    """The session-signing key: read it, or make one on first use, readable by its owner only."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- session -----------------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not secrets.compare_digest(str(expected), submitted):
        raise CsrfError()


def start_session(request: Request, username: str) -> None:
    """A fresh session for a signed-in user (a new CSRF token; nothing carried over from before sign-in)."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(
        {"user": username, "issued": time.time(), "csrf": secrets.token_urlsafe(32), "lang": lang or "id"}
    )


def current_user(request: Request) -> dict[str, Any] | None:
    """The signed-in, enabled user of this request, or None. Cached on the request."""
    if hasattr(request.state, "user"):
        return request.state.user  # type: ignore[no-any-return]
    user = None
    name = request.session.get("user")
    issued = request.session.get("issued")
    settings: Settings = request.app.state.settings
    if isinstance(name, str) and isinstance(issued, int | float):
        issued_at = datetime.fromtimestamp(issued, UTC)
        fresh = now_utc() - issued_at < timedelta(hours=settings.session_hours)
        row = _user_row(request.app.state, name) if fresh else None
        if row and row["enabled"] and issued_at > row["sessions_after"]:
            user = row
    request.state.user = user
    return user


USER_CACHE_S = 5.0  # accounts change rarely; the server's own changes (disable, sign-out) clear the cache at once


def _user_row(state: Any, name: str) -> dict[str, Any] | None:
    cache: dict[str, tuple[float, dict[str, Any]]] = state.user_cache
    hit = cache.get(name)
    if hit is not None and time.monotonic() - hit[0] < USER_CACHE_S:
        return hit[1]
    gate: Gate = state.gate
    with gate.session() as store:
        row = repo.get_user(store, name)
    if row is not None:
        cache[name] = (time.monotonic(), row)
    return row


def forget_users(state: Any) -> None:
    """Drop cached accounts (after the server changed one)."""
    state.user_cache.clear()


def require(*roles: str) -> Callable[[Request], dict[str, Any]]:
    """A FastAPI dependency: the signed-in user, who must have one of `roles` (403 otherwise)."""

    def dependency(request: Request) -> dict[str, Any]:
        user = current_user(request)
        if user is None:
            raise LoginRequired()
        if user["role"] not in roles:
            raise HTTPException(status_code=403)
        return user

    return dependency


# --- throttling ----------------------------------------------------------------------------------------------------


def throttled(gate: Gate, settings: Settings, username: str, client: str) -> bool:
    """True while this account (or this client address) has too many recent failed sign-ins."""
    since = now_utc() - timedelta(minutes=settings.login_window_minutes)
    with gate.session() as store:
        by_user, by_client = repo.recent_failures(store, username, client, since)
    return by_user >= settings.login_max_failures or by_client >= 4 * settings.login_max_failures
