"""Reusable test helpers: write a small replay dataset, start the replay server as a subprocess, run a spider
exactly as the nightly flow does, and read what it landed. Everything talks to 127.0.0.1 only.

    with start_replay(data_dir=tiny_dataset(tmp_path / "data")) as replay:
        targets = [account_target("rina_guru@sosial.example")]
        run = run_spider("mastodon", landing_dir=tmp_path / "landing", targets=targets, base_url=replay.url)
        assert run.returncode == 0 and run.posts
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spiders.replay import ReplayServer, make_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "mastodon"
BAD_DATASET = FIXTURES / "replay_bad"
USER_AGENT = "pantau/0.1 contact: ops@example.invalid"
# Politeness off for tests: the replay server is ours and on loopback.
FAST_SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False", "CONCURRENT_REQUESTS": "8"}

_NO_PROXY_ENV = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes via a proxy


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a test subprocess: no proxies, no Scrapy or pantau settings (and so no secrets) from
    the developer's shell, only `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _NO_PROXY_ENV and not k.startswith("SCRAPY_") and not k.startswith("PANTAU_")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.update(extra)
    return env


# ---------------------------------------------------------------- HTTP to loopback


def http(url: str, method: str = "GET", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, errors included (4xx/5xx do not raise)."""
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError(f"tests talk to loopback only, not {url}")
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def get_json(url: str, method: str = "GET") -> Any:
    status, _, body = http(url, method)
    if status != 200:
        raise AssertionError(f"{method} {url} -> {status}: {body[:300]!r}")
    return json.loads(body)


# ---------------------------------------------------------------- datasets


def write_jsonl(path: Path, rows: Sequence[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_dataset(folder: Path, accounts: Sequence[dict[str, Any]], statuses: Sequence[dict[str, Any]]) -> Path:
    write_jsonl(folder / "accounts.jsonl", accounts)
    write_jsonl(folder / "statuses.jsonl", statuses)
    return folder


def snowflake(when: datetime, seq: int = 0) -> str:
    """A Mastodon-style id for a time (ms << 16 | seq), as a string."""
    return str((int(when.timestamp() * 1000) << 16) | seq)


TINY_START = datetime(2024, 11, 1, 0, 0, tzinfo=UTC)
TINY_LATE_FROM = datetime(2024, 11, 20, 0, 0, tzinfo=UTC)  # statuses at/after this are "published later"
TINY_ACCOUNTS = {
    "1001": ("rina_guru", "sosial.example", 45, 5),  # id: (username, domain, statuses, of which late)
    "1002": ("budi_camat", "pemda.example", 7, 2),
    "1003": ("sari_bidan", "guru.example", 0, 0),
}
TINY_TAG = "pilkadatanahmerah"


def tiny_dataset(folder: Path) -> Path:
    """A deterministic dataset: rina_guru has 45 statuses (2 pages of 40; one boost, one reply, media, HTML
    entities; every 4th tagged #pilkadatanahmerah), budi_camat 7, sari_bidan none. Each account's last
    statuses are dated from TINY_LATE_FROM, to test the clock and incremental crawls."""
    accounts, statuses = [], []
    for account_id, (username, domain, count, late) in TINY_ACCOUNTS.items():
        accounts.append(_tiny_account(account_id, username, domain, count))
        for n in range(count):
            base = TINY_LATE_FROM if n >= count - late else TINY_START
            when = base + timedelta(hours=n, minutes=int(account_id) % 60)
            statuses.append(_tiny_status(account_id, username, n, when))
    rina = [s for s in statuses if s["account_id"] == "1001"]
    budi = [s for s in statuses if s["account_id"] == "1002"]
    rina[10].update(content="", tags=[], reblog_of=budi[0]["id"])  # a boost of budi's first status
    rina[11]["in_reply_to_id"] = budi[1]["id"]
    rina[12]["media"] = [
        {"type": "image", "description": "Foto kegiatan"},
        {"type": "video", "description": None},
    ]
    rina[13]["content"] = (
        '<p>Guru &amp; murid &quot;hebat&quot; &lt;3<br>baris dua</p><p>Info: <a href="https://x.example/a">'
        '<span class="invisible">https://</span>x.example/a</a> '
        '<a href="https://sosial.example/tags/pilkada" '
        'class="mention hashtag" rel="tag">#<span>pilkada</span></a></p>'
    )
    return write_dataset(folder, accounts, statuses)


def _tiny_account(account_id: str, username: str, domain: str, count: int) -> dict[str, Any]:
    return {
        "id": account_id,
        "username": username,
        "domain": domain,
        "display_name": username.replace("_", " ").title(),
        "note": f"<p>ASN di {domain}. Akun pribadi &amp; pendapat pribadi.</p>",
        "created_at": "2022-11-05T00:00:00.000Z",
        "followers_count": 10,
        "following_count": 5,
        "statuses_count": count,
    }


def _tiny_status(account_id: str, username: str, n: int, when: datetime) -> dict[str, Any]:
    tagged = n % 4 == 0
    tags = [TINY_TAG] if tagged else []
    link = f' <a href="https://x/tags/{TINY_TAG}" class="mention hashtag">#<span>{TINY_TAG}</span></a>'
    return {
        "id": snowflake(when, int(account_id) % 1000),
        "account_id": account_id,
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "language": "id",
        "content": f"<p>Kabar nomor {n} dari {username}.{link if tagged else ''}</p>",
        "tags": tags,
        "replies_count": n % 3,
        "reblogs_count": n % 5,
        "favourites_count": n,
        "media": [],
        "in_reply_to_id": None,
        "reblog_of": None,
        "label": "non_political",
    }


def tiny_counts(clock: datetime | None = None) -> dict[str, int]:
    """Statuses of each tiny account visible at `clock` (None: all)."""
    early = clock is not None and clock < TINY_LATE_FROM
    return {f"{u}@{d}": count - (late if early else 0) for u, d, count, late in TINY_ACCOUNTS.values()}


# ---------------------------------------------------------------- targets


def account_target(acct: str, since_id: str | None = None) -> dict[str, Any]:
    instance = acct.split("@", 1)[1]
    return {
        "target": f"account:{acct}",
        "kind": "account",
        "value": acct,
        "instance": instance,
        "since_id": since_id,
    }


def tag_target(tag: str, instance: str, since_id: str | None = None) -> dict[str, Any]:
    return {
        "target": f"tag:{tag}@{instance}",
        "kind": "hashtag",
        "value": tag,
        "instance": instance,
        "since_id": since_id,
    }


# ---------------------------------------------------------------- the replay server


@dataclass
class ReplayProcess:
    url: str
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        return get_json(f"{self.url}/_replay/stats")

    def health(self) -> dict[str, Any]:
        return get_json(f"{self.url}/_replay/health")

    def accounts(self) -> list[dict[str, Any]]:
        return get_json(f"{self.url}/_replay/accounts")

    def set_clock(self, until: datetime | None) -> dict[str, Any]:
        value = until.isoformat() if until else "none"
        return get_json(f"{self.url}/_replay/clock?until={urllib.request.quote(value)}", "POST")

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


@contextmanager
def start_replay(*args: str, data_dir: Path | None = None, timeout: float = 30) -> Iterator[ReplayProcess]:
    """Run `python -m spiders.replay --host 127.0.0.1 --port 0 [--data DIR] ARGS...` until the block ends."""
    command = [sys.executable, "-m", "spiders.replay", "--host", "127.0.0.1", "--port", "0"]
    if data_dir is not None:
        command += ["--data", str(data_dir)]
    process = subprocess.Popen(
        [*command, *args],
        cwd=PROJECT_ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    replay = ReplayProcess("", process)
    threading.Thread(target=_drain, args=(process.stderr, replay.stderr_lines), daemon=True).start()
    try:
        replay.url = _read_announcement(process, timeout, replay.stderr_lines)
        yield replay
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


def _read_announcement(process: subprocess.Popen[str], timeout: float, stderr: list[str]) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = box[0].strip() if box else ""
    if not line.startswith("listening on http://127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"replay server did not start: stdout {line!r}, stderr {''.join(stderr)[-2000:]!r}")
    return line.removeprefix("listening on ")


@contextmanager
def replay_in_thread(data_dir: Path | None = None, **knobs: Any) -> Iterator[ReplayServer]:
    """An in-process replay server (spiders.replay.make_server) for fast tests; yields the ReplayServer."""
    server = make_server("127.0.0.1", 0, data_dir, **knobs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------- running a spider


@dataclass
class SpiderRun:
    returncode: int
    command: list[str]
    log: str  # Scrapy logs to stderr
    landing: Path
    posts: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    targets: list[dict[str, Any]]

    def target(self, name: str) -> dict[str, Any]:
        rows = [t for t in self.targets if t["target"] == name]
        assert len(rows) == 1, f"expected one targets row for {name}, got {rows}"
        return rows[0]


def spider_command(
    spider: str,
    *,
    run_id: str,
    landing_dir: Path,
    targets_file: Path,
    base_url: str | None,
    settings: dict[str, str],
) -> list[str]:
    """The flow's command line (flows.crawl.scrapy_command) with the test's own Scrapy settings."""
    from flows.crawl import scrapy_command

    return scrapy_command(spider, run_id, landing_dir, targets_file, base_url, settings)


def run_spider(
    spider: str,
    *,
    landing_dir: Path,
    targets: Sequence[dict[str, Any]],
    base_url: str | None,
    run_id: str = "run1",
    settings: dict[str, str] | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> SpiderRun:
    """Run `scrapy crawl` in a subprocess as the flow does (politeness off unless `settings` says so); `env`
    adds variables, e.g. the PANTAU_* secrets a spider reads."""
    landing_dir = Path(landing_dir).resolve()
    targets_file = landing_dir.parent / f"targets-{run_id}.json"
    targets_file.parent.mkdir(parents=True, exist_ok=True)
    targets_file.write_text(json.dumps(list(targets), ensure_ascii=False), encoding="utf-8")
    all_settings = {"USER_AGENT": USER_AGENT, **FAST_SETTINGS, "PANTAU_MAX_PAGES": "50", "LOG_LEVEL": "INFO"}
    all_settings.update(settings or {})
    command = spider_command(
        spider,
        run_id=run_id,
        landing_dir=landing_dir,
        targets_file=targets_file,
        base_url=base_url,
        settings=all_settings,
    )
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=clean_env(SCRAPY_SETTINGS_MODULE="spiders.settings", **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    out = landing_dir / spider
    return SpiderRun(
        returncode=done.returncode,
        command=command,
        log=done.stderr + done.stdout,
        landing=out,
        posts=_maybe_jsonl(out / f"{run_id}.jsonl"),
        rejects=_maybe_jsonl(out / f"{run_id}.rejects.jsonl"),
        targets=_maybe_jsonl(out / f"{run_id}.targets.jsonl"),
    )


def _maybe_jsonl(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else []


def write_watchlist(path: Path, accts: Sequence[str]) -> Path:
    """A watchlist CSV following the given Mastodon accounts (`user@instance`)."""
    lines = ["kind,platform,handle,name,agency,region_code,region_name,nip,identified_by,enabled"]
    lines += [f"account,mastodon,{acct},{acct.split('@')[0]},,35.91,Kabupaten Uji,,test,true" for acct in accts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
