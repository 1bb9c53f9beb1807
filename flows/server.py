"""Start a real Prefect server (SQLite in PREFECT_HOME) on loopback for the schedule.

This module must not import Prefect: Prefect reads PREFECT_API_URL once, when it is first imported, so the
caller starts the server, sets PREFECT_API_URL, and only then imports the flows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import PantauError


def server_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
            str(settings.prefect_port), "--analytics-off", "--no-ui"]  # fmt: skip


def start_server(settings: Settings, log_path: Path, timeout_s: float = 120.0) -> subprocess.Popen[bytes]:
    """Start a Prefect server on loopback (its SQLite database lives in PREFECT_HOME) and wait until it answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(server_command(settings), stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{settings.prefect_port}/api/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PantauError(f"prefect server exited with code {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise PantauError(f"prefect server did not answer on {url} within {timeout_s:.0f} s; see {log_path}")
