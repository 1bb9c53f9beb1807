"""Scale-out for real: a Prefect server on loopback, a process work pool with two workers (`prefect worker start`,
one flow run at a time each), the shard deployment, and sharded nightly runs (`python -m flows.shards run`) of the
sample data against the replay server, compared with a single-process nightly run of the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flows.server import server_command
from flows.shards import plan_shards
from pipeline.config import Settings
from pipeline.storage import Store
from tests.flows.test_nightly import _expected_posts
from tests.flows.test_schedule import _api, _free_port
from tests.spiders.helpers import ReplayProcess, clean_env, start_replay

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "spiders" / "replay" / "data"
POOL = "pantau-shards"
WORKERS = ("w1", "w2")


@dataclass
class Cluster:
    api: str
    env: dict[str, str]  # what a client of the server needs (PREFECT_API_URL, no proxies, no PANTAU_*)
    replay: ReplayProcess
    logs: Path

    def pantau_env(self, data_dir: Path, **more: str) -> dict[str, str]:
        return {
            **self.env,
            "PANTAU_DATA_DIR": str(data_dir),
            "PANTAU_REPLAY_URL": self.replay.url,
            "PANTAU_WATCHLIST_PATH": str(DEMO / "watchlist.csv"),
            "PANTAU_DOWNLOAD_DELAY_S": "0",
            "PANTAU_AUTOTHROTTLE": "false",
            "PANTAU_CONCURRENT_REQUESTS": "16",
            "PANTAU_CRAWL_RETRIES": "0",
            **more,
        }

    def log(self, name: str) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs.glob(f"{name}*.log")
        )


@contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _until(what: str, probe: Callable[[], Any], timeout_s: float, cluster_logs: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{cluster_logs()}")


def _healthy(api: str) -> bool:
    with urllib.request.urlopen(f"{api}/health", timeout=2) as response:  # noqa: S310 - loopback
        return response.status == 200


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Server, pool, two workers and the shard deployment, all as the operator's commands would start them."""
    logs = tmp_path_factory.mktemp("scaleout-logs")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = clean_env(PREFECT_HOME=str(logs / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_API_URL=api)
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    with start_replay(data_dir=DEMO) as replay, ExitStack() as stack:
        cluster = Cluster(api, env, replay, logs)
        server = stack.enter_context(
            _process(server_command(Settings(prefect_port=port)), server_env, logs / "server.log")
        )

        def up() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"the Prefect server exited:\n{cluster.log('server')}")
            return _healthy(api)

        _until("the Prefect server", up, 120, lambda: cluster.log("server"))
        prefect = [sys.executable, "-m", "prefect"]
        subprocess.run([*prefect, "work-pool", "create", "--type", "process", POOL], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        worker_env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}
        for name in WORKERS:
            command = [*prefect, "worker", "start", "--pool", POOL, "--name", name, "--limit", "1",
                       "--install-policy", "never"]  # fmt: skip
            stack.enter_context(_process(command, worker_env, logs / f"worker-{name}.log"))
        # the operator's command, `pantau shards deploy` (the other tests use `python -m flows.shards`, the same code)
        deploy = subprocess.run([sys.executable, "-m", "pipeline.cli", "shards", "deploy", "--pool", POOL], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr

        def online() -> bool:
            workers = _api(api, f"/work_pools/{POOL}/workers/filter", {})
            return {w["name"] for w in workers if w["status"] == "ONLINE"} >= set(WORKERS)

        _until("two online workers", online, 120, lambda: cluster.log("worker"))
        yield cluster


def _shard_runs(cluster: Cluster, run_id: str) -> list[dict[str, Any]]:
    runs = _api(cluster.api, "/flow_runs/filter", {"flow_runs": {"name": {"like_": f"{run_id}-shard-"}}})
    return sorted(runs, key=lambda r: r["name"])


def _sharded(cluster: Cluster, data_dir: Path, run_id: str, *spiders: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.shards", "run", "--shards", "2", "--run-id", run_id, *spiders]
    return subprocess.run(command, cwd=ROOT, env=cluster.pantau_env(data_dir), capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def _work(data_dir: Path, run_id: str) -> list[dict[str, list[dict[str, Any]]]]:
    folders = sorted((data_dir / "shards" / run_id).iterdir(), key=lambda p: int(p.name))
    return [json.loads((f / "work.json").read_text(encoding="utf-8")) for f in folders]


def _keys(path: Path) -> set[str]:
    return {json.loads(line)["platform_post_id"] for line in path.read_bytes().splitlines() if line.strip()}


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) if path.exists() else 0


def test_plan_keeps_a_host_in_one_shard_and_balances() -> None:
    def targets(host: str, n: int) -> list[dict[str, Any]]:
        return [{"target": f"account:u{i}@{host}", "instance": host} for i in range(n)]

    work = {"mastodon": targets("a.example", 10) + targets("b.example", 6) + targets("c.example", 6), "rss": []}
    plan = plan_shards(work, 2)
    assert plan == plan_shards(work, 2)  # deterministic
    hosts = [{t["instance"] for ts in shard.values() for t in ts} for shard in plan]
    assert hosts == [{"a.example"}, {"b.example", "c.example"}]
    assert "rss" in plan[0] and plan[0]["rss"] == []  # a spider without targets still runs, in one shard
    assert sorted(t["target"] for shard in plan for t in shard["mastodon"]) == sorted(
        t["target"] for t in work["mastodon"]
    )
    # more shards than hosts: the last gets nothing (and is not started)
    assert [sorted(shard) for shard in plan_shards(work, 5)] == [["mastodon"]] * 3 + [["rss"], []]


@pytest.mark.slow
def test_sharded_runs_on_two_workers_load_once_and_survive_a_failed_shard(cluster: Cluster, tmp_path: Path) -> None:
    expected = _expected_posts()
    # the single-process nightly run of the same data, meanwhile (its own store; the same Prefect server)
    single_dir = tmp_path / "single"
    single = subprocess.Popen(
        [sys.executable, "-c", "from flows.nightly import nightly; nightly(run_id='single')"],
        cwd=ROOT,
        env=cluster.pantau_env(single_dir, PANTAU_SNAPSHOT_AFTER_RUN="false"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    # night 1: two shards; `nosuchspider` (no targets) joins the smaller shard, whose flow run then fails
    data = tmp_path / "sharded"
    first = _sharded(cluster, data, "sharded-1", "mastodon", "nosuchspider")
    assert first.returncode == 1 and "partial" in first.stderr, first.stdout + first.stderr + cluster.log("worker")
    runs = _shard_runs(cluster, "sharded-1")
    assert {r["labels"].get("prefect.worker.name") for r in runs} == set(WORKERS)  # one shard on each worker
    assert sorted(r["state_type"] for r in runs) == ["COMPLETED", "FAILED"]
    work = _work(data, "sharded-1")
    done = work[[r["state_type"] for r in runs].index("COMPLETED")]
    lost = work[[r["state_type"] for r in runs].index("FAILED")]
    assert "nosuchspider" in lost and lost["mastodon"] and done["mastodon"]
    # each shard landed in its own folder; the run's landing file is their lines, loaded once
    merged = data / "landing" / "mastodon" / "sharded-1.jsonl"
    shard_files = [data / "shards" / "sharded-1" / str(k) / "landing" / "mastodon" / "sharded-1.jsonl" for k in (0, 1)]
    assert all(_lines(f) for f in shard_files) and _lines(merged) == sum(_lines(f) for f in shard_files)

    store = Store(data / "pantau.duckdb")
    run = store.query("SELECT * FROM crawl_runs")
    assert [(r["run_id"], r["status"]) for r in run] == [("sharded-1", "partial")]
    assert "nosuchspider" in run[0]["detail"]
    spiders = {r["spider"]: r for r in store.run_spiders("sharded-1")}
    assert set(spiders) == {"mastodon", "nosuchspider"}  # one row per spider: one load each
    assert spiders["nosuchspider"]["status"] == "failed"
    mastodon = spiders["mastodon"]
    assert mastodon["status"] == "partial"
    assert (mastodon["targets_ok"], mastodon["targets_failed"]) == (len(done["mastodon"]), len(lost["mastodon"]))
    # the failed shard's posts are kept, but its targets' cursors stay where they were (none yet)
    assert set(store.cursors("mastodon")) == {t["target"] for t in done["mastodon"]}
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == expected == run[0]["new_posts"]

    output, _ = single.communicate(timeout=300)
    assert single.returncode == 0, output[-4000:]
    baseline = Store(single_dir / "pantau.duckdb")
    keys = "SELECT platform, platform_post_id FROM posts ORDER BY ALL"
    assert store.query(keys) == baseline.query(keys)  # the same posts as one process, none twice
    single_run = baseline.query("SELECT fetched, new_posts, classified FROM crawl_runs")[0]
    assert (run[0]["new_posts"], run[0]["classified"]) == (single_run["new_posts"], single_run["classified"])
    # a post that targets in two shards reach (an account, a hashtag) lands in both, and is stored once
    both = set.intersection(*(_keys(f) for f in shard_files))
    assert run[0]["fetched"] == single_run["fetched"] + len(both)

    # night 2: every shard completes; the targets the failed shard held are read again, nothing is added twice
    second = _sharded(cluster, data, "sharded-2")
    assert second.returncode == 0, second.stdout + second.stderr + cluster.log("worker")
    summary = json.loads(second.stdout)
    assert summary["status"] == "ok"
    assert {s["worker"] for s in summary["shards"]} == set(WORKERS)
    assert {s["state"] for s in summary["shards"]} == {"COMPLETED"}
    assert (summary["new_posts"], summary["updated_posts"], summary["classified"]) == (0, 0, 0)
    assert [r["status"] for r in store.run_spiders("sharded-2")] == ["ok"]
    assert set(store.cursors("mastodon")) == {t["target"] for t in done["mastodon"] + lost["mastodon"]}
    assert store.query("SELECT count(*) AS n FROM posts")[0]["n"] == expected
    assert store.query("SELECT count(*) AS n FROM predictions")[0]["n"] == expected
    assert (data / "snapshot" / "pantau.duckdb").exists()


@pytest.mark.slow
def test_a_shard_no_worker_picks_up_is_cancelled_and_the_run_is_partial(cluster: Cluster, tmp_path: Path) -> None:
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run([*prefect, "work-pool", "create", "--type", "process", "idle"], cwd=ROOT, env=cluster.env,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    deploy = [sys.executable, "-m", "flows.shards", "deploy", "--pool", "idle", "--name", "nowhere"]
    subprocess.run(deploy, cwd=ROOT, env=cluster.env, check=True, capture_output=True, timeout=180)
    data = tmp_path / "data"
    command = [sys.executable, "-m", "flows.shards", "run", "--run-id", "lost", "--shards", "2",
               "--deployment", "pantau-crawl-shard/nowhere", "--shard-timeout", "3"]  # fmt: skip
    lost = subprocess.run(command, cwd=ROOT, env=cluster.pantau_env(data), capture_output=True, text=True, timeout=300)
    assert lost.returncode == 1 and "TIMED_OUT" in lost.stderr, lost.stdout + lost.stderr
    assert {r["state_type"] for r in _shard_runs(cluster, "lost")} == {"CANCELLED"}
    store = Store(data / "pantau.duckdb")
    assert store.query("SELECT status FROM crawl_runs")[0]["status"] == "partial"
    assert [r["status"] for r in store.run_spiders("lost")] == ["failed"]
    assert store.cursors("mastodon") == {} and store.query("SELECT count(*) AS n FROM posts")[0]["n"] == 0
