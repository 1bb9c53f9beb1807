"""The replay server's command line: parse knobs, build the server, print its URL, serve until signalled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spiders.replay import make_server, serve_forever
from spiders.replay.dataset import DatasetError
from spiders.replay.server import RATE_WINDOW_S, parse_clock


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m spiders.replay", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    p.add_argument("--data", type=Path, default=None, help="dataset folder (default: the bundled data)")
    p.add_argument(
        "--platform-data", type=Path, default=None, help="folder of <platform>/ data (default: the bundled ones)"
    )
    p.add_argument("--fault-every", type=int, default=None, metavar="N", help="every Nth API request fails")
    p.add_argument("--clock", default=None, metavar="ISO", help="hide statuses created after this time")
    p.add_argument("--generate", type=int, default=None, metavar="N", help="serve N synthetic statuses")
    p.add_argument("--seed", type=int, default=0, help="seed of --generate (default 0)")
    p.add_argument("--rate-limit", type=int, default=100_000, metavar="N", help="requests per window")
    p.add_argument("--rate-window", type=float, default=RATE_WINDOW_S, metavar="S", help="window seconds")
    p.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        clock = parse_clock(args.clock)
    except ValueError as exc:
        print(f"--clock: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(
            args.host,
            args.port,
            args.data,
            fault_every=args.fault_every,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            clock=clock,
            generate=args.generate,
            seed=args.seed,
            log_requests=args.log_requests,
            platform_data=args.platform_data,
        )
    except (DatasetError, ValueError, OSError) as exc:
        print(f"replay server: {exc}", file=sys.stderr)
        return 2
    return serve_forever(server)


if __name__ == "__main__":
    sys.exit(main())
