"""The queue: flagged items by priority with filters and a count, and "open next", which leases an item."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.config import Settings
from pipeline.schema import FLAGGED_LABELS, Label, Platform
from pipeline.web import auth, repo
from pipeline.web.app import flash, language, render
from pipeline.web.db import Gate
from pipeline.web.i18n import format_time, translate
from pipeline.web.queuecache import QueueCache, unfiltered
from pipeline.web.taxonomy import DECIDERS, READERS, STATUSES

router = APIRouter()
VIEWS = ("todo", "open", "all", *STATUSES)
FILTER_FIELDS = ("view", "region", "agency", "platform", "label", "date_from", "date_to", "watchlist")


SYNC_CHECK_S = 2.0  # how often the queue's post copy is compared with review_items (new items show within this)
OPTIONS_TTL_S = 30.0  # filter menus (regions, agencies) follow watchlist changes within this


def ensure_queue(state: Any) -> None:
    """Bring the queue's copy of post fields up to date when the pipeline queued new items or ran again, and the
    server's in-memory queue up to date with the store. One request at a time looks (the others go on with the copy
    they have, unless there is none yet)."""
    gate: Gate = state.gate
    cache: QueueCache = state.queue_cache
    sync_due = time.monotonic() - getattr(state, "synced_check", -SYNC_CHECK_S) >= SYNC_CHECK_S
    if not (sync_due or cache.due()):
        return
    if not cache.looking.acquire(blocking=not cache.loaded):
        return
    try:
        if sync_due:
            with gate.session() as store:
                stale = repo.queue_stale(store)
            if stale:
                with gate.writing() as store:
                    repo.sync_queue(store, auth.now_utc())
            state.synced_check = time.monotonic()
        if cache.due():
            with gate.writing() as store:  # none of the server's own writes is half applied while it compares
                reload = cache.check(store)
            if reload:
                with gate.session() as store:
                    cache.load(store)
    finally:
        cache.looking.release()


def decided_by(state: Any, user: dict[str, Any]) -> set[repo.Key]:
    cache: QueueCache = state.queue_cache
    known = cache.known_decided(user["username"])
    if known is not None:
        return known
    with state.gate.session() as store:
        return cache.decided_by(store, user["username"])


def lease_until(settings: Settings, now: datetime) -> datetime:
    """When a lease taken now ends (as `repo` writes it)."""
    return now + timedelta(minutes=settings.lease_minutes)


def _watchlist_view(state: Any) -> tuple[dict[str, list[Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Filter menus and watchlist entries by account, cached briefly (the watchlist changes once a night)."""
    cached = getattr(state, "watchlist_view", None)
    if cached is None or time.monotonic() - cached[0] > OPTIONS_TTL_S:
        with state.gate.session() as store:
            cached = (time.monotonic(), repo.filter_options(store), repo.watch_entries(store))
        state.watchlist_view = cached
    return cached[1], cached[2]


def _day(value: str, field: str, settings: Settings) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail=field) from None
    return datetime.combine(day, clock(0), tzinfo=settings.tz).astimezone(UTC)


def build_filter(settings: Settings, role: str, values: dict[str, str], page: int = 1) -> repo.QueueFilter:
    """A validated filter from request values; a value outside its allowed set answers 400."""
    view = values.get("view") or ("todo" if role in DECIDERS else "open")
    platform, label = values.get("platform", ""), values.get("label", "")
    if view not in VIEWS or (view == "todo" and role not in DECIDERS):
        raise HTTPException(status_code=400, detail="view")
    if platform and platform not in {p.value for p in Platform}:
        raise HTTPException(status_code=400, detail="platform")
    if label and label not in {lbl.value for lbl in Label}:
        raise HTTPException(status_code=400, detail="label")
    region, agency = values.get("region", ""), values.get("agency", "")
    if len(region) > 100 or len(agency) > 300:
        raise HTTPException(status_code=400, detail="region")
    until = _day(values.get("date_to", ""), "date_to", settings)
    return repo.QueueFilter(
        view=view,
        region=region or None,
        agency=agency or None,
        platform=platform or None,
        label=label or None,
        posted_from=_day(values.get("date_from", ""), "date_from", settings),
        posted_before=until + timedelta(days=1) if until else None,
        watchlist_only=values.get("watchlist") == "1",
        page=page,
    )


@router.get("/")
def home(request: Request) -> Response:
    user = auth.current_user(request)
    if user is None:
        raise auth.LoginRequired()
    return RedirectResponse("/users" if user["role"] == "admin" else "/queue", status_code=303)


@router.get("/queue")
def queue_page(
    request: Request,
    user: Annotated[dict[str, Any], Depends(auth.require(*READERS))],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    settings = request.app.state.settings
    values = {k: request.query_params.get(k, "") for k in FILTER_FIELDS}
    flt = build_filter(settings, user["role"], values, page)
    state = request.app.state
    ensure_queue(state)
    now = auth.now_utc()
    cache: QueueCache = state.queue_cache
    decided = decided_by(state, user) if flt.view == "todo" else set()
    options, watch = _watchlist_view(state)
    if unfiltered(flt):  # every page comes from the in-memory ranking
        rows, total = cache.page(flt, user["role"], decided)
    else:  # a filtered one from the narrowing's rows, found once per load (see queuecache.py)
        rows, total = cache.filtered_page(flt, user["role"], decided, watch)
    held = cache.holders(now)
    for row in rows:
        row["lease_holder"] = held.get((row["platform"], row["platform_post_id"]))
    lang, zone = language(request), settings.tz
    for row in rows:  # display strings made here: a 50-row page renders in a third of the time
        entry = watch.get((row["platform"], row["author_handle"].lower()), {})
        row.update(
            watch_name=entry.get("name"),
            agency=entry.get("agency"),
            region_name=entry.get("region_name"),
            label_text=translate(lang, f"label.{row['label']}"),
            status_text=translate(lang, f"status.{row['status']}"),
            posted_text=format_time(row["posted_at"], zone),
            href=item_url((row["platform"], row["platform_post_id"])),
        )
    values["view"] = flt.view
    kept = {k: v for k, v in values.items() if v}
    return render(
        request,
        "queue.html",
        rows=rows,
        total=total,
        flt=flt,
        values=values,
        options=options,
        views=VIEWS,
        platforms=[p.value for p in Platform],
        labels=[lbl.value for lbl in Label if lbl in FLAGGED_LABELS],
        can_decide=user["role"] in DECIDERS,
        page=page,
        pages=max(1, -(-total // repo.PAGE_SIZE)),
        query=lambda **change: urlencode({**kept, **change}),
    )


@router.post("/queue/next")
def open_next(
    request: Request,
    user: Annotated[dict[str, Any], Depends(auth.require(*DECIDERS))],
    csrf_token: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    platform: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    date_from: Annotated[str, Form()] = "",
    date_to: Annotated[str, Form()] = "",
    watchlist: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    settings, gate = request.app.state.settings, request.app.state.gate
    values = dict(
        zip(FILTER_FIELDS, (view, region, agency, platform, label, date_from, date_to, watchlist), strict=True)
    )
    flt = build_filter(settings, user["role"], values)
    state = request.app.state
    ensure_queue(state)
    name, role = user["username"], user["role"]
    cache: QueueCache = state.queue_cache
    decided = decided_by(state, user) if unfiltered(flt) else set()
    with gate.writing() as store:
        now = auth.now_utc()
        candidates = cache.candidates(role, decided, name, now) if unfiltered(flt) else []
        key = repo.lease_first(store, candidates, name, role, now, settings.lease_minutes)
        if key is None:
            key = repo.take_next(store, flt, name, role, now, settings.lease_minutes)
        if key is not None:
            cache.after_lease(key, name, now, lease_until(settings, now))
    if key is None:
        flash(request, "queue.none_left")
        return RedirectResponse("/queue?" + urlencode({k: v for k, v in values.items() if v}), status_code=303)
    return RedirectResponse(item_url(key), status_code=303)


def item_url(key: repo.Key, action: str = "items") -> str:
    """The path of an item page (or of one of its actions: decide, lease, release, audit, casefile)."""
    return f"/{action}/{quote(key[0], safe='')}/{quote(key[1], safe='/')}"
