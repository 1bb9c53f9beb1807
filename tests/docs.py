"""Regenerate the README's generated blocks: `python -m tests.docs` (also `make docs`)."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.cli import cli_markdown
from pipeline.config import settings_markdown
from pipeline.views import VIEWS

README = Path(__file__).resolve().parents[1] / "README.md"


def views_markdown() -> str:
    rows = ["| view | what it answers |", "| --- | --- |"]
    rows += [f"| `{name}` | {about} |" for name, (about, _) in VIEWS.items()]
    return "\n".join(rows) + "\n"


BLOCKS = {"settings": settings_markdown, "cli": cli_markdown, "views": views_markdown}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        block = f"<!-- {name}:start -->\n{make()}<!-- {name}:end -->"
        text = re.sub(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", lambda _m, b=block: b, text, flags=re.S)
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {README}")
