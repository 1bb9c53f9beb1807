"""`python -m tests.benchmarks [NAME ...]` runs benchmarks, each in a fresh process, and prints a table with the
command that produced each figure; `python -m tests.benchmarks --one NAME [N]` runs one and prints its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

BENCHES: dict[str, tuple[str, list[str]]] = {
    # name: (module:function, default args)
    "validate": ("tests.benchmarks.core:bench_validate", ["100000"]),
    "arrow": ("tests.benchmarks.core:bench_arrow", ["100000"]),
    "load": ("tests.benchmarks.core:bench_load", ["100000"]),
    "parse": ("tests.benchmarks.crawl:bench_parse", ["20000"]),
    "classify": ("tests.benchmarks.classify:bench", ["20000"]),
    "classify_jsonl": ("tests.benchmarks.classify:bench_jsonl", ["100000"]),
    "classify_command": ("tests.benchmarks.classify:bench_command", ["100000"]),
    "classifier_load": ("tests.benchmarks.classify:bench_classifier_load", []),
    "nightly": ("tests.benchmarks.crawl:bench_nightly", ["100000"]),
    "telegram": ("tests.benchmarks.sources:bench_telegram", ["10000"]),
    "bluesky": ("tests.benchmarks.sources:bench_bluesky", ["20000"]),
    "x": ("tests.benchmarks.sources:bench_x", ["20000"]),
    "youtube": ("tests.benchmarks.sources:bench_youtube", ["20000"]),
    "web": ("tests.benchmarks.web:bench", ["1000000"]),
    "snapshot": ("tests.benchmarks.analysis:bench_snapshot", ["1000000"]),
}


def _resolve(spec: str) -> Callable[..., dict[str, Any]]:
    module, func = spec.split(":")
    mod = __import__(module, fromlist=[func])
    return getattr(mod, func)  # type: ignore[no-any-return]


def run_one(name: str, args: list[str]) -> None:
    func = _resolve(BENCHES[name][0])
    result = func(*(int(a) for a in args))
    print(json.dumps(result, default=str), flush=True)


def run_all(names: list[str]) -> int:
    rows, failed = [], 0
    for name in names:
        args = BENCHES[name][1]
        cmd = [sys.executable, "-m", "tests.benchmarks", "--one", name, *args]
        shown = " ".join([".venv/bin/python -m tests.benchmarks --one", name, *args])
        print(f"running: {shown}", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            failed += 1
            rows.append((name, "FAILED", "", "", proc.stderr.strip().splitlines()[-1:] or [""], shown))
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        extra = [res.get("note", "")] if res.get("note") else []
        rows.append((res["stage"], f"{res['n']:,}", f"{res['seconds']:.2f}", f"{res['rate']:,.0f}", extra, shown))
    print("\n| stage | posts | seconds | posts/s | notes | command |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for stage, n, secs, rate, notes, shown in rows:
        print(f"| {stage} | {n} | {secs} | {rate} | {'; '.join(notes)} | `{shown}` |")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        run_one(argv[1], argv[2:])
        return 0
    unknown = [a for a in argv if a not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {sorted(BENCHES)}", file=sys.stderr)
        return 2
    return run_all(argv or list(BENCHES))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
