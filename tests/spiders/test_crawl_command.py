"""`pantau crawl <spider>`: runs the spider against the replay server and prints one result per target, read
back from the landing files (new posts, skipped, rejected with reasons, rate-limited, not public)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.crawl import TargetResult, landing_paths, target_results
from pipeline.cli import app
from pipeline.config import Settings
from tests.spiders.helpers import start_replay

pytestmark = pytest.mark.slow
runner = CliRunner()
HEADER = "kind,platform,handle,name,agency,region_code,region_name,nip,identified_by,enabled\n"


def test_crawl_prints_every_targets_result(tmp_path: Path) -> None:
    watchlist = tmp_path / "w.csv"
    watchlist.write_text(
        HEADER
        + "channel,telegram,guru_tanahmerah,Sudarto,,35.91,Kabupaten Tanah Merah,,kanal ASN,true\n"
        + "channel,telegram,@infotanahmerah,Info,,35.91,Kabupaten Tanah Merah,,kanal warga,true\n"
        + "channel,telegram,https://t.me/kanal_tertutup,X,,35.91,Kabupaten Tanah Merah,,laporan,true\n",
        encoding="utf-8",
    )
    with start_replay() as replay:
        env = {
            "PANTAU_DATA_DIR": str(tmp_path / "data"),
            "PANTAU_REPLAY_URL": replay.url,
            "PANTAU_DOWNLOAD_DELAY_S": "0",
            "PANTAU_AUTOTHROTTLE": "false",
            "NO_PROXY": "127.0.0.1",
        }
        assert runner.invoke(app, ["init", "--watchlist", str(watchlist)], env=env).exit_code == 0
        result = runner.invoke(app, ["crawl", "telegram", "--run-id", "r1"], env=env)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "telegram: 16 posts" in out
    assert "channel:guru_tanahmerah" in out and "channel:kanal_tertutup" in out
    assert "not_public" in out and "no public preview" in out
    assert "1 not public, 2 ok" in out


def test_target_results_report_unfinished_and_unreadable_rows(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    paths = landing_paths(settings, "telegram", "r1")
    paths["input"].parent.mkdir(parents=True)
    paths["input"].write_text(json.dumps([{"target": "channel:a"}, {"target": "channel:b"}]), encoding="utf-8")
    row = {
        "target": "channel:a",
        "status": "ok",
        "fetched": 3,
        "rejected": 1,
        "skipped": 2,
        "reasons": {"views 'x' is not a count": 1},
        "detail": "3 posts",
    }
    paths["targets"].write_text(json.dumps(row) + "\n{cut off", encoding="utf-8")
    results = target_results(settings, "telegram", "r1")
    assert results[0] == TargetResult("channel:a", "ok", 3, 2, 1, {"views 'x' is not a count": 1}, "3 posts")
    assert results[1].status == "error" and "unreadable targets row" in results[1].detail
    assert results[2] == TargetResult(
        "channel:b", "unfinished", detail="the crawl stopped before this target's paging ended; no cursor move"
    )
