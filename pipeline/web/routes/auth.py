"""Sign in (throttled), sign out (ends every copy of the session), and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.web import auth, repo
from pipeline.web.app import flash, language, render
from pipeline.web.i18n import LANGUAGES, translate

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no '//' or backslash tricks)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if auth.current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None, username="")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    settings, gate = request.app.state.settings, request.app.state.gate
    username = username.strip()[:64]
    client = request.client.host if request.client else "unknown"
    lang = language(request)
    if auth.throttled(gate, settings, username, client):
        message = translate(lang, "login.throttled", minutes=f"{settings.login_window_minutes:g}")
        return render(request, "login.html", 429, next=safe_next(next), error=message, username=username)
    with gate.session() as store:
        row = repo.get_user(store, username)
    ok = auth.verify_password(row["password_hash"] if row else None, password) and bool(row and row["enabled"])
    with gate.writing() as store:
        repo.record_login(store, username, client, ok, auth.now_utc())
    if not ok:
        message = translate(lang, "login.failed")
        return render(request, "login.html", 401, next=safe_next(next), error=message, username=username)
    auth.start_session(request, username)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    auth.check_csrf(request, csrf_token)
    user = auth.current_user(request)
    if user is not None:
        with request.app.state.gate.writing() as store:
            repo.end_sessions(store, user["username"], auth.now_utc())
        auth.forget_users(request.app.state)
    lang = language(request)
    request.session.clear()
    request.session["lang"] = lang
    flash(request, "logout.done")
    return RedirectResponse("/login", status_code=303)


@router.post("/language")
def switch_language(
    request: Request,
    lang: Annotated[str, Form()] = "id",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(safe_next(next), status_code=303)
