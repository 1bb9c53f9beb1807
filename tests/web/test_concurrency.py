"""A nightly load runs while ten reviewers decide, all as real processes: a `pantau serve` (uvicorn) server, a
loader process loading a landing file batch by batch through `Store.load_batch`, and ten client threads posting
decisions over HTTP. No decision is lost, no reviewer sees an error page, the load completes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from flows.crawl import landing_paths
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.storage import Store
from tests.conftest import make_post, write_jsonl
from tests.web.seed import CSRF, PASSWORD, add_user, seed
from tests.web.server import pantau_env, running_server

REVIEWERS = 10
ITEMS = 600
LOAD_POSTS = 30_000
MAX_DECISIONS_EACH = 50
# The nightly load's storage work, as `flows.load` does it: read the landing file in batches, validate every line
# into a Post, load each batch in one transaction (`Store.load_batch`), then queue. (Classification is left out so
# that this test does not depend on the model artifact; it only adds time between transactions.)
LOADER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pipeline.review import refresh_queue
    from pipeline.schema import Post, sha256_text
    from pipeline.storage import Store, posts_to_arrow
    landing, db = Path(sys.argv[1]), Path(sys.argv[2])
    store = Store(db, lock_timeout_s=120)
    started, new, batches = time.monotonic(), 0, 0
    lines = landing.read_bytes().splitlines()
    for i in range(0, len(lines), 10000):
        posts = [Post.model_validate_json(line) for line in lines[i : i + 10000]]
        table = posts_to_arrow(posts, [sha256_text(p.text) for p in posts], "night-1")
        new += store.load_batch("night-1", table, None, []).new
        batches += 1
    queued = refresh_queue(store, "night-1", "v-test")
    print(json.dumps({"new": new, "batches": batches, "queued": queued, "seconds": time.monotonic() - started}))
    """
)


def _reviewer(url: str, name: str, loader_done: threading.Event, out: dict[str, list[tuple[str, int]]]) -> None:
    """Sign in, open the next item, decide, repeat: record (post id, final status) of every decision posted."""
    mine: list[tuple[str, int]] = []
    out[name] = mine
    choices = ("not_violation", "second_opinion", "violation")
    with httpx.Client(base_url=url, follow_redirects=True, timeout=180) as client:
        token = CSRF.search(client.get("/login").text)
        assert token
        page = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token.group(1)})
        page = client.post("/queue/next", data={"csrf_token": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
        n = 0
        while page.url.path.startswith("/items/") and n < MAX_DECISIONS_EACH:
            if loader_done.is_set() and n >= 5:
                break
            sha = re.findall(r'class="hash">([0-9a-f]{64})<', page.text)[1]
            decision = choices[n % 3]
            data = {"csrf_token": CSRF.search(page.text).group(1), "decision": decision, "text_sha256": sha}  # type: ignore[union-attr]
            if decision == "violation":
                data |= {"category": "endorsement", "skb_item": "2", "note": f"{name} #{n}"}
            post_id = page.url.path.rsplit("/", 1)[1]
            page = client.post(page.url.path.replace("/items/", "/decide/"), data=data)
            acknowledged = bool(page.history) and page.history[0].status_code == 303
            mine.append((post_id, page.status_code if acknowledged else -page.status_code))
            n += 1


@pytest.mark.slow
def test_nightly_load_while_ten_reviewers_decide(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    store = Store(settings.database, 60)
    store.init()
    seed(store, texts=[f"Ayo coblos nomor {i % 3 + 1} besok, kerja nyata pak bupati #{i}" for i in range(ITEMS)])
    names = [f"peninjau{i}" for i in range(REVIEWERS)]
    for name in names:
        add_user(store, name, "reviewer")
    landing = write_jsonl(
        landing_paths(settings, "mastodon", "night-1")["posts"],
        [make_post(10_000 + i, text=f"kabar desa ke-{i}: jalan rusak diperbaiki") for i in range(LOAD_POSTS)],
    )
    results: dict[str, list[tuple[str, int]]] = {}
    loader_done = threading.Event()
    with running_server(tmp_path, tmp_path / "server.log") as url:
        threads = [threading.Thread(target=_reviewer, args=(url, n, loader_done, results)) for n in names]
        for t in threads:
            t.start()
        time.sleep(1.0)  # reviewers are at work when the load starts
        loader = subprocess.run(
            [sys.executable, "-c", LOADER, str(landing), str(settings.database)],
            cwd=PROJECT_ROOT,
            env=pantau_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=400,
        )
        loader_done.set()
        for t in threads:
            t.join(timeout=300)
    assert loader.returncode == 0, loader.stderr[-3000:]
    load = json.loads(loader.stdout.strip().splitlines()[-1])
    assert load["new"] == LOAD_POSTS and load["batches"] == LOAD_POSTS // 10_000
    posted = [(name, pid, code) for name, rows in results.items() for pid, code in rows]
    assert len(results) == REVIEWERS and all(len(rows) >= 5 for rows in results.values())
    assert [p for p in posted if p[2] != 200] == []  # no error page, every decision acknowledged
    stored = {(r["reviewer"], r["platform_post_id"]) for r in store.query("SELECT * FROM review_decisions")}
    assert stored == {(name, pid) for name, pid, _ in posted}  # none lost, none invented
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == ITEMS + LOAD_POSTS
    assert "Traceback" not in (tmp_path / "server.log").read_text()
    print(f"load {load['seconds']:.1f} s, {len(posted)} decisions by {REVIEWERS} reviewers during it")
