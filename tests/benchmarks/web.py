"""Benchmark of the review workspace: with a million posts and 50,000 pending items in the store, a real
`pantau serve` (uvicorn) subprocess and 10 concurrent clients over loopback, the queue page's and a decision's
round-trip latency (p50/p95). Targets: queue p95 < 100 ms, decision p95 < 150 ms.

Every figure is a full HTTP round trip timed by the client (request sent to response read), each client a thread
with its own connection and session, and no pause between requests: 10 requests are in flight all the time,
which is harsher than 10 people reading evidence between clicks. The client threads share the 2-core machine
with the server (their CPU time is reported). Queue phase: each client loads the queue 60 times: its own work
(`todo`), everything open, and every fourth time a filtered page (by label, platform, watchlist, region, agency,
posting dates or another view; since the group-commit change every page comes from the server's memory, a
filtered one from its narrowing's rows, found once per load); the queue figure is over all of them, and both kinds
are also reported apart. Decision phase: each client opens the next item,
then 30 times reads the item page and decides (not a violation, second opinion, violation in turn, so that items
move through the four-eyes states and come back to other reviewers); the decision figure is the POST of the
decision (answered with a redirect to the next item, already leased, once the decision's group has committed),
and "to the next item" adds the GET of the page it leads to.

The store is generated straight into DuckDB with bulk SQL (posts, authors, watchlist, predictions), then queued
with the real `pipeline.review.refresh_queue`.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pipeline.review import refresh_queue
from pipeline.storage import POST_COLUMNS, PREDICTIONS_SCHEMA, Store
from tests.web.seed import PASSWORD, add_user
from tests.web.server import running_server

CLIENTS = 10
QUEUE_REQUESTS_EACH = 60
DECISIONS_EACH = 30
MODEL = "bench-model"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TEXT_SHA = re.compile(r'class="hash">([0-9a-f]{64})<')


def generate(store: Store, n: int) -> None:
    """n posts by n/200 authors over ~58 days; every 20th flagged; 500 authors on the watchlist."""
    authors = max(1, n // 200)
    with store.transaction() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"""
            INSERT INTO posts ({", ".join(POST_COLUMNS)}) SELECT 'mastodon', (113000000000000000 + i)::VARCHAR,
              'https://sosial.example/@u' || (i % {authors}) || '/' || (113000000000000000 + i),
              (i % {authors})::VARCHAR, 'u' || (i % {authors}) || '@sosial.example', txt, sha256(txt), 'id',
              TIMESTAMPTZ '2024-09-01 00:00:00+00' + to_seconds(i * 5), TIMESTAMPTZ '2024-11-20 00:00:00+00',
              TIMESTAMPTZ '2024-11-20 00:00:00+00', 'account:u' || (i % {authors}) || '@sosial.example',
              1, 0, i % 7, NULL, NULL, []::VARCHAR[], NULL, NULL, raw, sha256(raw), 1, 'bench'
            FROM (SELECT i, 'kabar ke-' || i || ' pak bupati kerja nyata, warga desa jalan rusak sekolah guru '
                         || 'puskesmas pasar banjir, coblos nomor ' || (i % 3 + 1) || ' ya' AS txt,
                         '{{"content":"<p>kabar ke-' || i || '</p>","id":"' || (113000000000000000 + i)
                         || '","padding":"' || repeat('x', 500) || '"}}' AS raw
                  FROM range({n}) t(i))
            """
        )
        con.execute(
            f"""
            INSERT INTO authors (platform, platform_id, handle, display_name, bio, url, first_seen_at, last_seen_at)
            SELECT 'mastodon', a::VARCHAR, 'u' || a || '@sosial.example', 'Warga ' || a,
              'Guru SD, abdi negara', 'https://sosial.example/@u' || a, TIMESTAMPTZ '2024-09-01 00:00:00+00',
              TIMESTAMPTZ '2024-11-20 00:00:00+00' FROM range({authors}) t(a)
            """
        )
        con.execute(
            f"""
            INSERT INTO watchlist (kind, platform, handle, name, agency, region_code, region_name, nip, identified_by,
              enabled, updated_at) SELECT 'account', 'mastodon', 'u' || a || '@sosial.example', 'ASN ' || a,
              'Dinas ' || (a % 20), '35.' || (a % 10 + 10), 'Kabupaten ' || (a % 10), '', 'bio menyebut ASN', true,
              now() FROM range(least(500, {authors})) t(a)
            """
        )
        con.execute(
            f"""
            INSERT INTO predictions ({", ".join(PREDICTIONS_SCHEMA.names)})
            SELECT 'mastodon', (113000000000000000 + i)::VARCHAR, '{MODEL}', p.text_sha256,
              CASE WHEN i % 20 = 0 THEN ['endorsement', 'campaign', 'attack', 'symbol'][i % 4 + 1]
                   ELSE 'non_political' END,
              CASE WHEN i % 20 = 0 THEN '{{"endorsement": 0.8, "non_political": 0.2}}'
                   ELSE '{{"endorsement": 0.05, "non_political": 0.95}}' END,
              CASE WHEN i % 20 = 0 THEN 0.5 + (i % 1000) / 2000.0 ELSE 0.05 END, i % 20 = 0,
              CASE WHEN i % 20 = 0 THEN ['kata dukungan: ''coblos nomor'''] ELSE []::VARCHAR[] END,
              TIMESTAMPTZ '2024-11-20 00:00:00+00', 'bench'
            FROM range({n}) t(i) JOIN posts p ON p.platform_post_id = (113000000000000000 + i)::VARCHAR
            """
        )
    refresh_queue(store, "bench", MODEL, now=datetime(2024, 11, 20, tzinfo=UTC))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def _client(url: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=120)
    token = CSRF.search(client.get("/login").text)
    assert token
    response = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 303, response.text[:300]
    return client


def _run(workers: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started


FILTERS = [  # the filtered queue pages, in turn (every one matches flagged posts of the generated store)
    {"label": "endorsement"},
    {"platform": "mastodon", "view": "open"},
    {"watchlist": "1"},
    {"region": "35.10"},
    {"agency": "Dinas 0"},
    {"date_from": "2024-10-01", "date_to": "2024-10-15"},
    {"view": "all", "label": "endorsement"},
]
DECISIONS = [
    {"decision": "not_violation"},
    {"decision": "second_opinion"},
    {"decision": "violation", "category": "endorsement", "skb_item": "2"},
]


def _queue_load(url: str, names: list[str], out: dict[str, list[float]], errors: list[str]) -> float:
    def worker(n: int, name: str) -> None:
        with closing(_client(url, name)) as client:
            for i in range(QUEUE_REQUESTS_EACH):
                if i % 4 == 3:
                    kind, params = "filtered", FILTERS[(n + i // 4) % len(FILTERS)]
                else:  # the reviewer's own work, then everything open
                    kind, params = "memory", {"view": "open"} if i % 2 else {}
                started = time.perf_counter()
                response = client.get("/queue", params=params)
                out[kind].append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"queue {params} {response.status_code}")

    return _run([threading.Thread(target=worker, args=(n, name)) for n, name in enumerate(names)])


def _decisions(url: str, names: list[str], out: dict[str, list[float]], errors: list[str]) -> float:
    def worker(n: int, name: str) -> None:
        try:
            with closing(_client(url, name)) as client:
                token = CSRF.search(client.get("/queue").text).group(1)  # type: ignore[union-attr]
                location = client.post("/queue/next", data={"csrf_token": token}).headers["location"]
                for i in range(DECISIONS_EACH):
                    if not location.startswith("/items/"):
                        return  # nothing left to decide (a small store)
                    started = time.perf_counter()
                    page = client.get(location)
                    out["page"].append(time.perf_counter() - started)
                    if i:
                        out["to_next"].append(out["decide"][-1] + out["page"][-1])
                    sha = TEXT_SHA.findall(page.text)[1]
                    data = {"csrf_token": token, "text_sha256": sha, **DECISIONS[(n + i) % len(DECISIONS)]}
                    started = time.perf_counter()
                    response = client.post(location.replace("/items/", "/decide/"), data=data)
                    out["decide"].append(time.perf_counter() - started)
                    if response.status_code != 303:
                        errors.append(f"decide {response.status_code}")
                        return
                    location = response.headers["location"]
        except Exception as exc:  # noqa: BLE001 - a failed client fails the benchmark, not just its thread
            errors.append(f"{name}: {exc!r}")

    return _run([threading.Thread(target=worker, args=(n, name)) for n, name in enumerate(names)])


def bench(n: int = 1_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        store = Store(data_dir / "pantau.duckdb", 120)
        store.init()
        started = time.perf_counter()
        generate(store, n)
        gen_seconds = time.perf_counter() - started
        pending = store.query("SELECT count(*) AS n FROM review_items WHERE status = 'pending'")[0]["n"]
        names = [f"peninjau{i}" for i in range(CLIENTS)]
        for name in names:
            add_user(store, name, "reviewer")
        size_mb = store.path.stat().st_size / 2**20
        queue: dict[str, list[float]] = {"memory": [], "filtered": []}
        decide: dict[str, list[float]] = {"decide": [], "page": [], "to_next": []}
        errors: list[str] = []
        with running_server(data_dir, data_dir / "server.log") as url:
            with closing(_client(url, names[0])) as first:  # the first queue page copies the queue's post fields
                started = time.perf_counter()
                assert first.get("/queue").status_code == 200
                first_page = time.perf_counter() - started
            cpu = time.process_time()
            queue_seconds = _queue_load(url, names, queue, errors)
            decide_seconds = _decisions(url, names, decide, errors)
            client_cpu = time.process_time() - cpu
    assert not errors, errors[:5]
    pages = queue["memory"] + queue["filtered"]
    requests = len(pages) + len(decide["decide"]) + len(decide["page"])
    seconds = queue_seconds + decide_seconds
    note = (
        f"queue page p50 {pct(pages, 0.5):.0f} ms p95 {pct(pages, 0.95):.0f} ms (target < 100; "
        f"unfiltered p95 {pct(queue['memory'], 0.95):.0f} ms, filtered p95 {pct(queue['filtered'], 0.95):.0f} ms); "
        f"decision round trip p50 {pct(decide['decide'], 0.5):.0f} ms p95 {pct(decide['decide'], 0.95):.0f} ms "
        f"(target < 150); item page p95 {pct(decide['page'], 0.95):.0f} ms; decision to next item shown p95 "
        f"{pct(decide['to_next'], 0.95):.0f} ms; {CLIENTS} clients, no pause between requests "
        f"({len(decide['decide'])} decisions in {decide_seconds:.1f} s; the clients used {client_cpu:.1f} s of CPU "
        f"in {seconds:.1f} s); {pending:,} pending items; first queue page {first_page:.1f} s (copies the queue's "
        f"post fields once); store {size_mb:,.0f} MB generated in {gen_seconds:.0f} s"
    )
    return {
        "stage": f"web workspace over loopback ({n:,} posts in the store)",
        "n": requests,
        "seconds": seconds,
        "rate": requests / seconds,
        "note": note,
        "queue_ms": {
            "p50": pct(pages, 0.5),
            "p95": pct(pages, 0.95),
            "mean": statistics.mean(pages) * 1000,
            "unfiltered_p95": pct(queue["memory"], 0.95),
            "filtered_p95": pct(queue["filtered"], 0.95),
        },
        "decision_ms": {"p50": pct(decide["decide"], 0.5), "p95": pct(decide["decide"], 0.95)},
        "item_page_ms": {"p50": pct(decide["page"], 0.5), "p95": pct(decide["page"], 0.95)},
        "to_next_item_ms": {"p50": pct(decide["to_next"], 0.5), "p95": pct(decide["to_next"], 0.95)},
    }
