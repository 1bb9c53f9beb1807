"""Classifier benchmarks (the generators and measurements live with the model: models/bench.py).

* classify: Classifier.predict in batches of 5,000, steady state (helper process booted, word tables warm);
* classify_jsonl: `classify_jsonl` end to end as `pantau classify` runs it (model load, helper boot, JSON in and
  out, reasons), in a fresh process, on 100,000 generated posts;
* classify_command: the whole `pantau classify` command as a subprocess (interpreter start, imports, model load,
  the helper process, exit), wall time from start to exit, median of 3 runs;
* classifier_load: Classifier.load (artifact, candidate registries, tokenizer) and the process's resident memory.
"""

from __future__ import annotations

from typing import Any

from models.bench import bench_classify, bench_classify_command, bench_classify_jsonl, bench_load


def bench(n: int = 20_000) -> dict[str, Any]:
    res = bench_classify(n)
    note = (
        f"model load {res['load_seconds']:.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB; one core "
        f"{res['posts_per_s_1core']:,}/s with {res['registry_phrases']:,} registry phrases, "
        f"{res['posts_per_s_1core_no_registry']:,}/s without"
    )
    return {
        "stage": "classify (Classifier.predict)",
        "n": n,
        "seconds": n / res["posts_per_s"],
        "rate": res["posts_per_s"],
        "note": note,
    }


def bench_jsonl(n: int = 100_000) -> dict[str, Any]:
    res = bench_classify_jsonl(n)
    note = (
        f"model load {res['load_seconds']:.2f} s and helper start included; {res['flagged_share']:.0%} flagged "
        f"(reasons built); peak resident memory of both processes {res['peak_total_pss_mb']:.0f} MB PSS "
        f"({res['peak_total_rss_mb']:.0f} MB RSS counting shared pages twice; peak RSS "
        f"{res['peak_rss_mb']:.0f} MB + helper {res['helper_peak_rss_mb']:.0f} MB)"
    )
    return {
        "stage": "classify end to end (classify_jsonl)",
        "n": n,
        "seconds": res["seconds"],
        "rate": res["posts_per_s"],
        "note": note,
    }


def bench_command(n: int = 100_000) -> dict[str, Any]:
    res = bench_classify_command(n)
    note = (
        f"whole command, wall time from interpreter start to exit, median of {res['repeats']} "
        f"({res['seconds_min']:.2f}-{res['seconds_max']:.2f} s; 1-min load average {res['load_avg']:.2f} before); "
        f"classify_jsonl itself {res['in_call_seconds']:.2f} s; peak resident memory of the command and its helper "
        f"{res['peak_total_pss_mb']:.0f} MB PSS ({res['peak_total_rss_mb']:.0f} MB RSS)"
    )
    return {
        "stage": "pantau classify, whole command",
        "n": n,
        "seconds": res["seconds"],
        "rate": res["posts_per_s"],
        "note": note,
    }


def bench_classifier_load() -> dict[str, Any]:
    res = bench_load()
    note = (
        f"RSS after load {res['peak_rss_mb']:.0f} MB; importing models.predict "
        f"{res['import_seconds']:.2f} s (not counted)"
    )
    return {
        "stage": "classifier load (Classifier.load)",
        "n": 1,
        "seconds": res["load_seconds"],
        "rate": 1 / res["load_seconds"],
        "note": note,
    }
