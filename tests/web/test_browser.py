"""The workspace in a real browser (Playwright driving Debian's Chromium) against a real `pantau serve`: sign in,
triage three items by keyboard, a second reviewer confirms one, export its case file, an XSS post stays inert.
Screenshots of the queue, the item page and the dashboard go to test-artifacts/."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, Settings
from pipeline.storage import Store
from tests.web.seed import PASSWORD, XSS_TEXT, add_user, key, seed
from tests.web.server import running_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def _sign_in(page, url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url + "/login")
    page.fill('input[name="username"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]:has-text("Masuk")')
    page.wait_for_url(url + "/queue")


def _decide_by_keys(page, url: str, digit: str, expect_next: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    page.keyboard.press(digit)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/items/{expect_next[0]}/{expect_next[1]}")


@pytest.mark.slow
def test_triage_confirm_export_and_xss_in_chromium(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium (.ci/run does it)"
    from playwright.sync_api import sync_playwright

    settings = Settings.from_env({}, data_dir=tmp_path)
    store = Store(settings.database, 60)
    store.init()
    seed(store)
    add_user(store, "rina", "reviewer")
    add_user(store, "budi", "reviewer")
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with running_server(tmp_path, tmp_path / "server.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            rina = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            rina.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            _sign_in(rina, url, "rina")
            assert "6 butir cocok" in rina.inner_text("#queue-count")
            rina.keyboard.press("j")  # select the first row
            assert rina.locator("tr.row.selected").count() == 1
            rina.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
            rina.keyboard.press("n")  # open the next item: the top one, leased to rina
            rina.wait_for_url(f"{url}/items/{key(1)[0]}/{key(1)[1]}")
            assert rina.locator("#post-text mark").count() >= 1  # the model's cue is highlighted
            rina.screenshot(path=str(ARTIFACTS / "item.png"), full_page=True)
            _decide_by_keys(rina, url, "1", key(2))  # violation, with the suggested category and SKB item
            _decide_by_keys(rina, url, "2", key(3))  # not a violation
            _decide_by_keys(rina, url, "3", key(4))  # second opinion
            rows = store.query("SELECT platform_post_id, decision, status_after FROM review_decisions ORDER BY 1")
            assert [(r["decision"], r["status_after"]) for r in rows] == [
                ("violation", "second_review"),
                ("not_violation", "dismissed"),
                ("second_opinion", "second_opinion"),
            ]

            budi = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
            budi.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            _sign_in(budi, url, "budi")
            budi.goto(f"{url}/items/{key(1)[0]}/{key(1)[1]}")
            _decide_by_keys(budi, url, "1", key(3))  # confirms; next for budi: the item rina wanted a second opinion on
            budi.goto(f"{url}/items/{key(1)[0]}/{key(1)[1]}")
            assert "pelanggaran terkonfirmasi" in budi.inner_text("#item-status")
            with budi.expect_download() as info:
                budi.click("#casefile-link")
            archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
            names = {n.split("/", 1)[1] for n in archive.namelist()}
            assert {"index.html", "manifest.json", "raw.json", "decisions.json"} <= names
            manifest = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith("manifest.json"))))
            assert set(manifest["files"]) == names - {"manifest.json"}

            budi.goto(f"{url}/items/{key(5)[0]}/{key(5)[1]}")  # the post full of markup
            budi.wait_for_timeout(500)
            text = budi.inner_text("#post-text")
            assert "<script>alert('xss')</script>" in text and "onerror=alert(1)" in text and "javascript:" in text
            assert budi.locator("#post-text img, #post-text a, #post-text script, #post-text b").count() == 0
            budi.screenshot(path=str(ARTIFACTS / "item-xss.png"), full_page=True)
            budi.goto(f"{url}/dashboard")  # four charts, drawn as inline SVG under the strict CSP
            assert budi.locator("svg.chart").count() == 4
            budi.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == []  # no alert() ever ran
    assert XSS_TEXT.startswith("Awas <script>")
