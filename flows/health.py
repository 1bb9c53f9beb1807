"""Run health: decide whether a finished run needs an operator's attention, and tell them through a webhook.

A run needs attention when it failed or was partial, or when it fetched far less than usual: less than
`alert_min_ratio` of the median of the last `alert_history_runs` successful runs. A quiet night is not an error,
but a sudden drop usually is (an expired token, a platform's new markup, a blocked IP).
"""

from __future__ import annotations

import json
import statistics
import urllib.request
from typing import Any

from pipeline.config import Settings
from pipeline.storage import Store


def run_alerts(store: Store, settings: Settings, run_id: str) -> list[str]:
    """Reasons this run needs attention; empty when it looks healthy."""
    rows = store.query("SELECT status, fetched, detail FROM crawl_runs WHERE run_id = ?", [run_id])
    if not rows:
        return [f"run {run_id} was not recorded"]
    run = rows[0]
    alerts = []
    if run["status"] != "ok":
        alerts.append(f"run {run_id} ended {run['status']}: {run['detail'] or 'no detail'}")
    history = store.query(
        "SELECT fetched FROM crawl_runs WHERE status = 'ok' AND run_id <> ? AND fetched > 0 "
        "ORDER BY started_at DESC LIMIT ?",
        [run_id, settings.alert_history_runs],
    )
    if history:
        usual = statistics.median(r["fetched"] for r in history)
        if (run["fetched"] or 0) < settings.alert_min_ratio * usual:
            alerts.append(
                f"run {run_id} fetched {run['fetched'] or 0} posts, under {settings.alert_min_ratio:.0%} of the "
                f"usual {usual:.0f} (median of the last {len(history)} good runs)"
            )
    for spider in store.run_spiders(run_id):
        if spider["status"] != "ok":
            alerts.append(f"spider {spider['spider']} {spider['status']}: {spider['detail'][:300]}")
    return alerts


def send_alert(url: str, payload: dict[str, Any], timeout_s: float = 10.0) -> int:
    """POST the payload as JSON; return the HTTP status. Raises OSError when the receiver cannot be reached."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - operator-configured URL
        return int(response.status)
