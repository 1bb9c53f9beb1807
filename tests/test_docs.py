"""The README is a user's document: its generated parts must match the code, and every table is described."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.storage import Store
from tests.docs import README, render


def test_generated_blocks_are_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "README is stale: run `make docs`"


def test_every_table_and_column_is_in_the_data_dictionary(store: Store) -> None:
    text = README.read_text(encoding="utf-8")
    dictionary = text.split("## Data dictionary", 1)[1].split("\n## ", 1)[0]
    sections = dict(re.findall(r"### (\w+)\n(.*?)(?=\n### |\Z)", dictionary, flags=re.S))
    columns = store.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'")
    missing = [
        f"{c['table_name']}.{c['column_name']}"
        for c in columns
        if f"`{c['column_name']}`" not in sections.get(c["table_name"], "")
    ]
    assert missing == []
    assert set(sections) == {c["table_name"] for c in columns}


def test_quick_start_has_exactly_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make demo", "make test"]
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_nothing_reads_outside_the_project() -> None:
    root = README.parent
    outside = ".." + "/shared"  # spelled in two parts so this file does not match itself
    files = [p for folder in ("pipeline", "flows", "models", "spiders", "tests") for p in (root / folder).rglob("*.py")]
    offenders = [str(p) for p in files if outside in p.read_text(encoding="utf-8")]
    assert offenders == []
    assert Path(root / "uv.lock").exists()
