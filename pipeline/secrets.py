"""Secrets pantau makes for itself (not the platforms' tokens, which come from the environment): random values
kept in files under the data folder, readable by the owner only, created on first use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def local_secret(data_dir: Path, name: str) -> str:
    """The secret `name` (e.g. the salt of analysts' pseudonyms); made on first use with mode 0600."""
    path = Path(data_dir) / f".{name}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()
