"""Scale-out: the nightly crawl split into shards, each a flow run on a worker of a Prefect process work pool.

`nightly_sharded` (the parent) builds every spider's targets from the store, splits them into shards (targets of
one host stay together, so each host is still paced by one spider process), writes each shard's work to its own
folder and starts one `crawl_shard` flow run per shard through the shard deployment. A shard crawls to landing
files in its own folder, `<data_dir>/shards/<run_id>/<shard>/`, and never opens DuckDB (it has one writer), so no
two shards ever write the same file. When every shard has finished, the parent gathers each spider's files into
the run's usual landing files and loads them once, with the nightly run's own steps (load, record, queue,
snapshot, alerts). A shard that did not complete costs no posts (what it landed is loaded) but none of its
targets' cursors move, so the next run reads them again; the run is recorded `partial` and the flow fails.

Shards and the parent share one data folder (one machine, or a shared file system). Operators:

    pantau shards deploy --pool POOL            # the shard deployment (code from this folder)
    pantau shards run --shards N [SPIDER ...]   # one sharded nightly run (needs PREFECT_API_URL)

(`python -m flows.shards deploy|run` is the same, and prints the run's summary as JSON.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.runtime import task_run
from prefect.states import Cancelled, Cancelling

from flows.crawl import CrawlResult, build_targets, landing_paths, run_spider
from flows.load import load
from flows.nightly import close_run, new_run_id, prepare, spider_row
from models.predict import Classifier
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import CrawlError

SHARD_FLOW = "pantau-crawl-shard"
SHARD_DEPLOYMENT = "crawl-shard"
ENTRYPOINT = "flows/shards.py:crawl_shard"
# What a shard needs of the parent's settings (secrets excluded: each worker has its own in its environment).
CRAWL_FIELDS = (
    "replay_url",
    "user_agent",
    "operator_contact",
    "crawl_retries",
    "crawl_timeout_s",
    "max_pages_per_target",
    "concurrent_requests",
    "download_delay_s",
    "autothrottle",
)
_FILES = ("posts", "rejects", "deletions", "targets", "log")

Work = dict[str, list[dict[str, Any]]]  # spider -> its targets in one shard


def plan_shards(targets: Work, shards: int) -> list[Work]:
    """Split every spider's targets into `shards` shards. The targets of one spider and host (a Mastodon instance,
    a site) stay in one shard, so no host is paced by two processes; the largest groups go first, each to the
    shard with the fewest targets so far. A spider without targets still goes to one shard (it runs, as in the
    nightly run). Deterministic for the same targets."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1 (got {shards})")
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    for spider, items in targets.items():
        by_host: dict[str, list[dict[str, Any]]] = {}
        for target in items:
            by_host.setdefault(str(target.get("instance") or target["target"]), []).append(target)
        groups += [(spider, host, group) for host, group in by_host.items()] or [(spider, "", [])]
    groups.sort(key=lambda g: (-len(g[2]), g[0], g[1]))
    plan: list[Work] = [{} for _ in range(shards)]
    sizes = [0] * shards
    for spider, _, group in groups:
        k = min(range(shards), key=lambda i: (sizes[i], i))
        plan[k].setdefault(spider, []).extend(group)
        sizes[k] += len(group)
    return plan


def shard_folder(settings: Settings, run_id: str, shard: int) -> Path:
    """A shard's own data folder: its work file, its landing files and its report."""
    return settings.data_dir.resolve() / "shards" / run_id / str(shard)


# ---------------------------------------------------------------- the shard (runs on a worker)


@task(name="crawl-targets", cache_policy=NO_CACHE, retry_delay_seconds=2)
def crawl_targets(settings: Settings, spider: str, run_id: str, targets: list[dict[str, Any]]) -> CrawlResult:
    """Prefect task: crawl the given targets (no store: the parent built them). Retried on failure."""
    attempt = task_run.get_run_count() or 1
    get_run_logger().info("crawling %s: %d targets (attempt %d)", spider, len(targets), attempt)
    return replace(run_spider(settings, spider, run_id, targets), attempts=attempt)


@flow(name=SHARD_FLOW)
def crawl_shard(run_id: str, shard: int, work_file: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Crawl one shard's spiders and targets (from `work_file`) to landing files under `overrides["data_dir"]`,
    the shard's own folder; write `shard.json` there (per spider: targets, seconds, attempts, error). Never opens
    DuckDB. Fails when a spider fails after its retries."""
    settings = Settings.from_env(**(overrides or {}))
    work: Work = json.loads(Path(work_file).read_text(encoding="utf-8"))
    futures = {
        name: crawl_targets.with_options(retries=settings.crawl_retries).submit(settings, name, run_id, targets)
        for name, targets in work.items()
    }
    report: dict[str, dict[str, Any]] = {}
    failures = []
    for name, future in futures.items():
        future.wait()
        row: dict[str, Any] = {"targets": len(work[name]), "seconds": 0.0, "attempts": settings.crawl_retries + 1}
        if future.state.is_completed():
            done = future.result()
            row.update(seconds=done.seconds, attempts=done.attempts, error="")
        else:
            row["error"] = str(future.state.message or future.state.name)
            failures.append(f"{name}: {row['error']}")
        report[name] = row
    manifest = {"run_id": run_id, "shard": shard, "spiders": report}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "shard.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if failures:
        raise CrawlError(f"shard {shard} of run {run_id} failed: {'; '.join(failures)}")
    return manifest


def deploy_shards(work_pool: str, name: str = SHARD_DEPLOYMENT, source: str | Path = PROJECT_ROOT) -> UUID:
    """Register the shard deployment on a process work pool; its runs take their code from `source`: this
    project's folder (at the same path on every worker machine) or a git URL. No image is built. Needs
    PREFECT_API_URL."""
    shard_flow = crawl_shard.from_source(source=str(source), entrypoint=ENTRYPOINT)
    return shard_flow.deploy(
        name=name,
        work_pool_name=work_pool,
        description="pantau: crawl one shard of a nightly run to landing files (no DuckDB writes)",
        tags=["pantau"],
        print_next_steps=False,
        ignore_warnings=True,
    )


# ---------------------------------------------------------------- the parent


@dataclass
class ShardRun:
    """One shard of a run: what it was given and how its flow run ended."""

    shard: int
    folder: Path
    work: Work
    flow_run_id: UUID | None = None
    state: str = "NOT_STARTED"
    worker: str = ""
    message: str = ""
    spiders: dict[str, dict[str, Any]] = field(default_factory=dict)  # the shard's report (shard.json)

    @property
    def ok(self) -> bool:
        return self.state == StateType.COMPLETED.value

    def why(self, spider: str) -> str:
        error = self.spiders.get(spider, {}).get("error") or self.message
        return f"shard {self.shard} on {self.worker or 'no worker'} {self.state}: {error}"

    def summary(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "flow_run_id": str(self.flow_run_id) if self.flow_run_id else None,
            "worker": self.worker,
            "state": self.state,
            "targets": {name: len(targets) for name, targets in self.work.items()},
        }


def shard_overrides(settings: Settings, folder: Path) -> dict[str, Any]:
    """The settings a shard runs with: the parent's crawl settings, and the shard's folder as its data folder."""
    values = settings.model_dump(mode="json", include=set(CRAWL_FIELDS))
    return {**{k: v for k, v in values.items() if v is not None}, "data_dir": str(folder)}


def _start(deployment: str, run_id: str, shard: ShardRun, settings: Settings) -> None:
    shard.folder.mkdir(parents=True, exist_ok=True)
    work_file = shard.folder / "work.json"
    work_file.write_text(json.dumps(shard.work, ensure_ascii=False, indent=1), encoding="utf-8")
    parameters = {
        "run_id": run_id,
        "shard": shard.shard,
        "work_file": str(work_file),
        "overrides": shard_overrides(settings, shard.folder),
    }
    flow_run = run_deployment(
        deployment, parameters=parameters, timeout=0, flow_run_name=f"{run_id}-shard-{shard.shard}", tags=["pantau"]
    )
    shard.flow_run_id, shard.state = flow_run.id, "SCHEDULED"


def _wait(shards: list[ShardRun], timeout_s: float, poll_s: float = 2.0) -> None:
    """Wait until every started shard's flow run is final; past the deadline, cancel the rest (they count as
    failed). Records each shard's state, message and the worker that ran it (the label its worker sets)."""
    pending = [s for s in shards if s.flow_run_id is not None]
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while pending:
            for shard in list(pending):
                flow_run: FlowRun = client.read_flow_run(shard.flow_run_id)  # type: ignore[arg-type]
                shard.worker = str(flow_run.labels.get("prefect.worker.name") or "")
                if flow_run.state is not None:
                    shard.state, shard.message = flow_run.state.type.value, str(flow_run.state.message or "")
                    if flow_run.state.is_final():
                        pending.remove(shard)
            if pending and time.monotonic() > deadline:
                for shard in pending:
                    message = f"shard did not finish within {timeout_s:.0f} s; cancelled"
                    started = shard.state in (StateType.RUNNING.value, StateType.CANCELLING.value)
                    state = Cancelling(message=message) if started else Cancelled(message=message)
                    client.set_flow_run_state(shard.flow_run_id, state, force=True)  # type: ignore[arg-type]
                    shard.state, shard.message = "TIMED_OUT", message
                break
            if pending:
                time.sleep(poll_s)
    for shard in shards:
        report = shard.folder / "shard.json"
        if report.exists():
            shard.spiders = json.loads(report.read_text(encoding="utf-8")).get("spiders", {})


def _concatenate(sources: list[Path], dest: Path, header: str | None = None) -> None:
    """Append the existing sources into dest (replaced), each ending with a newline, so that a line cut off by a
    killed spider never runs into the next shard's first line."""
    with dest.open("wb") as out:
        for source in sources:
            if not source.exists():
                continue
            if header:
                out.write(header.format(source=source).encode())
            with source.open("rb") as fh:
                last = b""
                while chunk := fh.read(1 << 20):
                    out.write(chunk)
                    last = chunk[-1:]
            if last and last != b"\n":
                out.write(b"\n")


def gather_landing(settings: Settings, spider: str, run_id: str, shards: list[ShardRun]) -> None:
    """Gather what the shards landed for one spider into the run's landing files (what a single-process run
    writes, so the nightly load reads them as they are). Targets files only of shards that completed: a target
    of a failed shard keeps its cursor and state."""
    dest = landing_paths(settings, spider, run_id)
    dest["posts"].parent.mkdir(parents=True, exist_ok=True)
    held = [s for s in shards if spider in s.work]
    for kind in _FILES:
        sources = [
            landing_paths(settings.model_copy(update={"data_dir": s.folder}), spider, run_id)[kind]
            for s in held
            if s.ok or kind != "targets"
        ]
        _concatenate(sources, dest[kind], header="--- {source}\n" if kind == "log" else None)
    asked = [target for s in held for target in s.work[spider]]
    dest["input"].write_text(json.dumps(asked, ensure_ascii=False, indent=1), encoding="utf-8")


@flow(name="pantau-nightly-sharded")
def nightly_sharded(
    shards: int = 2,
    run_id: str | None = None,
    spiders: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    deployment: str = f"{SHARD_FLOW}/{SHARD_DEPLOYMENT}",
    shard_timeout_s: float | None = None,
) -> dict[str, Any]:
    """One nightly run with the crawl split into `shards` flow runs of the shard deployment (on the workers of its
    pool); the load, queue and record are the nightly run's, done once here. `shard_timeout_s` (default: the
    crawl's time limit times its attempts, plus 30 minutes to be picked up) bounds the wait for the shards."""
    settings = Settings.from_env(**(overrides or {}))
    run_id = run_id or new_run_id()
    spiders = spiders or settings.spiders
    logger = get_run_logger()
    store = prepare(settings)
    store.start_run(run_id, spiders)
    started = datetime.now(UTC)
    targets = {name: build_targets(store, name, settings.recheck_days) for name in spiders}
    runs = [
        ShardRun(k, shard_folder(settings, run_id, k), work)
        for k, work in enumerate(plan_shards(targets, shards))
        if work
    ]
    for shard in runs:
        _start(deployment, run_id, shard, settings)
    logger.info("run %s: %d shards started: %s", run_id, len(runs), [s.summary()["targets"] for s in runs])
    timeout_s = shard_timeout_s or settings.crawl_timeout_s * (settings.crawl_retries + 1) + 1800
    _wait(runs, timeout_s)
    failed = [s for s in runs if not s.ok]
    for shard in failed:
        logger.error("shard %d (%s) ended %s: %s", shard.shard, shard.worker or "no worker", shard.state, shard.message)
    results = []
    with Classifier.load(settings.model_dir) as classifier:
        version = classifier.version
        for name in spiders:
            held = [s for s in runs if name in s.work]
            gather_landing(settings, name, run_id, runs)
            result = load(settings, name, run_id, classifier)
            lost = [s for s in held if not s.ok]
            for shard in lost:
                result.targets_failed += [f"{t['target']}: shard {shard.shard} {shard.state}" for t in shard.work[name]]
            reports = [s.spiders.get(name, {}) for s in held]
            seconds = max((float(r.get("seconds", 0.0)) for r in reports), default=0.0)
            attempts = max((int(r.get("attempts", 1)) for r in reports), default=1)
            detail = "; ".join(s.why(name) for s in lost)
            crawl_state = "failed" if held and len(lost) == len(held) else "ok"
            store.record_spider(run_id, spider_row(result, crawl_state, attempts, seconds, started, detail))
            results.append(result)
    failures = [f"shard {s.shard} ({s.worker or 'no worker'}) {s.state}: {s.message}" for s in failed]
    return close_run(settings, store, run_id, results, failures, version, {"shards": [s.summary() for s in runs]})


# ---------------------------------------------------------------- operators' commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.shards", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="register the shard deployment on a process work pool")
    deploy.add_argument("--pool", required=True, help="the process work pool the shards' workers poll")
    deploy.add_argument("--name", default=SHARD_DEPLOYMENT)
    deploy.add_argument("--source", default=str(PROJECT_ROOT), help="project folder or git URL (default: this one)")
    run = commands.add_parser("run", help="one sharded nightly run; prints its summary as JSON")
    run.add_argument("spiders", nargs="*", help="default: PANTAU_SPIDERS")
    run.add_argument("--shards", type=int, default=2)
    run.add_argument("--run-id")
    run.add_argument("--deployment", default=f"{SHARD_FLOW}/{SHARD_DEPLOYMENT}")
    run.add_argument("--shard-timeout", type=float, help="seconds to wait for the shards (default: from the settings)")
    args = parser.parse_args(argv)
    if args.command == "deploy":
        print(deploy_shards(args.pool, args.name, args.source))
        return 0
    try:
        summary = nightly_sharded(
            args.shards,
            args.run_id,
            args.spiders or None,
            deployment=args.deployment,
            shard_timeout_s=args.shard_timeout,
        )
    except CrawlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
