"""A loopback replay server that speaks the platforms' wire formats, for crawling without a network: Mastodon's
public API (here and in spiders.replay.server), Bluesky XRPC, Telegram channel previews, X API v2, YouTube Data
API v3 and RSS/Atom sites (one module each, registered in spiders.replay.platforms).

Library use (e.g. by the `pantau replay` command):

    make_server(host="127.0.0.1", port=0, data_dir=None, *, fault_every=None, rate_limit=100_000,
                rate_window=300.0, clock=None, generate=None, seed=0, log_requests=False,
                platform_data=None) -> ReplayServer
        Loads data_dir (default: the bundled spiders/replay/data) or, with generate=N, builds a synthetic
        dataset of N statuses from that sample and `seed` (and N posts for each other platform, on first use);
        binds host:port (0 = a free port). The other platforms' data come from platform_data/<platform>/ when
        that folder exists, else from the bundled data/<platform>/. The server's `.url` is "http://HOST:PORT".
        Raises DatasetError for a dataset that cannot be served.

    serve_forever(server, *, announce=sys.stdout, handle_signals=True) -> int
        Prints exactly one line "listening on http://HOST:PORT" to `announce` (flushed), serves until
        SIGTERM/SIGINT (when called from the main thread) or `server.shutdown()`, closes the socket and
        returns 0, the process exit code.

Command line: python -m spiders.replay --host 127.0.0.1 --port 0 [--data DIR] [--platform-data DIR]
[--fault-every N] [--clock ISO] [--generate N --seed S] [--rate-limit N] [--rate-window SECONDS] [--log-requests]

Knobs: fault_every (every Nth API request answers 500, then 429 with Retry-After: 1, alternately),
rate_limit/rate_window (requests per window per client before 429), clock (statuses created after it are
invisible; move it with POST /_replay/clock?until=ISO). The dataset format is in spiders.replay.dataset and
the routes in spiders.replay.server.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TextIO

from spiders.replay.dataset import Dataset, DatasetError
from spiders.replay.generate import generate as generate_dataset
from spiders.replay.platforms import Platforms
from spiders.replay.server import RATE_WINDOW_S, ReplayServer, ReplayState

BUNDLED_DATA = Path(__file__).resolve().parent / "data"

__all__ = ["BUNDLED_DATA", "DatasetError", "ReplayServer", "make_server", "serve_forever"]


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | str | None = None,
    *,
    fault_every: int | None = None,
    rate_limit: int = 100_000,
    rate_window: float = RATE_WINDOW_S,
    clock: datetime | None = None,
    generate: int | None = None,
    seed: int = 0,
    log_requests: bool = False,
    platform_data: Path | str | None = None,
) -> ReplayServer:
    """Build (and bind) a replay server; see the module docstring."""
    folder = Path(data_dir) if data_dir is not None else BUNDLED_DATA
    dataset = generate_dataset(generate, seed, folder) if generate is not None else Dataset.load(folder)
    platforms = Platforms(Path(platform_data) if platform_data is not None else None, generate, seed)
    state = ReplayState(
        dataset,
        fault_every=fault_every,
        rate_limit=rate_limit,
        rate_window=rate_window,
        clock=clock,
        platforms=platforms,
    )
    return ReplayServer((host, port), state, log_requests=log_requests)


def serve_forever(server: ReplayServer, *, announce: TextIO | None = sys.stdout, handle_signals: bool = True) -> int:
    """Announce, serve until a signal or shutdown(), close; returns the exit code (0)."""
    previous = {}
    if handle_signals and threading.current_thread() is threading.main_thread():
        # shutdown() waits for the serve loop, so it must run in another thread than the one serving.
        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if announce is not None:
            print(f"listening on {server.url}", file=announce, flush=True)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
