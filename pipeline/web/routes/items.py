"""A review item: the evidence page, taking and releasing its lease, deciding, its audit trail and its case file.

Paths carry the item's key as `/{action}/{platform}/{platform_post_id}` (a post id may contain '/').
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.errors import WorkspaceError
from pipeline.schema import Platform
from pipeline.web import auth, casefile, repo
from pipeline.web.app import flash, language, render
from pipeline.web.foureyes import Decision, can_act, check_form
from pipeline.web.i18n import translate
from pipeline.web.render import cue_phrases, highlight, pretty_json
from pipeline.web.routes.queue import decided_by, ensure_queue, item_url, lease_until
from pipeline.web.taxonomy import CATEGORIES, DECIDERS, DISMISS_REASONS, READERS, SKB_FOR_CATEGORY, SKB_ITEMS

router = APIRouter()
log = logging.getLogger(__name__)
Reader = Annotated[dict[str, Any], Depends(auth.require(*READERS))]
Decider = Annotated[dict[str, Any], Depends(auth.require(*DECIDERS))]
Csrf = Annotated[str, Form()]


def key_of(platform: str, post_id: str) -> repo.Key:
    if platform not in {p.value for p in Platform} or not post_id or len(post_id) > 200:
        raise HTTPException(status_code=404)
    return (platform, post_id)


def _evidence(request: Request, key: repo.Key) -> dict[str, Any]:
    state = request.app.state
    ensure_queue(state)
    with state.gate.session() as store:
        ev = repo.evidence(store, key, auth.now_utc(), state.queue_cache.others)
    if ev is None:
        raise HTTPException(status_code=404)
    return ev


def _page_context(ev: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    prediction = ev["prediction"] or {}
    decided_before = any(d["reviewer"] == user["username"] for d in ev["decisions"])
    lease = ev["lease"]
    label = prediction.get("label") or ev["item"]["label"]
    category = label if label in CATEGORIES else CATEGORIES[0]
    return {
        "ev": ev,
        "text_html": highlight(ev["post"]["text"], cue_phrases(prediction.get("reasons"))),
        "raw_pretty": pretty_json(ev["post"]["raw"]),
        "can_act": can_act(ev["item"]["status"], user["role"], decided_before),
        "held_by_other": lease is not None and lease["holder"] != user["username"],
        "mine": lease is not None and lease["holder"] == user["username"],
        "categories": CATEGORIES,
        "default_category": category,
        "skb_items": SKB_ITEMS,
        "skb_for": SKB_FOR_CATEGORY,
        "default_skb": SKB_FOR_CATEGORY[category][0],
        "reasons": DISMISS_REASONS,
        "item_url": item_url,
    }


@router.get("/items/{platform}/{post_id:path}")
def item_page(request: Request, platform: str, post_id: str, user: Reader) -> Response:
    key = key_of(platform, post_id)
    ev = _evidence(request, key)
    # the view is recorded before the page is shown, sharing the commit of the decisions written meanwhile
    request.app.state.group_commit.log(user["username"], "view", key, {"status": ev["item"]["status"]})
    return render(request, "item.html", **_page_context(ev, user))


@router.post("/decide/{platform}/{post_id:path}")
def decide(
    request: Request,
    platform: str,
    post_id: str,
    user: Decider,
    csrf_token: Csrf = "",
    decision: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    skb_item: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    dismiss_reason: Annotated[str, Form()] = "",
    text_sha256: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    key = key_of(platform, post_id)
    d = check_form(Decision(decision, category or None, skb_item or None, note, dismiss_reason or None))
    state = request.app.state
    ensure_queue(state)
    decided = decided_by(state, user)
    try:  # written with the decisions of others that arrive meanwhile, in one transaction (see groupcommit.py)
        status, following = state.group_commit.decide(key, user["username"], user["role"], d, text_sha256, decided)
    except duckdb.Error as exc:  # not written: say so, never acknowledge it
        log.warning("decision on %s not saved: %s", key, exc)
        raise WorkspaceError("not_saved") from exc
    flash(request, "item.saved", status=translate(language(request), f"status.{status}"))
    return RedirectResponse(item_url(following) if following else "/queue", status_code=303)


@router.post("/lease/{platform}/{post_id:path}")
def take(request: Request, platform: str, post_id: str, user: Decider, csrf_token: Csrf = "") -> Response:
    auth.check_csrf(request, csrf_token)
    key = key_of(platform, post_id)
    state = request.app.state
    with state.gate.writing() as store:
        now = auth.now_utc()
        repo.take_lease(store, key, user["username"], user["role"], now, state.settings.lease_minutes)
        state.queue_cache.after_lease(key, user["username"], now, lease_until(state.settings, now))
    return RedirectResponse(item_url(key), status_code=303)


@router.post("/release/{platform}/{post_id:path}")
def release(request: Request, platform: str, post_id: str, user: Decider, csrf_token: Csrf = "") -> Response:
    auth.check_csrf(request, csrf_token)
    key = key_of(platform, post_id)
    state = request.app.state
    with state.gate.writing() as store:
        repo.release_lease(store, key, user["username"])
        state.queue_cache.after_release(key, user["username"])
    return RedirectResponse("/queue", status_code=303)


@router.get("/audit/{platform}/{post_id:path}")
def audit_page(request: Request, platform: str, post_id: str, user: Reader) -> Response:
    key = key_of(platform, post_id)
    with request.app.state.gate.session() as store:
        decisions, log = repo.audit_trail(store, key)
    if not decisions and not log:
        raise HTTPException(status_code=404)
    return render(request, "audit.html", key=key, decisions=decisions, log=log, item_url=item_url)


@router.get("/casefile/{platform}/{post_id:path}")
def case_file(request: Request, platform: str, post_id: str, user: Decider) -> Response:
    key = key_of(platform, post_id)
    ev = _evidence(request, key)
    now = auth.now_utc()
    html = render(request, "casefile.html", generated_at=now, **_page_context(ev, user)).body.decode("utf-8")
    data = casefile.build(ev, html, user["username"], now)
    request.app.state.group_commit.log(
        user["username"], "export", key, {"zip_sha256": hashlib.sha256(data).hexdigest()}
    )
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"kasus-{key[0]}-{key[1]}.zip")
    return Response(
        data, media_type="application/zip", headers={"content-disposition": f'attachment; filename="{filename}"'}
    )
