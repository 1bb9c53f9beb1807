"""`make bench` must keep working as the code moves on: every benchmark runs here once on a small input, in its own
process as `make bench` runs it, and must print its figure. Speed is not judged here (README, Benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.config import PROJECT_ROOT
from tests.benchmarks.__main__ import BENCHES

SMALL = {"classifier_load": [], "web": ["3000"], "snapshot": ["3000"], "nightly": ["300"]}


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_benchmark_runs_on_a_small_input(name: str) -> None:
    args = SMALL.get(name, ["300"])
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--one", name, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figure = json.loads(done.stdout.strip().splitlines()[-1])
    assert figure["stage"] and figure["n"] > 0 and figure["seconds"] > 0 and figure["rate"] > 0
