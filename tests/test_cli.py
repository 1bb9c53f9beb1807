from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
REQUIRED = {
    "init",
    "replay",
    "crawl",
    "classify",
    "run",
    "queue",
    "runs",
    "demo",
    "snapshot",
    "sql",
    "schedule",
    "purge",
}


def test_the_documented_commands_exist() -> None:
    assert REQUIRED <= set(COMMANDS)


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


def test_classify_command_labels_rows_and_rejects_bad_ones(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "1", "text": "Besok semua ke TPS ya, coblos nomor 2! Insya Allah dua periode", "platform": "x"}\n'
        '{"id": "2", "text": "Kampanye cuci tangan pakai sabun di SD Negeri 3 berjalan meriah."}\n'
        "{broken\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(src), "-o", str(out)], env={"PANTAU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "2 labelled, 1 rejected" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["platform"] == "x" and set(rows[0]["scores"]) == {
        "endorsement",
        "campaign",
        "attack",
        "symbol",
        "political_neutral",
        "non_political",
    }
    assert rows[0]["flagged"] is True and rows[1]["flagged"] is False
    rejects = Path(str(out) + ".rejects.jsonl").read_text(encoding="utf-8")
    assert '"line": 3' in rejects


def test_classify_command_on_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output
