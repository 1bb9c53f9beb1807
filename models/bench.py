"""Speed benchmark of the classifier: `bench_classify(n)` -> posts/s, load time, peak RSS.

Test texts are new posts of 100-300 characters made by recombining fragments (clauses) of the training
posts with a seeded RNG, so they look like the data but are not the training posts themselves. No result
is cached by text; what warms up is the per-word feature table (see models.features.TokenTable) and,
on a multi-core machine, the helper process.

    python -m models.bench [n]
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
    return {
        "n": n,
        "batch_size": BATCH,
        "avg_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
        "cpu_count": os.cpu_count(),
        "helper_processes": workers,
        "posts_per_s": round(steady),
        "posts_per_s_cold": round(cold),
        "posts_per_s_1core": round(single),
        "load_seconds": round(load_seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "peak_rss_mb": round(_rss_mb(resource.RUSAGE_SELF), 1),
        "helper_peak_rss_mb": round(_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "model_version": one.version,
    }


if __name__ == "__main__":
    print(json.dumps(bench_classify(int(sys.argv[1]) if len(sys.argv) > 1 else 20000), indent=2))
