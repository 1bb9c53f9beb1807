"""Speed benchmark of the classifier: `bench_classify(n)` -> posts/s, load time, peak RSS.

Test texts are new posts of 100-300 characters made by recombining fragments (clauses) of the training
posts with a seeded RNG, so they look like the data but are not the training posts themselves. No result
is cached by text; what warms up is the per-word feature table (see models.features.TokenTable) and,
on a multi-core machine, the helper process.

    python -m models.bench [n]           Classifier.predict
    python -m models.bench jsonl [n]     classify_jsonl end to end (what `pantau classify` runs)
    python -m models.bench command [n]   the whole `pantau classify` command: interpreter start, imports, exit
    python -m models.bench load          Classifier.load
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent
TRAIN_PATH = MODELS_DIR / "data" / "train.jsonl"
BATCH = 5000
_CLAUSE = re.compile(r"(?<=[.!?,;:])\s+")


def make_texts(n: int, seed: int = 20240214, path: Path = TRAIN_PATH) -> list[str]:
    """n posts of 100-300 characters recombined from clauses of the training posts."""
    frags: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            frags.extend(p.strip() for p in _CLAUSE.split(text) if len(p.strip()) >= 8)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = rng.randint(100, 300)
        s = rng.choice(frags)
        while len(s) < target:
            s += " " + rng.choice(frags)
        out.append(s[:300].rstrip())
    return out


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: kilobytes


def _run(clf: Any, texts: list[str]) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        clf.predict(texts[i : i + BATCH])
    return len(texts) / (time.perf_counter() - t0)


def bench_classify(n: int = 20000, model_dir: Path | None = None) -> dict[str, Any]:
    """Throughput of Classifier.predict in batches of 5,000 on n generated posts.

    posts_per_s         steady state: default Classifier (helper process on a multi-core machine) after it has
                        booted and after a warm-up pass over *other* generated posts
    posts_per_s_cold    first pass of a fresh Classifier (includes helper boot and word-table filling)
    posts_per_s_1core   steady state with workers=0 (calling process only)
    posts_per_s_1core_no_registry   the same without candidate registries (what registry matching costs)
    load_seconds        Classifier.load() in a process that has already imported models.predict
    import_seconds      importing models.predict (spaCy, scikit-learn) if it was not imported yet
    peak_rss_mb         peak RSS of this process; helper_peak_rss_mb of the helper process
    """
    t0 = time.perf_counter()
    already = "models.predict" in sys.modules
    from models.predict import Classifier

    import_seconds = 0.0 if already else time.perf_counter() - t0
    texts = make_texts(n)
    warm = make_texts(n, seed=7)

    t0 = time.perf_counter()
    clf = Classifier.load(model_dir)
    load_seconds = time.perf_counter() - t0
    try:
        cold = _run(clf, texts)
        deadline = time.monotonic() + 60
        while clf._workers and not clf._proc_ready and time.monotonic() < deadline:
            clf.predict(warm[:BATCH])  # keeps asking the helper whether it is ready
            time.sleep(0.2)
        _run(clf, warm)
        steady = _run(clf, texts)
        workers = 1 if clf._proc_ready else 0
    finally:
        clf.close()
    one = Classifier.load(model_dir, workers=0)
    _run(one, warm)
    single = _run(one, texts)
    bare = Classifier.load(model_dir, workers=0, registry_dir=None)  # the cost of candidate-registry matching
    _run(bare, warm)
    no_registry = _run(bare, texts)
    return {
        "n": n,
        "batch_size": BATCH,
        "avg_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
        "cpu_count": os.cpu_count(),
        "helper_processes": workers,
        "posts_per_s": round(steady),
        "posts_per_s_cold": round(cold),
        "posts_per_s_1core": round(single),
        "posts_per_s_1core_no_registry": round(no_registry),
        "registry_phrases": len(one.registry.phrases),
        "load_seconds": round(load_seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "peak_rss_mb": round(_rss_mb(resource.RUSAGE_SELF), 1),
        "helper_peak_rss_mb": round(_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "model_version": one.version,
    }


_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from models.predict import Classifier, classify_jsonl
imported = time.perf_counter() - t0
mode, inp, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "load":
    t0 = time.perf_counter()
    clf = Classifier.load(workers=0)
    res = {"load_seconds": time.perf_counter() - t0, "import_seconds": imported}
else:
    loads = []
    _load = Classifier.load.__func__
    def timed_load(cls, *args, **kwargs):  # the model load inside classify_jsonl, timed
        t = time.perf_counter()
        got = _load(cls, *args, **kwargs)
        loads.append(time.perf_counter() - t)
        return got
    Classifier.load = classmethod(timed_load)
    t0 = time.perf_counter()
    stats = classify_jsonl(inp, out, batch_size=5000)
    res = {"seconds": time.perf_counter() - t0, "written": stats.written, "flagged": stats.flagged,
           "import_seconds": imported, "load_seconds": sum(loads)}
res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
res["helper_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
print(json.dumps(res))
"""


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB of a process and its children, from /proc (0, 0 where it cannot be read)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def _sampled(args: list[str]) -> tuple[str, float, int, int]:
    """Run `args` in the project folder; while it runs, the resident memory of it and its child processes (the
    helper) is sampled every 100 ms (reading PSS costs CPU, so not more often). Returns (stdout, wall seconds from
    start to exit, peak of the sum of their RSS in kB (pages a forked child shares with its parent counted twice),
    peak of the sum of their PSS in kB (shared pages split between them: the memory they really use))."""
    import subprocess
    import threading

    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=MODELS_DIR.parent)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss, pss = _tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, stdout, stderr)
    return stdout, wall, peak[0], peak[1]


def _child(mode: str, inp: Path, out: Path) -> dict[str, Any]:
    """Run the measurement in a fresh interpreter, so its peak RSS is the classifier's alone (see `_sampled`)."""
    root = MODELS_DIR.parent
    boot = f"import sys; sys.path.insert(0, {str(root)!r})\n" + _CHILD
    stdout, _, rss, pss = _sampled([sys.executable, "-c", boot, mode, str(inp), str(out)])
    res: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    res["total_rss_mb"], res["total_pss_mb"] = rss / 1024.0, pss / 1024.0
    return res


def write_posts(path: Path, n: int) -> None:
    """The benchmark's input file: n generated posts as JSONL (every 5th with an author bio)."""
    with path.open("w", encoding="utf-8") as f:
        for i, t in enumerate(make_texts(n, seed=99)):
            row = {"id": f"p{i}", "text": t, "author_bio": "Guru SD Negeri 3" if i % 5 == 0 else None}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def command_args(inp: Path, out: Path) -> list[str]:
    """`pantau classify INP -o OUT` with this interpreter: the installed console script of the virtualenv (what an
    operator runs), or the same entry point through `-c` where the script is missing."""
    script = Path(sys.executable).parent / "pantau"
    if script.is_file():
        return [sys.executable, str(script), "classify", str(inp), "-o", str(out)]
    return [sys.executable, "-c", "from pipeline.cli import main; main()", "classify", str(inp), "-o", str(out)]


_CLI_DONE = re.compile(r"(\d+) labelled, (\d+) rejected, (\d+) flagged in ([0-9.]+) s")


def bench_classify_command(n: int = 100_000, repeats: int = 3) -> dict[str, Any]:
    """The whole `pantau classify` command, as an operator runs it: a new interpreter, the CLI's imports (typer,
    rich), spaCy's import, model load, the helper process, classification and exit, timed from start to
    exit on a file of n generated posts (the input of `bench_classify_jsonl`). Run `repeats` times (the machine
    may be busy); the median run is reported with the range.

    seconds / posts_per_s   median wall time of the whole command, and n over it
    seconds_min / _max      range over the runs
    in_call_seconds         what the command itself reports for classify_jsonl (model load included, imports not)
    load_avg                the 1-minute load average before the first run (other work on the machine)
    peak_total_rss_mb / peak_total_pss_mb   peak resident memory of the process and its children (see `_sampled`)
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        write_posts(inp, n)
        load_avg = os.getloadavg()[0]
        runs = []
        for _ in range(max(1, repeats)):
            stdout, wall, rss, pss = _sampled(command_args(inp, out))
            m = _CLI_DONE.search(stdout)
            if m is None or int(m.group(1)) != n:
                raise RuntimeError(f"unexpected output of pantau classify: {stdout[-500:]!r}")
            runs.append((wall, float(m.group(4)), rss, pss))
    runs.sort()
    wall, in_call, _, _ = runs[len(runs) // 2]
    return {
        "n": n,
        "cpu_count": os.cpu_count(),
        "repeats": len(runs),
        "posts_per_s": round(n / wall),
        "seconds": round(wall, 3),
        "seconds_min": round(runs[0][0], 3),
        "seconds_max": round(runs[-1][0], 3),
        "in_call_seconds": round(in_call, 3),
        "in_call_seconds_all": [r[1] for r in runs],
        "load_avg": round(load_avg, 2),
        "peak_total_rss_mb": round(max(r[2] for r in runs) / 1024.0, 1),
        "peak_total_pss_mb": round(max(r[3] for r in runs) / 1024.0, 1),
    }


def bench_classify_jsonl(n: int = 100_000) -> dict[str, Any]:
    """`classify_jsonl` end to end, as `pantau classify` runs it: model load, helper boot, JSON parsing, scoring,
    reasons and writing, on a file of n generated posts (every 5th with an author bio). Measured in a fresh
    process; posts_per_s counts the whole call (load included, the import of models.predict not).

    load_seconds        Classifier.load inside the call
    peak_rss_mb         peak RSS of the calling process; helper_peak_rss_mb of the helper (a forked helper's
                        counts the pages it shares with the caller)
    peak_total_rss_mb   peak of the sum of both RSS (sampled every 100 ms; shared pages counted twice)
    peak_total_pss_mb   peak of the sum of both PSS (shared pages split): the memory the pair really uses
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        write_posts(inp, n)
        res = _child("jsonl", inp, out)
    return {
        "n": n,
        "cpu_count": os.cpu_count(),
        "posts_per_s": round(n / res["seconds"]),
        "seconds": round(res["seconds"], 3),
        "flagged_share": round(res["flagged"] / max(1, res["written"]), 3),
        "load_seconds": round(res["load_seconds"], 3),
        "peak_rss_mb": round(res["peak_rss_mb"], 1),
        "helper_peak_rss_mb": round(res["helper_peak_rss_mb"], 1),
        "peak_total_rss_mb": round(res["total_rss_mb"], 1),
        "peak_total_pss_mb": round(res["total_pss_mb"], 1),
    }


def bench_load() -> dict[str, Any]:
    """Classifier.load() (artifact, registries, tokenizer) in a fresh process that has imported models.predict."""
    res = _child("load", Path("-"), Path("-"))
    return {k: round(v, 3) for k, v in res.items()}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["jsonl"]:
        print(json.dumps(bench_classify_jsonl(int(args[1]) if len(args) > 1 else 100_000), indent=2))
    elif args[:1] == ["command"]:
        print(json.dumps(bench_classify_command(int(args[1]) if len(args) > 1 else 100_000), indent=2))
    elif args[:1] == ["load"]:
        print(json.dumps(bench_load(), indent=2))
    else:
        print(json.dumps(bench_classify(int(args[0]) if args else 20000), indent=2))
