from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
COMMANDS = ["init", "replay", "crawl", "classify", "run", "queue", "runs", "demo", "settings"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("pantau")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "demo" in out.stdout


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["queue"], env={"PANTAU_BATCH_SIZE": "banyak", "PANTAU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "PANTAU_BATCH_SIZE" in result.output


def test_init_loads_a_watchlist_and_reports_bad_rows(tmp_path: Path) -> None:
    wl = tmp_path / "w.csv"
    wl.write_text(
        "kind,platform,handle,name,agency,region_code,region_name,nip,identified_by,enabled\n"
        "account,mastodon,a@sosial.example,A,,35.91,X,,t,true\n"
        "account,mastodon,tanpa,B,,35.91,X,,t,true\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["init", "--watchlist", str(wl)], env={"PANTAU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "watchlist line 3 skipped" in result.output
    assert "1 rows loaded, 1 skipped" in result.output


def test_queue_on_empty_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["queue"], env={"PANTAU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "0 menunggu" in result.output
