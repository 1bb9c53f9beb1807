"""The nightly schedule: a real Prefect server (SQLite) and a served deployment of the nightly flow.

A schedule needs a Prefect server: ephemeral mode runs flows but keeps no schedule (flows/server.py starts
one). `serve_nightly` registers the deployment with `Cron(..., timezone=...)` in the
operator's zone and executes its runs in this process's runner. One run at a time: a run that would start while
another is running is cancelled, not stacked (a night that overruns should not snowball into the next).
"""

from __future__ import annotations

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.nightly import nightly
from pipeline.config import Settings

DEPLOYMENT = "nightly"


def nightly_deployment(settings: Settings) -> RunnerDeployment:
    """The deployment: the operator's cron in the operator's time zone, one run at a time."""
    return nightly.to_deployment(
        name=DEPLOYMENT,
        schedules=[Cron(settings.schedule_cron, timezone=settings.timezone)],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        description="pantau nightly run: crawl → validate/dedupe → classify → load → queue → snapshot",
        tags=["pantau"],
    )


def serve_nightly(settings: Settings) -> None:
    """Register the deployment and run its scheduled runs until interrupted (needs PREFECT_API_URL)."""
    from prefect import serve

    serve(nightly_deployment(settings))
