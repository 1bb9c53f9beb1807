"""The nightly schedule against a real Prefect server on loopback: `pantau schedule` starts the server, registers
the deployment with a cron in the operator's zone, and the scheduler's run executes and is recorded; a second run
asked for while one is running is cancelled, not stacked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipeline.storage import Store
from tests.spiders.helpers import clean_env, start_replay

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "spiders" / "replay" / "data"
pytestmark = pytest.mark.slow
END = ("COMPLETED", "CANCELLED", "FAILED", "CRASHED")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST to the server's API. A 503 is retried a few times, as Prefect's own client does: the server answers it
    while its SQLite database is busy (seen once in a fresh-clone run, on a busy machine)."""
    data = json.dumps(body or {}).encode()
    for attempt in range(5):
        request = urllib.request.Request(
            f"{base}{path}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 4:
                raise
        time.sleep(1 + attempt)


def _wait(what: str, probe: Any, timeout_s: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pantau schedule exited early:\n{log.read_text()[-4000:]}")
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _runs(api: str, deployment_id: str) -> list[dict[str, Any]]:
    return _api(api, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})


def test_schedule_creates_runs_on_a_real_server(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "schedule.log"
    with start_replay(data_dir=DEMO) as replay, log.open("wb") as out:
        env = clean_env(
            PREFECT_HOME=str(tmp_path / "prefect"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PANTAU_DATA_DIR=str(tmp_path / "data"),
            PANTAU_REPLAY_URL=replay.url,
            PANTAU_WATCHLIST_PATH=str(DEMO / "watchlist.csv"),
            PANTAU_DOWNLOAD_DELAY_S="0.1",  # a run long enough to collide with
            PREFECT_RUNNER_POLL_FREQUENCY="2",
            PANTAU_AUTOTHROTTLE="false",
            PANTAU_SCHEDULE_CRON="* * * * *",
            PANTAU_TIMEZONE="Asia/Makassar",
            PANTAU_PREFECT_PORT=str(port),
        )
        env.pop("PREFECT_API_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "schedule"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deployment = _wait("the deployment", lambda: _api(api, "/deployments/filter", {}), 180, proc, log)[0]
            assert deployment["name"] == "nightly"
            schedule = deployment["schedules"][0]["schedule"]
            assert (schedule["cron"], schedule["timezone"]) == ("* * * * *", "Asia/Makassar")
            assert deployment["global_concurrency_limit"]["limit"] == 1
            assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

            def in_state(*states: str) -> list[dict[str, Any]]:
                return [r for r in _runs(api, deployment["id"]) if r["state_type"] in states]

            first = _wait("a scheduled run to start", lambda: in_state("RUNNING"), 200, proc, log)[0]
            assert first["auto_scheduled"] is True
            # an operator (or an overrunning night) asks for another run while this one runs: it must not stack
            extra = _api(api, f"/deployments/{deployment['id']}/create_flow_run", {})

            def extra_ended() -> list[dict[str, Any]]:
                return [r for r in _runs(api, deployment["id"]) if r["id"] == extra["id"] and r["state_type"] in END]

            assert _wait("the second run to end", extra_ended, 120, proc, log)[0]["state_type"] == "CANCELLED"
            done = _wait("the first run to complete", lambda: in_state("COMPLETED"), 200, proc, log)
            assert [r["id"] for r in done] == [first["id"]]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    runs = Store(tmp_path / "data" / "pantau.duckdb").query("SELECT status, new_posts FROM crawl_runs")
    assert runs and runs[0]["status"] == "ok" and runs[0]["new_posts"] > 0
    assert (tmp_path / "data" / "snapshot" / "pantau.duckdb").exists()
