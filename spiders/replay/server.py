"""The replay HTTP server: Mastodon's public API over loopback, served from a Dataset, with faults and limits.

Routes (API answers carry X-RateLimit-Limit/-Remaining/-Reset, and Link when paged):
    GET  /api/v1/accounts/lookup?acct=user@domain      Account, or 404 {"error":"Record not found"}
    GET  /api/v1/accounts/:id/statuses?limit&max_id&since_id&min_id
    GET  /api/v1/timelines/tag/:hashtag?limit&max_id&since_id&min_id
    GET  /api/v1/statuses/:id                          Status, or 404 {"error":"Record not found"} (deleted)
    GET  /robots.txt                                    permissive, like Mastodon's default
    POST /_replay/clock?until=ISO|none                  move (or drop) the clock
    GET  /_replay/stats | /_replay/health | /_replay/accounts
    GET  /_replay/<platform>/targets                    what a watchlist could follow there: [{kind, handle}]
    POST /_replay/<platform>/<action>                   a platform's test knob (e.g. youtube/quota)
    POST /_replay/mastodon/delete?id= | edit?id=&text=  a status deleted or edited, as its author would

The other platforms' routes (Bluesky XRPC, Telegram /s/, X /2/, YouTube /youtube/v3/, RSS sites under /_sites/)
are in their own modules, registered in spiders.replay.platforms; their API routes share the rate limit and the
faults, with each platform's own rate-limit headers and 429 body.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from spiders.replay.answers import Answer, ReplayRequest, json_answer
from spiders.replay.dataset import Account, Dataset, StatusRow, Timeline, html_paragraphs
from spiders.replay.platforms import Platforms, Source

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
RATE_WINDOW_S = 300.0  # Mastodon: 300 requests per 5 minutes per IP
API_KINDS = frozenset({"lookup", "account_statuses", "tag_timeline", "status", "api_other"})
ROBOTS_TXT = b"User-agent: *\nDisallow: /media_proxy/\nDisallow: /interact/\n"
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Mastodon</title></head><body><div id='mastodon' "
    b"data-props='{}'><noscript>To use the Mastodon web application, please enable JavaScript.</noscript>"
    b"</div></body></html>"
)


def iso_ms(when: datetime) -> str:
    """Mastodon's time format: UTC with milliseconds and Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_clock(value: str | None) -> datetime | None:
    """ISO time -> aware datetime (naive means UTC); '', 'none' or None -> no clock."""
    if value is None or value.strip().lower() in ("", "none"):
        return None
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ReplayState:
    """What every request thread shares: the data, the clock and the counters (one lock guards them)."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        fault_every: int | None = None,
        rate_limit: int = 100_000,
        rate_window: float = RATE_WINDOW_S,
        clock: datetime | None = None,
        platforms: Platforms | None = None,
    ) -> None:
        if fault_every is not None and fault_every < 1:
            raise ValueError(f"fault_every must be at least 1, got {fault_every}")
        self.dataset = dataset
        self.platforms = platforms if platforms is not None else Platforms()
        self.fault_every = fault_every
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.clock = clock
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.user_agents: Counter[str] = Counter()  # lets a test check that the crawler names itself
        self.api_requests = 0
        self.rate_limited = 0
        self.edited: dict[str, str] = {}  # status id -> its edited_at, for statuses edited through the admin knob
        self._windows: dict[str, tuple[float, int]] = {}  # client ip -> (window opened at, requests in it)

    @property
    def clock_ts(self) -> float | None:
        return self.clock.timestamp() if self.clock is not None else None

    def count(self, kind: str, user_agent: str) -> None:
        with self.lock:
            self.requests[kind] += 1
            if kind != "admin":  # the test harness's own calls would blur the picture
                self.user_agents[user_agent] += 1

    def gate(self, client: str) -> tuple[Answer | None, dict[str, str]]:
        """Rate limit, then deterministic faults, for one API request: (an answer that replaces the real
        one, or None; the rate-limit headers every API answer carries)."""
        with self.lock:
            # A window opens at the client's first request after the last one closed (as X's and Mastodon's
            # limits reset a fixed time after the window's first call), so a test's requests never straddle a
            # boundary that happens to fall between them.
            now = time.time()
            opened, used = self._windows.get(client, (now, 0))
            if now >= opened + self.rate_window:
                opened, used = now, 0
            used += 1
            self._windows[client] = (opened, used)
            reset = datetime.fromtimestamp(opened + self.rate_window, UTC)
            headers = {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
                "X-RateLimit-Reset": iso_ms(reset),
            }
            if used > self.rate_limit:
                self.rate_limited += 1
                return json_answer(429, {"error": "Too many requests"}), headers
            self.api_requests += 1
            return self._fault(), headers

    def gate_platform(self, client: str, source: Source) -> tuple[Answer | None, dict[str, str]]:
        """gate() for a platform route: its own rate-limit headers, and its own body on a limit's 429."""
        gated, headers = self.gate(client)
        reset = datetime.fromisoformat(headers["X-RateLimit-Reset"])
        own = source.limit_headers(self.rate_limit, int(headers["X-RateLimit-Remaining"]), reset)
        if gated is not None and gated.status == 429 and "Retry-After" not in gated.headers:
            gated = source.too_many()  # the limit's 429 (a fault's 429 keeps its Retry-After)
        return gated, own

    def _fault(self) -> Answer | None:
        if self.fault_every is None or self.api_requests % self.fault_every:
            return None
        served = sum(self.faults.values())
        if served % 2 == 0:
            self.faults["500"] += 1
            return json_answer(500, {"error": "We're sorry, but something went wrong on our end."})
        self.faults["429"] += 1
        answer = json_answer(429, {"error": "Too many requests"})
        answer.headers["Retry-After"] = "1"
        return answer

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "api_requests": self.api_requests,
                "faults": dict(self.faults),
                "user_agents": dict(self.user_agents),
                "rate_limited": self.rate_limited,
                "clock": iso_ms(self.clock) if self.clock else None,
            }


# ---------------------------------------------------------------- API answers


def _limit(query: dict[str, str]) -> int:
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return DEFAULT_LIMIT
    return DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)


def lookup(state: ReplayState, query: dict[str, str]) -> Answer:
    acct = query.get("acct", "").lstrip("@").lower()
    account = state.dataset.by_acct.get(acct)
    if account is None and "@" not in acct:  # a bare username, as a local user would be asked for
        account = next((a for a in state.dataset.accounts.values() if a.username.lower() == acct), None)
    if account is None:
        return json_answer(404, {"error": "Record not found"})
    return json_answer(200, state.dataset.account_json(account))


def account_statuses(state: ReplayState, query: dict[str, str], account_id: str, base: str) -> Answer:
    account = state.dataset.accounts.get(account_id)
    if account is None:
        return json_answer(404, {"error": "Record not found"})
    if account.behaviour == "unauthorized":
        return json_answer(401, {"error": "This API requires an authenticated user"})
    if account.behaviour == "html":
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
    answer = timeline_page(state, account.timeline, query, f"{base}/api/v1/accounts/{quote(account_id)}/statuses")
    if account.behaviour == "malformed":
        answer.body = answer.body[: max(1, len(answer.body) // 2)]  # a connection cut mid-answer
    return answer


def tag_timeline(state: ReplayState, query: dict[str, str], tag: str, base: str) -> Answer:
    timeline = state.dataset.tags.get(tag.lower(), Timeline())  # an unknown tag is an empty timeline
    return timeline_page(state, timeline, query, f"{base}/api/v1/timelines/tag/{quote(tag)}")


def timeline_page(state: ReplayState, timeline: Timeline, query: dict[str, str], url: str) -> Answer:
    limit = _limit(query)
    rows = timeline.page(
        limit=limit,
        max_id=query.get("max_id") or None,
        since_id=query.get("since_id") or None,
        min_id=query.get("min_id") or None,
        clock=state.clock_ts,
    )
    body = b"[" + b",".join(status_bytes(state, r) for r in rows) + b"]"
    answer = Answer(200, body)
    link = _link(rows, limit, url, "limit" in query)
    if link:
        answer.headers["Link"] = link
    return answer


def single_status(state: ReplayState, status_id: str) -> Answer:
    """GET /api/v1/statuses/:id: a status deleted, unknown or not yet published (the clock) is Mastodon's 404."""
    row = state.dataset.statuses.get(status_id)
    clock = state.clock_ts
    if row is None or (clock is not None and row.at is not None and row.at > clock):
        return json_answer(404, {"error": "Record not found"})
    account = state.dataset.accounts[row.account_id]
    if account.behaviour == "unauthorized":
        return json_answer(401, {"error": "This API requires an authenticated user"})
    if account.behaviour == "html":
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
    body = status_bytes(state, row)
    if account.behaviour == "malformed":
        body = body[: max(1, len(body) // 2)]
    return Answer(200, body)


def status_bytes(state: ReplayState, row: StatusRow) -> bytes:
    """A status as served: the dataset's rendering, or for an edited status (or a boost of one) a fresh one that
    carries the new content and its `edited_at`."""
    original = row.data.get("reblog_of") if row.data is not None else None
    if row.raw is not None or (row.id not in state.edited and original not in state.edited):
        return state.dataset.status_bytes(row)
    status = state.dataset.status_json(row)
    status["edited_at"] = state.edited.get(row.id or "")
    if status["reblog"] is not None:
        status["reblog"]["edited_at"] = state.edited.get(original or "")
    return json.dumps(status, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def edit_status(state: ReplayState, status_id: str, text: str) -> bool:
    """The author edits a status: new content (plain text made into Mastodon's HTML), edited_at now."""
    with state.lock:
        row = state.dataset.statuses.get(status_id)
        if row is None or row.data is None or row.data.get("reblog_of"):  # a boost has no text of its own
            return False
        domain = state.dataset.accounts[row.account_id].domain
        row.data["content"] = html_paragraphs(text, (), f"https://{domain}")
        state.edited[status_id] = iso_ms(state.clock or datetime.now(UTC))
    return True


def delete_status(state: ReplayState, status_id: str) -> bool:
    """The author deletes a status: gone from the API and from every timeline, with its boosts (as on Mastodon)."""
    data = state.dataset
    with state.lock:
        row = data.statuses.get(status_id)
        if row is None:
            return False
        boosts = [r for r in data.statuses.values() if r.data is not None and r.data.get("reblog_of") == status_id]
        for gone in [row, *boosts]:
            del data.statuses[gone.id or ""]
            for timeline in [data.accounts[gone.account_id].timeline, *(data.tags.get(t) for t in gone.tags)]:
                if timeline is not None:
                    timeline.rows = [r for r in timeline.rows if r is not gone]
                    timeline.freeze()
    return True


def mastodon_admin(state: ReplayState, action: str, query: dict[str, str]) -> Answer:
    """POST /_replay/mastodon/<action>: the same knobs as the other platforms' (Source.admin)."""
    status_id = query.get("id", "")
    if action not in ("delete", "edit") or not status_id:
        return json_answer(404, {"error": f"no action {action!r}"})
    if action == "delete":
        done = delete_status(state, status_id)
    else:
        done = edit_status(state, status_id, query.get("text", ""))
    return json_answer(200 if done else 404, {action: status_id, "done": done})


def _link(rows: list[StatusRow], limit: int, url: str, with_limit: bool) -> str | None:
    """As Mastodon: no Link on an empty page; "next" only when the page is full."""
    ids = [r.id for r in rows if r.id]
    if not ids:
        return None
    size = f"limit={limit}&" if with_limit else ""
    prev = f'<{url}?{size}min_id={ids[0]}>; rel="prev"'
    return f'<{url}?{size}max_id={ids[-1]}>; rel="next", {prev}' if len(rows) == limit else prev


def accounts_listing(state: ReplayState) -> Answer:
    clock = state.clock_ts
    listing = [_account_entry(a, clock) for a in state.dataset.accounts.values()]
    return json_answer(200, listing)


def _account_entry(account: Account, clock: float | None) -> dict[str, Any]:
    return {
        "id": account.id,
        "acct": account.acct,
        "behaviour": account.behaviour,
        "statuses": account.timeline.visible_count(clock),
    }


# ---------------------------------------------------------------- HTTP


_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "lookup", re.compile(r"^/api/v1/accounts/lookup$")),
    ("GET", "account_statuses", re.compile(r"^/api/v1/accounts/(?P<account_id>[^/]+)/statuses$")),
    ("GET", "tag_timeline", re.compile(r"^/api/v1/timelines/tag/(?P<tag>[^/]+)$")),
    ("GET", "status", re.compile(r"^/api/v1/statuses/(?P<status_id>[^/]+)$")),
    ("GET", "robots", re.compile(r"^/robots\.txt$")),
    ("GET", "health", re.compile(r"^/_replay/health$")),
    ("GET", "stats", re.compile(r"^/_replay/stats$")),
    ("GET", "accounts", re.compile(r"^/_replay/accounts$")),
    ("POST", "clock", re.compile(r"^/_replay/clock$")),
    ("POST", "platform_admin", re.compile(r"^/_replay/(?P<platform>[a-z]+)/(?P<action>[a-z_]+)$")),
    ("GET", "platform_targets", re.compile(r"^/_replay/(?P<platform>[a-z]+)/targets$")),
]


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """(route name, path parameters); unknown API paths are "api_other", anything else "other"."""
    for verb, name, pattern in _ROUTES:
        match = pattern.match(path)
        if match and verb == method:
            return name, {k: unquote(v) for k, v in match.groupdict().items()}
    return ("api_other" if path.startswith("/api/") else "other"), {}


def _kind(name: str) -> str:
    admin = ("health", "stats", "accounts", "clock", "platform_admin", "platform_targets")
    return "admin" if name in admin else name


class ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Scrapy's client expects from a real server
    server: ReplayServer
    server_version = "Mastodon-replay/1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # always read: an unread body would be taken for the next request on this connection
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        name, params = route(method, url.path)
        state = self.server.state
        found = state.platforms.route(method, url.path) if name in ("other", "api_other") else None
        if found is not None:
            self._platform(method, url.path, query, body, found)
            return
        state.count(_kind(name), self.headers.get("User-Agent") or "")
        gated, headers = state.gate(self.client_address[0]) if name in API_KINDS else (None, {})
        answer = gated or self._answer(name, params, query)
        answer.headers.update(headers)
        self._send(answer)

    def _platform(
        self, method: str, path: str, query: dict[str, str], body: bytes, found: tuple[str, str, dict[str, str]]
    ) -> None:
        platform, name, params = found
        state = self.server.state
        state.count(f"{platform}:{name}", self.headers.get("User-Agent") or "")
        source = state.platforms.get(platform)
        gated, headers = state.gate_platform(self.client_address[0], source)
        request = ReplayRequest(
            method=method,
            path=path,
            query=query,
            params={k: unquote(v) for k, v in params.items()},
            headers=self.headers,
            body=body,
            base=f"http://{self.headers.get('Host') or self.server.authority}",
            clock=state.clock_ts,
            raw_query=urlsplit(self.path).query,
        )
        answer = gated or source.answer(name, request)
        answer.headers.update(headers)
        self._send(answer)

    def _answer(self, name: str, params: dict[str, str], query: dict[str, str]) -> Answer:
        state = self.server.state
        base = f"http://{self.headers.get('Host') or self.server.authority}"
        handlers: dict[str, Callable[[], Answer]] = {
            "lookup": lambda: lookup(state, query),
            "account_statuses": lambda: account_statuses(state, query, params.get("account_id", ""), base),
            "tag_timeline": lambda: tag_timeline(state, query, params.get("tag", ""), base),
            "status": lambda: single_status(state, params.get("status_id", "")),
            "robots": lambda: Answer(200, self._robots(), "text/plain; charset=utf-8"),
            "health": lambda: json_answer(200, self.server.health()),
            "stats": lambda: json_answer(200, state.stats()),
            "accounts": lambda: accounts_listing(state),
            "clock": lambda: self._move_clock(query),
            "platform_admin": lambda: self._platform_admin(params, query),
            "platform_targets": lambda: self._platform_targets(params),
        }
        handler = handlers.get(name)
        return handler() if handler else json_answer(404, {"error": "Not Found"})

    def _robots(self) -> bytes:
        extra = "".join(f"{line}\n" for line in self.server.state.platforms.robots_lines())
        return ROBOTS_TXT + extra.encode("utf-8")

    def _platform_admin(self, params: dict[str, str], query: dict[str, str]) -> Answer:
        if params.get("platform") == "mastodon":  # Mastodon's data are the server's own, not a platform module's
            return mastodon_admin(self.server.state, params.get("action", ""), query)
        platforms = self.server.state.platforms
        try:
            source = platforms.get(params.get("platform", ""))
        except KeyError:
            return json_answer(404, {"error": f"no platform {params.get('platform')!r}"})
        answer = source.admin(params.get("action", ""), query)
        return answer if answer is not None else json_answer(404, {"error": f"no action {params.get('action')!r}"})

    def _platform_targets(self, params: dict[str, str]) -> Answer:
        try:
            source = self.server.state.platforms.get(params.get("platform", ""))
        except KeyError:
            return json_answer(404, {"error": f"no platform {params.get('platform')!r}"})
        return json_answer(200, source.targets())

    def _move_clock(self, query: dict[str, str]) -> Answer:
        try:
            when = parse_clock(query.get("until"))
        except ValueError as exc:
            return json_answer(400, {"error": f"until: {exc}"})
        with self.server.state.lock:
            self.server.state.clock = when
        return json_answer(200, {"clock": iso_ms(when) if when else None})

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


class ReplayServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding a ReplayState; build it with spiders.replay.make_server."""

    daemon_threads = True  # keep-alive connections must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ReplayState, *, log_requests: bool = False) -> None:
        super().__init__(address, ReplayHandler)
        self.state = state
        self.log_requests = log_requests

    @property
    def authority(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.authority}"

    def health(self) -> dict[str, Any]:
        data = self.state.dataset
        clock = self.state.clock
        return {
            "status": "ok",
            "accounts": len(data.accounts),
            "statuses": sum(len(a.timeline.rows) for a in data.accounts.values()),
            "clock": iso_ms(clock) if clock else None,
            "platforms": self.state.platforms.health(),
        }
