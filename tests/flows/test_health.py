from __future__ import annotations

from pathlib import Path

import pytest

from flows.health import run_alerts, send_alert
from pipeline.config import Settings
from pipeline.storage import Store
from tests.flows.webhook import webhook_receiver

TOTALS = {
    "new_posts": 0,
    "updated_posts": 0,
    "rejected": 0,
    "classified": 0,
    "flagged": 0,
    "queued": 0,
    "flagged_per_label": {},
}


def _run(store: Store, run_id: str, fetched: int, status: str = "ok") -> None:
    store.start_run(run_id, ["mastodon"])
    store.finish_run(run_id, status, {**TOTALS, "fetched": fetched}, "" if status == "ok" else "spider x failed")


def test_healthy_run_has_no_alerts(store: Store) -> None:
    for i, fetched in enumerate([100, 120, 90]):
        _run(store, f"r{i}", fetched)
    _run(store, "today", 80)
    assert run_alerts(store, Settings.from_env(), "today") == []


def test_sudden_drop_and_failure_are_alerts(store: Store) -> None:
    for i, fetched in enumerate([100, 120, 90, 110]):
        _run(store, f"r{i}", fetched)
    _run(store, "drop", 20)
    _run(store, "broken", 0, status="partial")
    drop = run_alerts(store, Settings.from_env(), "drop")
    assert len(drop) == 1 and "under 50% of the usual 105" in drop[0]
    broken = run_alerts(store, Settings.from_env(), "broken")
    assert any("ended partial: spider x failed" in a for a in broken)


def test_webhook_receives_json() -> None:
    with webhook_receiver() as (url, received):
        assert send_alert(url, {"run_id": "r1", "alerts": ["x"]}) == 204
    assert received == [{"run_id": "r1", "alerts": ["x"]}]


def test_unreachable_webhook_is_an_os_error(tmp_path: Path) -> None:
    with webhook_receiver() as (url, _):
        pass  # closed: nothing listens on that port any more
    with pytest.raises(OSError):
        send_alert(url, {"run_id": "r1"}, timeout_s=2)
