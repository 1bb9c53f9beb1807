"""`pantau import`: an export goes through the same load as a spider's landing files (validate, dedupe, classify,
store, queue), its bad rows land in `rejects` with their reasons, and importing it again adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.storage import Store
from tests.spiders.golden import FIXTURES_ROOT

pytestmark = pytest.mark.slow
runner = CliRunner()
EXPORTS = FIXTURES_ROOT / "import"


def test_import_loads_posts_and_rejects_and_is_idempotent(tmp_path: Path) -> None:
    env = {"PANTAU_DATA_DIR": str(tmp_path)}
    first = runner.invoke(app, ["import", str(EXPORTS / "meta_content_library.csv"), "--format", "meta-csv"], env=env)
    assert first.exit_code == 0, first.output
    assert "3 posts (3 new, 0 updated), 5 rejected" in first.output
    again = runner.invoke(app, ["import", str(EXPORTS / "meta_content_library.csv"), "--format", "meta-csv"], env=env)
    assert "3 posts (0 new, 0 updated)" in again.output
    tweets = runner.invoke(app, ["import", str(EXPORTS / "x_api_answers.jsonl"), "--format", "x-json"], env=env)
    assert tweets.exit_code == 0, tweets.output
    store = Store(tmp_path / "pantau.duckdb")
    rows = store.query("SELECT platform, count(*) AS n FROM posts GROUP BY platform ORDER BY platform")
    assert rows == [{"platform": "import", "n": 3}, {"platform": "x", "n": 2}]
    rejects = store.query(
        "SELECT stage, source, reason FROM rejects WHERE source = 'import:meta-csv' ORDER BY reject_id"
    )
    assert len(rejects) == 10 and {r["stage"] for r in rejects} == {"import"}
    assert rejects[0]["reason"] == "meta_content_library.csv:5: platform_post_id: column 'id' is empty or missing"
    assert store.query("SELECT count(*) AS n FROM predictions")[0]["n"] == 5  # classified once per post and text
    runs = store.query("SELECT status, detail FROM crawl_runs ORDER BY started_at")
    assert [r["detail"] for r in runs][0] == "import of meta_content_library.csv (meta-csv)"
    author = store.query("SELECT asn_score, asn_reasons FROM authors WHERE platform = 'x'")[0]
    assert author["asn_score"] > 0.5 and "menyebut PNS/ASN" in author["asn_reasons"]


def test_import_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    env = {"PANTAU_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["import", str(EXPORTS / "laporan_warga.csv"), "--format", "csv"], env=env)
    assert result.exit_code == 2 and "needs --mapping FILE" in result.output
    missing = runner.invoke(app, ["import", str(tmp_path / "tidak-ada.csv"), "--format", "meta-csv"], env=env)
    assert missing.exit_code == 2 and "does not exist" in missing.output
