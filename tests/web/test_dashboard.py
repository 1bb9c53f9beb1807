"""The dashboard and the recent-runs page: numbers equal a direct count in the store, an empty store says so, role
checks, scraped names stay text in the SVG and the tables, and neither page carries an inline style."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from pipeline.config import Settings
from pipeline.schema import parse_post, sha256_text
from pipeline.storage import Store, posts_to_arrow
from pipeline.web import charts
from pipeline.web.app import create_app
from pipeline.web.i18n import format_time
from tests.conftest import make_post
from tests.web.seed import NOW, WATCH, add_user, csrf_of, predictions, sign_in

EVIL_REGION = "<script>alert('wilayah')</script>"
EVIL_LABEL = '<script>alert("label")</script>'
# (days before NOW, hour in UTC, label, flagged); 18:00 UTC is already the next day in WIB (UTC+7). NOW is
# 2024-11-20 00:00 UTC, and the seed's six flagged posts are on 2024-11-20 in WIB.
EXTRA = [
    (1, 2, "campaign", True),
    (1, 18, "attack", True),
    (2, 5, "symbol", True),
    (2, 6, EVIL_LABEL, True),
    (3, 9, "campaign", True),
    (3, 10, "campaign", False),
    (9, 3, "attack", True),
    (40, 3, "endorsement", True),  # outside the 30-day window of the per-day chart, inside the all-time charts
]


def add_flags(store: Store, start: int = 20) -> None:
    """More posts on other days (some after 17:00 UTC), other labels, one not flagged; a second watchlist account
    whose region's name is markup."""
    times = [NOW - timedelta(days=d) + timedelta(hours=h) for d, h, _, _ in EXTRA]
    posts = [
        parse_post(make_post(start + n, text=f"unggahan tambahan {n}", posted_at=at.isoformat()))
        for n, at in enumerate(times)
    ]
    shas = [sha256_text(p.text) for p in posts]
    table = predictions(posts, shas, [0.9] * len(posts))
    store.load_batch("r2", posts_to_arrow(posts, shas, "r2"), table, [])
    with store.transaction() as con:
        for post, (_, _, label, flagged) in zip(posts, EXTRA, strict=True):
            con.execute(
                "UPDATE predictions SET label = ?, flagged = ? WHERE platform_post_id = ?",
                [label, flagged, post.platform_post_id],
            )
    evil = {**WATCH, "handle": "warga2@sosial.example", "region_code": "99.01", "region_name": EVIL_REGION}
    store.replace_watchlist([{**WATCH, "handle": "warga1@sosial.example"}, evil])


class Tables(HTMLParser):
    """The text of every cell of every table with an id, row by row (header, body and footer)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self.tables[self._table].append([])
        elif self._table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif self._table and tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    return Tables(html).tables


def column(rows: list[list[str]], name: str) -> dict[str, str]:
    """One column of a table by its header, keyed by each row's first cell (body and footer rows)."""
    index = rows[0].index(name)
    return {row[0]: row[index] for row in rows[1:] if len(row) > index}


def svg(html: str, chart_id: str) -> str:
    return html.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]


def direct(store: Store, sql: str) -> list[tuple[object, ...]]:
    with store.connect() as con:
        return con.execute(sql).fetchall()


FLAGGED = """
FROM posts p JOIN predictions pr ON pr.platform = p.platform AND pr.platform_post_id = p.platform_post_id
    AND pr.text_sha256 = p.text_sha256
WHERE pr.flagged
"""


def test_dashboard_numbers_equal_a_direct_count(seeded: Store, clients: dict[str, TestClient]) -> None:
    add_flags(seeded)
    page = clients["ana"].get("/dashboard")
    assert page.status_code == 200
    found = tables(page.text)

    per_day = direct(
        seeded,
        f"SELECT CAST(timezone('Asia/Jakarta', p.posted_at) AS DATE)::VARCHAR, count(*) {FLAGGED} GROUP BY 1",
    )
    shown = column(found["table-per-day"], "Jumlah")
    last = max(day for day, _ in per_day)
    in_window = {day: n for day, n in per_day if day > str(datetime.fromisoformat(last).date() - timedelta(days=30))}
    assert {day: int(n) for day, n in shown.items() if day != "Jumlah" and n != "0"} == in_window
    assert len(shown) == 31  # 30 days, oldest to the last day with a flag, and the total
    assert int(shown["Jumlah"]) == sum(in_window.values()) == 12  # the post 40 days back is outside
    assert (shown["2024-11-20"], shown["2024-11-19"]) == ("7", "1")  # 2024-11-19 18:00 UTC is the 20th in WIB

    by_label = dict(direct(seeded, f"SELECT pr.label, count(*) {FLAGGED} GROUP BY 1"))
    shown = column(found["table-by-label"], "Ditandai")
    names = {"Dukungan / ajakan memilih": "endorsement", "Kampanye": "campaign", "Serangan / kampanye negatif":
             "attack", "Simbol keberpihakan": "symbol", EVIL_LABEL: EVIL_LABEL}  # fmt: skip
    assert {names[k]: int(v) for k, v in shown.items() if k != "Jumlah"} == by_label
    assert int(shown["Jumlah"]) == sum(by_label.values()) == 13

    watch = "LEFT JOIN watchlist w ON w.platform = p.platform AND lower(w.handle) = lower(p.author_handle) WHERE"
    by_region = dict(
        direct(seeded, f"SELECT coalesce(w.region_code, ''), count(*) {FLAGGED.replace('WHERE', watch)} GROUP BY 1")
    )
    shown = column(found["table-by-region"], "Ditandai")
    assert int(shown["Kabupaten Tanah Merah (35.91)"]) == by_region["35.91"]
    assert int(shown[f"{EVIL_REGION} (99.01)"]) == by_region["99.01"]
    assert int(shown["(akun di luar daftar pantau)"]) == by_region[""]

    backlog = dict(direct(seeded, "SELECT status, count(*) FROM review_items GROUP BY 1"))
    rows = found["table-backlog"]
    assert rows[1][0] == "menunggu" and int(column(rows, "Butir")["menunggu"]) == backlog["pending"] == 6
    ages = column(rows, "≥ 14 hari")  # the seed queued everything on 2024-11-20
    assert ages["menunggu"] == "6"


def test_backlog_follows_decisions_and_the_cache_follows_loads(seeded: Store, clients: dict[str, TestClient]) -> None:
    client = clients["sari"]
    before = tables(client.get("/dashboard").text)
    assert column(before["table-by-label"], "Ditandai")["Jumlah"] == "6"
    with seeded.transaction() as con:
        con.execute("UPDATE review_items SET status = 'disputed' WHERE platform_post_id LIKE '%1'")
        con.execute("UPDATE review_items SET status = 'confirmed' WHERE platform_post_id LIKE '%2'")
    add_flags(seeded)  # a load: the post-wide numbers are computed again
    page = client.get("/dashboard").text
    after = tables(page)
    assert column(after["table-by-label"], "Ditandai")["Jumlah"] == "13"
    items = column(after["table-backlog"], "Butir")
    assert items == {"menunggu": "4", "berbeda pendapat (supervisor)": "1", "Jumlah": "5"}
    assert "pelanggaran terkonfirmasi 1" in page


def test_an_empty_store_says_there_is_no_data(settings: Settings) -> None:
    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    add_user(store, "sari", "supervisor")
    app = create_app(settings)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            sign_in(client, "sari")
            page = client.get("/dashboard")
            assert page.status_code == 200
            assert page.text.count("Belum ada data.") == 3 and "Tidak ada butir terbuka." in page.text
            assert "<svg" not in page.text and "<table" not in page.text
            runs = client.get("/runs")
            assert runs.status_code == 200 and "Belum ada proses yang tercatat." in runs.text
    finally:
        app.state.gate.close()


def test_who_may_open_the_dashboard_and_the_runs(clients: dict[str, TestClient]) -> None:
    for name in ("rina", "sari", "ana", "adm"):
        page = clients[name].get("/dashboard")
        assert page.status_code == 200, name
        assert '<a href="/dashboard">Dasbor</a>' in page.text
        runs = clients[name].get("/runs")
        assert runs.status_code == (200 if name in ("sari", "adm") else 403), name
        assert ('href="/runs"' in page.text) == (name in ("sari", "adm"))
    anon = clients["anon"]
    for path in ("/dashboard?days=14", "/runs"):
        response = anon.get(path)
        assert response.url.path == "/login" and urlsplit(str(response.url)).query.startswith("next=%2F")


def test_bad_parameters_answer_400(clients: dict[str, TestClient]) -> None:
    assert clients["ana"].get("/dashboard?days=7").status_code == 400
    assert clients["ana"].get("/dashboard?days=x").status_code == 400
    assert clients["sari"].get("/runs?limit=0").status_code == 400


def test_scraped_names_stay_text_in_charts_and_tables(seeded: Store, clients: dict[str, TestClient]) -> None:
    add_flags(seeded)
    page = clients["rina"].get("/dashboard").text
    assert page.count("<script") == 1  # only /static/keys.js
    region = "&lt;script&gt;alert(&#39;wilayah&#39;)&lt;/script&gt;"
    label = "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;"
    assert region in svg(page, "chart-by-region") and label in svg(page, "chart-by-label")
    assert label in svg(page, "chart-per-day")  # in the bars' tooltips
    assert region in page.split('id="table-by-region"', 1)[1].split("</table>", 1)[0]
    assert label in page.split('id="table-by-label"', 1)[1].split("</table>", 1)[0]
    assert label in page.split('id="table-per-day"', 1)[1].split("</table>", 1)[0]
    classes = set(re.findall(r'class="([^"]*)"', page))
    assert all(re.fullmatch(r"[a-z0-9 _-]*", c) for c in classes), classes  # no store text ever becomes a class


def test_csp_and_no_inline_style(seeded: Store, clients: dict[str, TestClient]) -> None:
    add_flags(seeded)
    record_run(seeded)
    for path in ("/dashboard", "/dashboard?days=365", "/runs"):
        response = clients["sari"].get(path)
        csp = response.headers["content-security-policy"]
        assert "style-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert "style=" not in response.text and "<style" not in response.text
        assert response.headers["cache-control"] == "no-store"


def test_dashboard_in_english(clients: dict[str, TestClient]) -> None:
    client = clients["ana"]
    token = csrf_of(client.get("/dashboard").text)
    page = client.post("/language", data={"lang": "en", "next": "/dashboard", "csrf_token": token})
    assert page.url.path == "/dashboard"
    assert "Flagged posts per day" in page.text and "Review backlog" in page.text
    assert column(tables(page.text)["table-backlog"], "Items")["pending"] == "6"


# --- runs ----------------------------------------------------------------------------------------------------------


def record_run(store: Store, run_id: str = "r-2024-11-20", detail: str = "") -> None:
    store.start_run(run_id, ["mastodon", "bluesky"])
    started = datetime(2024, 11, 19, 18, 0, tzinfo=UTC)
    common = {"started_at": started, "finished_at": started + timedelta(minutes=3), "attempts": 1}
    store.record_spider(
        run_id,
        {**common, "spider": "mastodon", "status": "partial", "crawl_seconds": 95.0, "load_seconds": 4.5,
         "fetched": 1234, "new_posts": 1000, "updated_posts": 7, "rejected": 3, "targets_ok": 10, "targets_failed": 3,
         "detail": detail or "a@x: rate_limited (retries exhausted); b@x: rate_limited 429; c@x: not_found 404"},
    )  # fmt: skip
    store.record_spider(
        run_id,
        {**common, "spider": "bluesky", "status": "ok", "crawl_seconds": 12.0, "load_seconds": 1.0, "fetched": 40,
         "new_posts": 30, "updated_posts": 0, "rejected": 0, "targets_ok": 4, "targets_failed": 0, "detail": ""},
    )  # fmt: skip
    totals = {"fetched": 1274, "new_posts": 1030, "updated_posts": 7, "rejected": 3, "classified": 1030,
              "flagged": 12, "queued": 11, "flagged_per_label": {"endorsement": 9, "attack": 3}}  # fmt: skip
    store.finish_run(run_id, "partial", totals, "mastodon: 3 targets failed")
    with store.transaction() as con:
        con.execute("UPDATE crawl_runs SET started_at = ? WHERE run_id = ?", [started, run_id])


def test_runs_show_what_pantau_runs_shows(seeded: Store, settings: Settings, clients: dict[str, TestClient]) -> None:
    record_run(seeded, "r-old")
    with seeded.transaction() as con:
        con.execute("UPDATE crawl_runs SET started_at = started_at - INTERVAL 1 DAY WHERE run_id = 'r-old'")
    record_run(seeded)
    seeded.start_run("r-now", ["mastodon"])  # still running
    page = clients["adm"].get("/runs").text
    found = tables(page)
    runs = found["runs-table"]
    assert [row[0] for row in runs[1:]] == ["r-now", "r-2024-11-20", "r-old"]  # newest first, as `pantau runs`
    row = dict(zip(runs[0], runs[2], strict=True))
    stored = seeded.recent_runs(2)[1]
    assert row["Mulai"] == format_time(stored["started_at"], settings.tz) == "2024-11-20 01:00 WIB"
    assert (row["Diambil"], row["Baru"], row["Ditolak"], row["Ditandai"], row["Masuk antrean"]) == (
        "1.274", "1.030", "3", "12", "11",
    )  # fmt: skip
    assert row["Status"] == "sebagian"
    assert "Dukungan / ajakan memilih: 9" in row["Ditandai per label"] and "Serangan" in row["Ditandai per label"]
    assert dict(zip(runs[0], runs[1], strict=True))["Status"] == "berjalan"
    assert "belum selesai" in page

    section = page.split('id="run-r-2024-11-20"', 1)[1].split("</section>", 1)[0]
    spiders = tables(section.replace('class="log spiders"', 'class="log spiders" id="s"'))["s"]
    by_spider = {r[0]: dict(zip(spiders[0], r, strict=True)) for r in spiders[1:]}
    mastodon = by_spider["mastodon"]
    assert (mastodon["Diambil"], mastodon["Baru"], mastodon["Ditolak"]) == ("1.234", "1.000", "3")
    assert mastodon["Target kena batas laju"] == "2" and mastodon["Target gagal"] == "3"
    assert mastodon["Waktu crawl"] == "1:35" and mastodon["Waktu muat"] == "4,5 s"
    assert by_spider["bluesky"]["Target kena batas laju"] == "0" and by_spider["bluesky"]["Status"] == "berhasil"

    assert "r-old" not in clients["adm"].get("/runs?limit=2").text


def test_run_details_are_text(seeded: Store, clients: dict[str, TestClient]) -> None:
    record_run(seeded, detail="<script>alert(1)</script>: rate_limited <img src=x onerror=alert(2)>")
    page = clients["sari"].get("/runs").text
    assert page.count("<script") == 1 and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: rate_limited &lt;img src=x onerror=alert(2)&gt;" in page


# --- the drawing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("largest", "top", "step"), [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (99, 100, 25)])
def test_axis_top(largest: int, top: int, step: int) -> None:
    assert charts.axis_top(largest) == (top, step)


def test_bars_escape_and_cut_long_names() -> None:
    long = "Kabupaten " + "Sangat " * 10 + "Panjang"
    drawing = str(charts.bars("c", "judul <b>", "isi", [charts.Bar(long, (3,)), charts.Bar("<b>x</b>", (0,))]))
    assert "<b>" not in drawing and "judul &lt;b&gt;" in drawing and "&lt;b&gt;x&lt;/b&gt;" in drawing
    assert "…</text>" in drawing and f"<title>{long}: 3</title>" in drawing  # the tooltip keeps the whole name
    assert 'role="img"' in drawing and 'aria-labelledby="c-title c-desc"' in drawing


def test_the_dashboard_reads_no_post_text(clients: dict[str, TestClient]) -> None:
    page = clients["adm"].get("/dashboard").text  # admins read no evidence: only counts and region names show
    for text in ("coblos nomor satu", "warga1@sosial.example", "Warga Satu", "198703122015032004"):
        assert text not in page


def test_days_select_window(seeded: Store, clients: dict[str, TestClient]) -> None:
    add_flags(seeded)
    counts = defaultdict(int)
    for days in (14, 90):
        shown = column(tables(clients["ana"].get(f"/dashboard?days={days}").text)["table-per-day"], "Jumlah")
        counts[days] = int(shown.pop("Jumlah"))
        assert len(shown) == days
    assert counts == {14: 12, 90: 13}
