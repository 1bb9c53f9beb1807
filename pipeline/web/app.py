"""The review workspace application: wiring of settings, store gate, sessions, security headers, templates and the
routers (one per resource); error pages for refused, conflicting and failed requests.

Run it with `pantau serve` (uvicorn); tests build it with `create_app(settings)`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.config import Settings
from pipeline.errors import StoreLockedError, WorkspaceError
from pipeline.storage import Store
from pipeline.web import auth
from pipeline.web.db import Gate
from pipeline.web.groupcommit import GroupCommit
from pipeline.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_time, translate
from pipeline.web.queuecache import QueueCache
from pipeline.web.render import safe_link

HERE = Path(__file__).resolve().parent
log = logging.getLogger("pantau.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the strict CSP and friends to every response; pages are not cached (they show evidence)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


def language(request: Request) -> str:
    lang = request.session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language, with the user, the CSRF token and any flash messages."""
    settings: Settings = request.app.state.settings
    env: Environment = request.app.state.templates
    lang = language(request)
    flashes = request.session.pop("flash", []) if "flash" in request.session else []
    html = env.get_template(template).render(
        request=request,
        lang=lang,
        t=lambda key, **kw: translate(lang, key, **kw),
        when=lambda value: format_time(value, settings.tz),
        link=safe_link,
        user=auth.current_user(request),
        csrf=auth.csrf_token(request),
        flashes=flashes,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, key: str, **values: Any) -> None:
    request.session["flash"] = [*request.session.get("flash", []), translate(language(request), key, **values)]


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status_code, message=message)


def _handlers(app: FastAPI) -> None:
    def t(request: Request, key: str, **kw: Any) -> str:
        return translate(language(request), key, **kw)

    @app.exception_handler(auth.LoginRequired)
    async def login_required(request: Request, _exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(auth.CsrfError)
    async def csrf_failed(request: Request, _exc: Exception) -> Response:
        return error_page(request, 403, t(request, "error.csrf"))

    @app.exception_handler(WorkspaceError)
    async def conflict(request: Request, exc: Exception) -> Response:
        return error_page(request, 409, t(request, f"conflict.{exc}"))

    @app.exception_handler(StoreLockedError)
    async def busy(request: Request, exc: Exception) -> Response:
        log.warning("store stayed locked: %s", exc)
        return error_page(request, 503, t(request, "error.busy"))

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: Exception) -> Response:
        errors = getattr(exc, "errors", lambda: [])()
        detail = "; ".join(str(e.get("loc", ["?"])[-1]) for e in errors) or "?"
        return error_page(request, 400, t(request, "error.bad_input", detail=detail))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        detail = str(getattr(exc, "detail", ""))
        if code == 400:
            return error_page(request, 400, t(request, "error.bad_input", detail=detail))
        key = {403: "error.403", 404: "error.404"}.get(code)
        message = t(request, key) if key else detail
        return error_page(request, code, message)


def create_app(settings: Settings) -> FastAPI:
    """The workspace for this store. Applies pending migrations; makes the session key on first use."""
    from pipeline.web.routes import auth as auth_routes
    from pipeline.web.routes import dashboard, items, queue, users

    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    gate = Gate(store, settings.web_db_max_hold_s, settings.web_db_gap_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        gate.close()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.gate = gate
    app.state.queue_cache = QueueCache()
    app.state.group_commit = GroupCommit(gate, app.state.queue_cache, settings.lease_minutes, lambda: auth.now_utc())
    app.state.user_cache = {}
    app.state.templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=auth.load_or_create_secret(settings.session_secret_path),
        session_cookie="pantau_session",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (auth_routes.router, queue.router, items.router, users.router, dashboard.router):
        app.include_router(router)
    _handlers(app)
    return app
