"""The dashboard (flags per day, by region and by label, the review backlog) for every signed-in role, and the
recent crawl runs (`pantau runs` in the browser) for supervisors and admins.

The dashboard's numbers come from the analysts' views in pipeline.views, run on the live store through the Gate as
a WITH clause: the same SQL the snapshot publishes, without creating a view in the live file. Only aggregates leave
the store (a few rows per day, region and status), and they show no person: admins, who read no evidence, see it
too. Each chart is inline SVG (pipeline.web.charts) followed by a table of the same numbers.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from pipeline.storage import Store
from pipeline.views import VIEWS
from pipeline.views import render as render_view
from pipeline.web import auth, charts
from pipeline.web.app import language, render
from pipeline.web.i18n import MESSAGES, format_time, translate
from pipeline.web.taxonomy import CATEGORIES, OPEN_STATUSES, ROLES

router = APIRouter()
RUN_READERS = ("supervisor", "admin")
SignedIn = Annotated[dict[str, Any], Depends(auth.require(*ROLES))]
Operator = Annotated[dict[str, Any], Depends(auth.require(*RUN_READERS))]

DAY_CHOICES = (14, 30, 90, 365)
REGIONS_SHOWN = 15
AGE_EDGES = (1, 3, 7, 14)  # backlog age classes in whole days: <1, 1-2, 3-6, 7-13, 14 and more
UNLISTED_COLOUR = 7  # grey: flagged posts of accounts the watchlist does not list
KNOWN_RUN_STATUSES = ("running", "ok", "partial", "failed")


# --- queries -------------------------------------------------------------------------------------------------------


def with_views(tz: str, *names: str) -> str:
    """A WITH clause defining the named views of pipeline.views, and the views they read, over the live store."""
    wanted = set(names)
    for name in reversed(VIEWS):
        if name in wanted:
            body = VIEWS[name][1]
            wanted |= {other for other in VIEWS if other != name and re.search(rf"\b{other}\b", body)}
    return "WITH " + ", ".join(f"{name} AS ({render_view(VIEWS[name][1], tz, '')})" for name in VIEWS if name in wanted)


def flags_per_day(store: Store, tz: str) -> list[dict[str, Any]]:
    """Flagged posts per day (operator's zone) and label, every platform together: `flags_per_day` summed."""
    return store.query(
        with_views(tz, "flags_per_day")
        + " SELECT day, label, sum(flagged)::BIGINT AS flagged FROM flags_per_day GROUP BY ALL ORDER BY day, label"
    )


def flags_by_region(store: Store, tz: str) -> list[dict[str, Any]]:
    """Posts and flagged posts per watchlist region (agencies together): `flags_by_region` summed."""
    return store.query(
        with_views(tz, "flags_by_region")
        + " SELECT region_code, region_name, sum(posts)::BIGINT AS posts, sum(flagged)::BIGINT AS flagged"
        " FROM flags_by_region GROUP BY ALL ORDER BY flagged DESC, posts DESC, region_name, region_code"
    )


# What the two post-wide aggregates depend on: a load adds posts or predictions (an edit adds a prediction of the new
# text) and moves collected_at; a new watchlist rewrites updated_at. Two milliseconds on a million posts.
_FLAGS_MARK = """
SELECT (SELECT count(*) FROM posts) AS posts, (SELECT max(collected_at) FROM posts) AS collected,
       (SELECT count(*) FROM predictions) AS predictions, (SELECT max(predicted_at) FROM predictions) AS predicted,
       (SELECT count(*) FROM watchlist) AS watched, (SELECT max(updated_at) FROM watchlist) AS watch_updated
"""


def flag_counts(state: Any, store: Store, tz: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`flags_per_day` and `flags_by_region` rows, computed again only when posts, predictions or the watchlist
    moved on: each reads every post (about 1.3 s on a million), so they are kept between page views."""
    mark = tuple(store.query(_FLAGS_MARK)[0].values())
    cached = getattr(state, "dashboard_flags", None)
    if cached is None or cached[0] != (tz, mark):
        cached = ((tz, mark), flags_per_day(store, tz), flags_by_region(store, tz))
        state.dashboard_flags = cached
    return cached[1], cached[2]


def review_backlog(store: Store, tz: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items and the oldest item's age per status (`review_backlog`, labels together), and the open items per
    status and age class (days since queued, counted as that view counts them)."""
    totals = store.query(
        with_views(tz, "review_backlog")
        + " SELECT status, sum(items)::BIGINT AS items, max(oldest_days) AS oldest_days FROM review_backlog"
        " GROUP BY ALL"
    )
    classes = " ".join(f"WHEN age < {edge} THEN {i}" for i, edge in enumerate(AGE_EDGES))
    ages = store.query(
        f"SELECT status, CASE {classes} ELSE {len(AGE_EDGES)} END AS age_class, count(*) AS items "
        "FROM (SELECT status, date_diff('day', queued_at, now()) AS age FROM review_items "
        f"WHERE status IN ({', '.join('?' for _ in OPEN_STATUSES)})) GROUP BY ALL",
        list(OPEN_STATUSES),
    )
    return totals, ages


# --- display helpers -----------------------------------------------------------------------------------------------


def number_format(lang: str) -> Callable[[int], str]:
    sep = "." if lang == "id" else ","
    return lambda n: f"{int(n):,}".replace(",", sep)


def decimal(lang: str, value: float, places: int = 1) -> str:
    text = f"{value:.{places}f}"
    return text.replace(".", ",") if lang == "id" else text


def label_name(lang: str, code: str | None) -> str:
    """A label's name in the page's language; a label the catalogue does not know shows as it is stored."""
    key = f"label.{code}"
    return translate(lang, key) if key in MESSAGES[lang] else str(code or "")


def duration(lang: str, seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{decimal(lang, seconds)} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _label_order(codes: set[str]) -> list[str]:
    known = [c for c in CATEGORIES if c in codes]  # the taxonomy's order, so colours keep their meaning
    return known + sorted(codes - set(known))


# --- the dashboard -------------------------------------------------------------------------------------------------


def _per_day(rows: list[dict[str, Any]], days: int, lang: str, num: Callable[[int], str]) -> dict[str, Any]:
    if not rows:
        return {"chart": None}
    last: date = max(r["day"] for r in rows)
    first = last - timedelta(days=days - 1)
    codes = _label_order({r["label"] for r in rows})  # every label ever flagged: colours match the label chart
    counts = {(r["day"], r["label"]): int(r["flagged"]) for r in rows}
    day_list = [first + timedelta(days=i) for i in range(days)]
    matrix = [[counts.get((d, c), 0) for c in codes] for d in day_list]
    names = [label_name(lang, c) for c in codes]
    totals = [sum(v) for v in matrix]
    total = sum(totals)
    if total == 0:  # the view lists flagged posts only, so the last day has one; kept for safety
        return {"chart": None}
    peak = max(range(days), key=lambda i: (totals[i], i))
    desc = translate(
        lang,
        "dash.per_day_desc",
        total=num(total),
        days=days,
        first=first.isoformat(),
        last=last.isoformat(),
        peak=num(totals[peak]),
        peak_day=day_list[peak].isoformat(),
    )
    chart = charts.columns(
        "chart-per-day",
        translate(lang, "dash.per_day"),
        desc,
        [d.isoformat() for d in day_list],
        [f"{d:%m-%d}" for d in day_list],
        matrix,
        names,
        num,
    )
    table = [(d.isoformat(), [num(v) for v in row], num(sum(row))) for d, row in zip(day_list, matrix, strict=True)]
    return {
        "chart": chart,
        "legend": charts.legend(names),
        "desc": desc,
        "series": names,
        "rows": list(reversed(table)),  # newest first in the table
        "total": num(total),
        "series_totals": [num(sum(row[j] for row in matrix)) for j in range(len(codes))],
    }


def _by_label(rows: list[dict[str, Any]], lang: str, num: Callable[[int], str]) -> dict[str, Any]:
    per: dict[str, int] = defaultdict(int)
    for r in rows:
        per[r["label"]] += int(r["flagged"])
    if not any(per.values()):
        return {"chart": None}
    order = _label_order(set(per))
    codes = sorted(order, key=lambda c: -per[c])
    total = sum(per.values())
    bars = [
        charts.Bar(label_name(lang, c), (per[c],), f"{decimal(lang, 100 * per[c] / total)} %", order.index(c))
        for c in codes
    ]
    desc = translate(lang, "dash.by_label_desc", total=num(total), n=len(codes))
    return {
        "chart": charts.bars("chart-by-label", translate(lang, "dash.by_label"), desc, bars, number=num),
        "desc": desc,
        "rows": [(b.label, num(b.total), b.note) for b in bars],
        "total": num(total),
    }


def _by_region(rows: list[dict[str, Any]], lang: str, num: Callable[[int], str]) -> dict[str, Any]:
    flagged = [r for r in rows if r["flagged"]]
    if not flagged:
        return {"chart": None}
    unlisted = translate(lang, "dash.unlisted")
    shown, rest = flagged[:REGIONS_SHOWN], flagged[REGIONS_SHOWN:]

    def name(r: dict[str, Any]) -> str:
        return f"{r['region_name']} ({r['region_code']})" if r["region_code"] else unlisted

    bars = [charts.Bar(name(r), (int(r["flagged"]),), colour=0 if r["region_code"] else UNLISTED_COLOUR) for r in shown]
    total = sum(int(r["flagged"]) for r in flagged)
    desc = translate(lang, "dash.by_region_desc", total=num(total), n=len(flagged), top=bars[0].label)
    table = [
        (name(r), num(r["posts"]), num(r["flagged"]), f"{decimal(lang, 100 * r['flagged'] / r['posts'])} %")
        for r in shown
    ]
    other = None
    if rest:
        posts, flags = sum(int(r["posts"]) for r in rest), sum(int(r["flagged"]) for r in rest)
        other = (translate(lang, "dash.other_regions", n=len(rest)), num(posts), num(flags))
    return {
        "chart": charts.bars("chart-by-region", translate(lang, "dash.by_region"), desc, bars, number=num),
        "desc": desc,
        "rows": table,
        "other": other,
        "total": num(total),
    }


def _backlog(
    totals: list[dict[str, Any]], ages: list[dict[str, Any]], lang: str, num: Callable[[int], str]
) -> dict[str, Any]:
    by_status = {r["status"]: r for r in totals}
    count = {(r["status"], int(r["age_class"])): int(r["items"]) for r in ages}
    classes = [translate(lang, f"dash.age.{i}") for i in range(len(AGE_EDGES) + 1)]
    open_rows = [s for s in OPEN_STATUSES if s in by_status]
    closed = [(translate(lang, f"status.{s}"), num(by_status[s]["items"])) for s in ("confirmed", "dismissed")
              if s in by_status]  # fmt: skip
    if not open_rows:
        return {"chart": None, "closed": closed}
    bars = []
    for s in open_rows:
        values = tuple(count.get((s, i), 0) for i in range(len(classes)))
        oldest = translate(lang, "dash.oldest", days=num(by_status[s]["oldest_days"] or 0))
        bars.append(charts.Bar(translate(lang, f"status.{s}"), values, oldest))
    total = sum(int(by_status[s]["items"]) for s in open_rows)
    desc = translate(lang, "dash.backlog_desc", total=num(total), oldest=num(max(by_status[s]["oldest_days"] or 0
                                                                               for s in open_rows)))  # fmt: skip
    return {
        "chart": charts.bars("chart-backlog", translate(lang, "dash.backlog"), desc, bars, classes, "age", num),
        "legend": charts.legend(classes, "age"),
        "desc": desc,
        "classes": classes,
        "rows": [
            (b.label, [num(v) for v in b.values], num(by_status[s]["items"]), num(by_status[s]["oldest_days"] or 0))
            for b, s in zip(bars, open_rows, strict=True)
        ],
        "total": num(total),
        "closed": closed,
    }


@router.get("/dashboard")
def dashboard_page(request: Request, user: SignedIn, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    if days not in DAY_CHOICES:
        raise HTTPException(status_code=400, detail="days")
    settings = request.app.state.settings
    with request.app.state.gate.session() as store:
        per_day, regions = flag_counts(request.app.state, store, settings.timezone)
        totals, ages = review_backlog(store, settings.timezone)
    lang = language(request)
    num = number_format(lang)
    return render(
        request,
        "dashboard.html",
        days=days,
        day_choices=DAY_CHOICES,
        per_day=_per_day(per_day, days, lang, num),
        by_label=_by_label(per_day, lang, num),
        by_region=_by_region(regions, lang, num),
        backlog=_backlog(totals, ages, lang, num),
        made_at=format_time(auth.now_utc(), settings.tz),
        zone=settings.timezone,
    )


# --- recent runs ---------------------------------------------------------------------------------------------------


def _flagged_per_label(value: Any, lang: str, num: Callable[[int], str]) -> list[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [("?", value)]
    if not isinstance(value, dict):
        return []
    return [(label_name(lang, k), num(v)) for k, v in sorted(value.items(), key=lambda kv: -int(kv[1] or 0)) if v]


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _status_class(status: str) -> str:
    return f"r-{status}" if status in KNOWN_RUN_STATUSES else "r-other"


def _status_text(lang: str, status: str) -> str:
    key = f"runs.status.{status}"
    return translate(lang, key) if key in MESSAGES[lang] else status


@router.get("/runs")
def runs_page(request: Request, user: Operator, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> Response:
    settings = request.app.state.settings
    with request.app.state.gate.session() as store:  # the query `pantau runs` uses, then each run's spiders
        runs = store.recent_runs(limit)
        spiders = {r["run_id"]: store.run_spiders(r["run_id"]) for r in runs}
    lang = language(request)
    num = number_format(lang)

    def count(value: Any) -> str:
        return "" if value is None else num(value)

    shown = []
    for run in runs:
        rows = []
        for s in spiders[run["run_id"]]:
            detail = s["detail"] or ""
            rows.append(
                {
                    "spider": s["spider"],
                    "status": _status_text(lang, s["status"]),
                    "status_class": _status_class(s["status"]),
                    "attempts": num(s["attempts"]),
                    "crawl": duration(lang, s["crawl_seconds"]),
                    "load": duration(lang, s["load_seconds"]),
                    **{k: count(s[k]) for k in ("fetched", "new_posts", "updated_posts", "rejected")},
                    "targets_ok": num(s["targets_ok"]),
                    "targets_failed": num(s["targets_failed"]),
                    "rate_limited": num(detail.count(": rate_limited")),
                    "detail": detail,
                }
            )
        shown.append(
            {
                "run_id": run["run_id"],
                "anchor": "run-" + re.sub(r"[^A-Za-z0-9_-]", "-", run["run_id"]),
                "status": _status_text(lang, run["status"]),
                "status_class": _status_class(run["status"]),
                "started": format_time(run["started_at"], settings.tz),
                "finished": format_time(run["finished_at"], settings.tz),
                "duration": duration(lang, _seconds_between(run["started_at"], run["finished_at"])),
                "spiders": ", ".join(run["spiders"] or []),
                **{
                    k: count(run[k])
                    for k in ("fetched", "new_posts", "updated_posts", "rejected", "classified", "flagged", "queued")
                },
                "flagged_per_label": _flagged_per_label(run["flagged_per_label"], lang, num),
                "detail": run["detail"] or "",
                "spider_rows": rows,
            }
        )
    return render(request, "runs.html", runs=shown, limit=limit)
