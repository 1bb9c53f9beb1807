"""Accounts, for admins only: list, add (argon2-hashed password), disable or enable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.web import auth, repo
from pipeline.web.app import flash, language, render
from pipeline.web.i18n import translate
from pipeline.web.taxonomy import ROLES

router = APIRouter()
Admin = Annotated[dict[str, Any], Depends(auth.require("admin"))]


def _page(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    with request.app.state.gate.session() as store:
        users = repo.list_users(store)
    return render(request, "users.html", status_code, users=users, roles=ROLES, error=error)


@router.get("/users")
def users_page(request: Request, user: Admin) -> Response:
    return _page(request)


@router.post("/users")
def add_user(
    request: Request,
    user: Admin,
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    lang = language(request)
    if not auth.USERNAME.match(username):
        return _page(request, 400, translate(lang, "users.bad_name"))
    if len(password) < auth.MIN_PASSWORD_CHARS:
        return _page(request, 400, translate(lang, "users.weak_password"))
    if role not in ROLES:
        return _page(request, 400, translate(lang, "error.bad_input", detail="role"))
    with request.app.state.gate.writing() as store:
        repo.add_user(store, username, auth.hash_password(password), role, user["username"], auth.now_utc())
    flash(request, "users.added", user=username)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/enabled")
def set_enabled(
    request: Request,
    user: Admin,
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "0",
) -> Response:
    auth.check_csrf(request, csrf_token)
    with request.app.state.gate.writing() as store:
        repo.set_enabled(store, username, enabled == "1", user["username"], auth.now_utc())
    auth.forget_users(request.app.state)
    return RedirectResponse("/users", status_code=303)
