"""The classifier's commands: `pantau evaluate`, `pantau explain`, `pantau train --help` (training itself is
tested through models.train.run in test_train.py, the function the command calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[2] / "spiders" / "replay" / "data" / "statuses.jsonl"


@pytest.mark.parametrize("command", ["train", "evaluate", "explain"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_evaluate_a_labelled_file_with_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "Ayo coblos nomor 2, beliau sudah terbukti!", "label": "endorsement"},
        {"text": "Jangan golput, datang ke TPS tanggal 14", "label": "political_neutral"},
        {"text": "Bakso nomor 2 di pojok pasar enak banget", "label": "non_political"},
    ]
    lines = [json.dumps(r) for r in rows] + ["not json", json.dumps({"text": "x", "label": "partisan"}), "[1]"]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(f)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "macro-F1" in out and "flagged" in out and "confusion matrix" in out
    assert "skipped 1: not valid JSON (lines 4)" in out
    assert "skipped 1: missing or unknown 'label' (lines 5)" in out


def test_evaluate_reads_the_demo_statuses_as_they_are() -> None:
    """Mastodon statuses with HTML content and a label: the held-out demo set is evaluated directly."""
    result = runner.invoke(app, ["evaluate", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "396" in result.output and "endorsement" in result.output


def test_evaluate_without_labelled_rows_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "none.jsonl"
    f.write_text('{"text": "halo"}\n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(f)])
    assert result.exit_code == 2 and "no labelled rows" in result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_explain_shows_label_scores_reasons_and_highlighted_cues() -> None:
    result = runner.invoke(app, ["explain", "Ayo coblos nomor 2, Pak Bagus sudah terbukti #TanahMerahMaju"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("endorsement (DITANDAI")
    assert "coblos¹" in out or "coblos²" in out  # a cue word, marked with the number of its reason
    assert "ajakan: coblos" in out and "menyebut paslon nomor 2: 'nomor 2'" in out
    assert "Bagus Pranoto–Ahmad Fauzan Hilmi" in out and "n-gram" in out
    for label in ("endorsement", "campaign", "attack", "symbol", "political_neutral", "non_political"):
        assert label in out
    quiet = runner.invoke(app, ["explain", ""])
    assert quiet.exit_code == 0 and "non_political (tidak ditandai" in quiet.output and "teks kosong" in quiet.output
