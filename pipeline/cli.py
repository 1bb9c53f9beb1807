"""The `pantau` command: one face of the system for operators (the review workspace is the other).

Heavy imports (Prefect, scikit-learn, Scrapy) happen inside the commands that need them, so `--help` is instant.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipeline.config import PROJECT_ROOT, Settings, settings_markdown
from pipeline.errors import PantauError

app = typer.Typer(
    help="pantau: watch public posts by ASN for political partisanship; humans decide.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Wide enough for the queue table when the output is piped to a file or a pager.
console = Console(width=None if sys.stdout.isatty() else 160)
DEMO_DATA = PROJECT_ROOT / "spiders" / "replay" / "data"
DEMO_SPIDERS = ["mastodon", "telegram", "bluesky", "x", "youtube", "rss"]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except PantauError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from pipeline.storage import Store

    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    return store


@app.command()
def init(watchlist: Annotated[Path | None, typer.Option(help="Watchlist CSV to load.")] = None) -> None:
    """Create or migrate the database and load the watchlist."""
    from pipeline.watchlist import read_watchlist

    settings = _settings(watchlist_path=watchlist)
    store = _store(settings)
    console.print(f"database ready: {settings.database}")
    if settings.watchlist_path:
        rows, problems = read_watchlist(settings.watchlist_path)
        for p in problems:
            console.print(f"[yellow]watchlist line {p.line} skipped:[/] {p.reason}")
        store.replace_watchlist(rows, actor="cli")
        console.print(f"watchlist: {len(rows)} rows loaded, {len(problems)} skipped")


@app.command()
def replay(
    host: str = "127.0.0.1",
    port: int = 8770,
    data: Annotated[Path, typer.Option(help="Dataset folder (accounts.jsonl, statuses.jsonl).")] = DEMO_DATA,
    fault_every: Annotated[int | None, typer.Option(help="Every Nth API request answers 500 or 429.")] = None,
    clock: Annotated[str | None, typer.Option(help="Hide statuses after this ISO time.")] = None,
    generate: Annotated[int | None, typer.Option(help="Serve N synthetic statuses instead of the data.")] = None,
    seed: int = 7,
    platform_data: Annotated[
        Path | None, typer.Option(help="Folder of <platform>/ data for the other platforms (default: bundled).")
    ] = None,
) -> None:
    """Serve the bundled sample data on loopback in the platforms' real wire formats."""
    argv = ["--host", host, "--port", str(port), "--data", str(data), "--seed", str(seed)]
    options = (("--fault-every", fault_every), ("--clock", clock), ("--generate", generate))
    for flag, value in (*options, ("--platform-data", platform_data)):
        if value is not None:
            argv += [flag, str(value)]
    raise typer.Exit(subprocess.call([sys.executable, "-m", "spiders.replay", *argv], cwd=PROJECT_ROOT))


@app.command()
def crawl(
    spiders: Annotated[list[str] | None, typer.Argument(help="Spiders to run (default: PANTAU_SPIDERS).")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id naming the landing files.")] = None,
) -> None:
    """Run spiders to landing files only (no load); prints where each wrote and every target's result."""
    from flows.crawl import build_targets, landing_paths, run_spider
    from flows.nightly import new_run_id

    settings = _settings()
    store = _store(settings)
    run_id = run_id or new_run_id()
    failed = 0
    for name in spiders or settings.spiders:
        try:
            with console.status(f"crawling {name} …"):
                result = run_spider(settings, name, run_id, build_targets(store, name, settings.recheck_days))
        except PantauError as exc:  # one spider's failure does not hide the others' results
            console.print(f"[red]{name} failed:[/] {exc}")
            failed += 1
            continue
        paths = landing_paths(settings, name, run_id)
        lines = sum(1 for _ in paths["posts"].open("rb")) if paths["posts"].exists() else 0
        console.print(f"{name}: {lines} posts in {result.seconds:.1f} s → {paths['posts']}")
        _print_target_results(settings, name, run_id)
    if failed:
        raise typer.Exit(1)


def _print_target_results(settings: Settings, spider: str, run_id: str) -> None:
    from collections import Counter

    from flows.crawl import target_results

    results = target_results(settings, spider, run_id)
    rechecks = [r for r in results if r.target.startswith("recheck:")]  # one line for them, not a row each
    results = [r for r in results if not r.target.startswith("recheck:")]
    if rechecks:
        gone = sum(1 for r in rechecks if r.detail.startswith("gone:"))
        unchecked = sum(1 for r in rechecks if r.status != "ok")
        console.print(f"  flagged posts fetched again: {len(rechecks)} ({gone} gone, {unchecked} not checked)")
    if not results:
        console.print("  no targets: add rows for this platform to the watchlist")
        return
    table = Table(title=f"{spider}: per target")
    for col in ("target", "result", "new posts", "skipped", "rejected", "detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        colour = "green" if r.status == "ok" else "yellow" if r.status in ("rate_limited", "disabled") else "red"
        reasons = "; ".join(f"{n}× {reason}" for reason, n in r.reasons.items())
        detail = r.detail + (f" — rejected: {reasons}" if reasons else "")
        table.add_row(r.target, f"[{colour}]{r.status}[/]", str(r.posts), str(r.skipped), str(r.rejected), detail)
    console.print(table)
    counts = Counter(r.status.replace("_", " ") for r in results)
    console.print("  " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))


@app.command()
def classify(
    input: Annotated[Path, typer.Argument(help="JSONL rows with id, text, optional author_bio, platform.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write labelled rows.")],
) -> None:
    """Label posts from a JSONL file; bad rows go to OUTPUT.rejects.jsonl with a reason."""
    from models.predict import classify_jsonl

    settings = _settings()
    if not input.exists():
        console.print(f"[red]error:[/] {input} does not exist")
        raise typer.Exit(2)
    with console.status("classifying …"):
        stats = classify_jsonl(input, output, settings.model_dir, settings.batch_size)
    console.print(
        f"{stats.written} labelled, {stats.rejected} rejected, {stats.flagged} flagged in {stats.seconds:.2f} s → "
        f"{output}"
    )


def _demo_heldout() -> dict[str, tuple[list[str], list[str]]]:
    """The demo's labelled statuses as plain text: a held-out evaluation set (never trained on)."""
    from spiders.pages.mastodon import html_to_text

    texts, labels = [], []
    for line in (DEMO_DATA / "statuses.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("label") and isinstance(row.get("content"), str):
            texts.append(html_to_text(row["content"]))
            labels.append(row["label"])
    return {"demo": (texts, labels)} if texts else {}


def _figures_table(title: str, evaluations: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("set", "n", "macro-F1", "flagged P", "flagged R"):
        table.add_column(col, justify="right" if col != "set" else "left")
    for name, m in evaluations.items():  # the card's headline figures of each set
        p, r = m["flagged_precision"], m["flagged_recall"]
        table.add_row(name, str(m["n"]), f"{m['macro_f1']:.3f}", f"{p:.3f}", f"{r:.3f}")
    return table


@app.command()
def train(
    with_reviews: Annotated[
        bool, typer.Option("--with-reviews", help="Add reviewers' decisions from the database as labels.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed: the same data and seed give the same model.")] = 13,
    out: Annotated[Path | None, typer.Option(help="Artifact folder (default models/artifacts/<version>).")] = None,
) -> None:
    """Train the classifier; write model, card, metrics and confusion matrix; point CURRENT at it."""
    from models.train import run

    store = _store(_settings()) if with_reviews else None
    with console.status("training the classifier (about a minute) …"):
        report = run(out=out, seed=seed, store=store, heldout=_demo_heldout())
    card = report["card"]
    rows = {"test": card["test"], "valid": card["valid"], **card["heldout"]}
    console.print(_figures_table(f"{card['version']}: threshold {card['threshold']}", rows))
    reviews = report["reviews"]
    if reviews is not None:
        console.print(f"reviews: {reviews['summary']}")
        if reviews["before"]:
            console.print(_figures_table("fixed test split", {"before": reviews["before"], "after": reviews["after"]}))
    where = f"{report['out']}" + (" (now models/artifacts/CURRENT)" if report["current"] else "")
    console.print(f"artifact: {where}")


@app.command()
def evaluate(
    file: Annotated[Path, typer.Argument(help="Labelled JSONL: rows with text (or Mastodon content) and label.")],
) -> None:
    """Per-label precision/recall/F1, flagged precision/recall and the confusion matrix on a labelled file."""
    from models.evaluate import evaluate_file
    from spiders.pages.mastodon import html_to_text

    settings = _settings()
    try:
        ev = evaluate_file(file, settings.model_dir, html_to_text=html_to_text)
    except PantauError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    m = ev.metrics
    table = Table(title=f"{file}: model {ev.model_version}, threshold {ev.threshold}")
    for col in ("label", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="right" if col != "label" else "left")
    for label, v in m["per_label"].items():
        table.add_row(label, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]))
    table.add_row("macro-F1", "", "", f"{m['macro_f1']:.3f}", str(m["n"]))
    f = m["flagged"]
    table.add_row("flagged", f"{f['precision']:.3f}", f"{f['recall']:.3f}", f"{f['f1']:.3f}", f"tp {f['tp']}")
    console.print(table)
    cm = m["confusion_matrix"]
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("")
    for label in cm["labels"]:
        matrix.add_column(label[:8], justify="right")
    for label, row in zip(cm["labels"], cm["rows_true_cols_pred"], strict=True):
        matrix.add_row(label, *(str(x) for x in row))
    console.print(matrix)
    if ev.n_skipped:
        for reason, lines in ev.skipped.items():
            shown = ", ".join(map(str, lines[:10])) + (" …" if len(lines) > 10 else "")
            console.print(f"[yellow]skipped {len(lines)}:[/] {reason} (lines {shown})")


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The post's text, in quotes.")],
    bio: Annotated[str | None, typer.Option(help="The author's bio (adds a reason, never changes the score).")] = None,
) -> None:
    """Label, scores, reasons and the highlighted cues of one text."""
    from rich.markup import escape

    from models.predict import Classifier

    settings = _settings()
    with Classifier.load(settings.model_dir, workers=0) as clf:
        ex = clf.explain(text, bio)
    res = ex.result
    verdict = "DITANDAI untuk ditinjau" if res.flagged else "tidak ditandai"
    console.print(f"[bold]{res.label.value}[/] ({verdict}; model {ex.model_version}, ambang {ex.threshold})")
    marks: dict[int, int] = {}
    for n, cue in enumerate(ex.cues):
        for i in range(cue.start, cue.end + 1):
            marks.setdefault(i, n)
    words = []
    for i, tok in enumerate(ex.tokens):
        shown = escape(tok.strip() or " ")
        sup = str(marks.get(i, 0) + 1).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        words.append(f"[reverse]{shown}[/reverse]{sup}" if i in marks else shown)
    console.print("teks: " + " ".join(words))
    scores = Table(title="skor")
    scores.add_column("label")
    scores.add_column("P", justify="right")
    for label, p in sorted(res.scores.items(), key=lambda kv: -kv[1]):
        scores.add_row(label, f"{p:.3f}")
    console.print(scores)
    for n, cue in enumerate(ex.cues, 1):
        console.print(f"  [{n}] {escape(cue.reason)}")
    for gram, gain in ex.ngrams:
        console.print(f"  n-gram '{escape(gram)}' (+{gain:.2f})")
    for reason in res.reasons:
        console.print(f"  - {escape(reason)}")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="The export file to import.")],
    format: Annotated[str, typer.Option("--format", help="meta-csv, tiktok-json, x-json, csv or jsonl.")],
    mapping: Annotated[Path | None, typer.Option(help="TOML column mapping (required for csv and jsonl).")] = None,
) -> None:
    """Import a research-programme export (Meta, TikTok, X, CSV/JSONL) as Posts; bad rows become rejects."""
    from flows.load import load_spider
    from flows.nightly import new_run_id
    from models.predict import Classifier
    from pipeline.review import refresh_queue
    from spiders.importers import SOURCE, import_to_landing

    settings = _settings()
    store = _store(settings)
    run_id = new_run_id()
    try:
        landed = import_to_landing(file, format, mapping, settings.landing_dir.resolve(), run_id)
    except PantauError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    store.start_run(run_id, [SOURCE])
    with console.status("loading …"), Classifier.load(settings.model_dir) as classifier:
        result = load_spider(settings, SOURCE, run_id, classifier)
        queued = refresh_queue(store, run_id, classifier.version)
    flagged = sum(result.flagged_per_label.values())
    totals = {
        "fetched": result.fetched,
        "new_posts": result.new_posts,
        "updated_posts": result.updated_posts,
        "rejected": result.rejected,
        "classified": result.classified,
        "flagged": flagged,
        "queued": queued,
        "flagged_per_label": dict(result.flagged_per_label),
    }
    store.finish_run(run_id, "ok", totals, f"import of {file.name} ({format})")
    console.print(
        f"{file.name}: {landed.posts} posts ({result.new_posts} new, {result.updated_posts} updated), "
        f"{result.rejected} rejected, {flagged} flagged, {queued} queued; run {run_id}"
    )
    for reason, n in landed.reasons.most_common(10):
        console.print(f"  rejected: {n}× {reason}")


watchlist_app = typer.Typer(help="Check the watchlist file.", no_args_is_help=True)
app.add_typer(watchlist_app, name="watchlist")


@watchlist_app.command("check")
def watchlist_check(file: Annotated[Path, typer.Argument(help="Watchlist file, CSV or TOML.")]) -> None:
    """Validate a watchlist file (CSV or TOML): every bad row with its line number, targets per platform."""
    from collections import Counter

    from pipeline.targets import watch_targets
    from pipeline.watchlist import read_watchlist

    try:
        rows, problems = read_watchlist(file)
    except PantauError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    for problem in problems:
        console.print(f"[red]line {problem.line}:[/] {problem.reason}")
    enabled = [r for r in rows if r["enabled"]]
    per_platform = Counter(r["platform"] for r in enabled)
    targets = {p: len(watch_targets(enabled, p)) for p in sorted(per_platform)}
    console.print(
        f"{len(rows)} rows good ({len(enabled)} enabled), {len(problems)} bad; targets: "
        + (", ".join(f"{p} {n}" for p, n in targets.items()) or "none")
    )
    if problems:
        raise typer.Exit(1)


authors_app = typer.Typer(help="Authors seen in collected posts.", no_args_is_help=True)
app.add_typer(authors_app, name="authors")


@authors_app.command("suggest")
def authors_suggest(
    min_score: Annotated[float, typer.Option(help="Lowest ASN-likelihood to list (0–1).")] = 0.5,
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """List likely-ASN accounts (from bio and display name) not yet on the watchlist, with the reasons."""
    from pipeline.authors import suggest_accounts

    found = suggest_accounts(_store(_settings()), min_score, platform, limit)
    table = Table(title=f"akun yang mungkin ASN, belum di watchlist: {len(found)} (petunjuk, bukan temuan)")
    for col in ("platform", "akun", "nama", "skor", "alasan", "post", "ditandai"):
        table.add_column(col, overflow="fold")
    for s in found:
        table.add_row(
            s.platform, s.handle, s.display_name, f"{s.score:.2f}", "; ".join(s.reasons), str(s.posts), str(s.flagged)
        )
    console.print(table)


@app.command()
def evidence(
    platform: Annotated[str, typer.Argument(help="The post's platform, e.g. telegram.")],
    post_id: Annotated[str, typer.Argument(help="The post's platform_post_id.")],
    raw: Annotated[bool, typer.Option(help="Print only the raw payload, byte for byte (e.g. for sha256sum).")] = False,
) -> None:
    """Show where a post came from and its raw payload as captured, with its sha256 checked, versions, deletion."""
    from pipeline.schema import sha256_text

    store = _store(_settings())
    key = [platform, post_id]
    rows = store.query("SELECT * FROM posts WHERE platform = ? AND platform_post_id = ?", key)
    if not rows:
        console.print(f"[red]no post {platform} {post_id}[/]")
        raise typer.Exit(1)
    post = rows[0]
    if raw:
        sys.stdout.write(post["raw"])
        return
    intact = sha256_text(post["raw"]) == post["raw_sha256"]
    versions = store.query(
        "SELECT collected_at, superseded_at, raw_sha256 FROM post_versions WHERE platform = ? AND platform_post_id = ? "
        "ORDER BY collected_at",
        key,
    )
    gone = store.query("SELECT noticed_at, detail FROM post_deletions WHERE platform = ? AND platform_post_id = ?", key)
    facts = (
        ("url", post["url"]),
        ("author", f"{post['author_handle']} ({post['author_platform_id']})"),
        ("found by", post["watch_target"]),
        ("posted at", post["posted_at"]),
        ("first captured", post["first_collected_at"]),
        ("last captured", f"{post['collected_at']} in run {post['run_id']}"),
        ("raw sha256", f"{post['raw_sha256']} ({'matches the raw payload' if intact else 'DOES NOT MATCH'})"),
        ("earlier versions", "; ".join(f"{v['collected_at']} sha256 {v['raw_sha256'][:12]}" for v in versions)),
        ("deleted", f"noticed {gone[0]['noticed_at']}: {gone[0]['detail']}" if gone else "not noticed"),
    )
    for label, value in facts:
        console.print(f"[bold]{label}:[/] {value or 'none'}", markup=True, highlight=False)
    console.print("[bold]raw payload:[/]")
    console.print(post["raw"], markup=False, highlight=False, soft_wrap=True)


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']} ({summary['status']})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("fetched", "new_posts", "updated_posts", "rejected", "classified", "flagged", "queued", "pending"):
        table.add_row(key.replace("_", " "), str(summary.get(key, 0)))
    for label, n in summary.get("flagged_per_label", {}).items():
        table.add_row(f"  flagged: {label}", str(n))
    for reason, n in summary.get("reject_reasons", {}).items():
        table.add_row(f"  rejected: {reason}", str(n))
    console.print(table)


def _run_flow(settings_overrides: dict[str, Any], spiders: list[str] | None) -> dict[str, Any]:
    from flows.nightly import new_run_id, nightly

    run_id = new_run_id()
    overrides = {k: (str(v) if isinstance(v, Path) else v) for k, v in settings_overrides.items() if v is not None}
    try:
        return nightly(run_id=run_id, spiders=spiders, overrides=overrides)
    except PantauError as exc:
        console.print(f"[red]run {run_id} did not complete:[/] {exc}")
        runs = _store(_settings(**overrides)).query("SELECT * FROM crawl_runs WHERE run_id = ?", [run_id])
        if runs:
            row = runs[0]
            row["flagged_per_label"] = json.loads(row["flagged_per_label"] or "{}")
            _print_summary(row)
        raise typer.Exit(1) from None


@app.command()
def run(
    spiders: Annotated[list[str] | None, typer.Argument(help="Spiders to run (default: PANTAU_SPIDERS).")] = None,
) -> None:
    """Run one nightly run now: crawl → validate/dedupe → classify → load → queue."""
    _print_summary(_run_flow({}, spiders))


shards_app = typer.Typer(
    help="Scale-out: the crawl split into shards on the workers of a Prefect process work pool.", no_args_is_help=True
)
app.add_typer(shards_app, name="shards")


@shards_app.command("deploy")
def shards_deploy(
    pool: Annotated[str, typer.Option(help="The process work pool the shards' workers poll.")],
    source: Annotated[str | None, typer.Option(help="Project folder or git URL (default: this folder).")] = None,
) -> None:
    """Register the shard deployment on a process work pool (needs PREFECT_API_URL)."""
    from flows.shards import SHARD_DEPLOYMENT, deploy_shards

    console.print(deploy_shards(pool, SHARD_DEPLOYMENT, source or str(PROJECT_ROOT)))


@shards_app.command("run")
def shards_run(
    spiders: Annotated[list[str] | None, typer.Argument(help="Spiders to run (default: PANTAU_SPIDERS).")] = None,
    shards: Annotated[int, typer.Option(min=1, help="How many shards (flow runs) to split the crawl into.")] = 2,
    shard_timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the shards.")] = None,
) -> None:
    """One nightly run with the crawl in shards on the pool's workers, loaded once here (needs PREFECT_API_URL)."""
    from flows.nightly import new_run_id
    from flows.shards import nightly_sharded

    run_id = new_run_id()
    try:
        summary = nightly_sharded(shards, run_id, spiders or None, shard_timeout_s=shard_timeout)
    except PantauError as exc:
        console.print(f"[red]run {run_id} did not complete:[/] {exc} (see `pantau runs`)")
        raise typer.Exit(1) from None
    _print_summary(summary)


def _queue_table(limit: int, settings: Settings) -> Table:
    from pipeline.review import pending_count, pending_queue

    store = _store(settings)
    items = pending_queue(store, limit)
    table = Table(title=f"antrean tinjauan: {pending_count(store)} menunggu (pending review queue; WL = watchlist)")
    zone = datetime.now(settings.tz).tzname() or settings.timezone  # WIB, WITA or WIT
    for col in ("prio", "label", "skor", "WL", "akun", f"waktu {zone}"):
        table.add_column(col, no_wrap=True)
    table.add_column("teks", overflow="ellipsis", no_wrap=True, max_width=60)
    for it in items:
        when = it["posted_at"].astimezone(settings.tz)
        table.add_row(
            f"{it['priority']:.3f}",
            it["label"],
            f"{it['flag_score']:.2f}",
            "ya" if it["on_watchlist"] else "",
            it["author_handle"],
            f"{when:%Y-%m-%d %H:%M}",
            " ".join(it["text"].split()),
        )
    return table


@app.command()
def queue(limit: Annotated[int, typer.Option(help="Rows to show.")] = 20) -> None:
    """Show pending review items, highest priority first."""
    console.print(_queue_table(limit, _settings()))


@app.command()
def runs(limit: Annotated[int, typer.Option(help="Runs to show.")] = 10) -> None:
    """Show recent runs with their counts."""
    settings = _settings()
    store = _store(settings)
    table = Table(title="recent runs")
    cols = ("run_id", "status", "started_at", "fetched", "new_posts", "rejected", "classified", "flagged", "queued")
    for col in cols:
        table.add_column(col)
    for row in store.recent_runs(limit):
        row["started_at"] = f"{row['started_at'].astimezone(settings.tz):%Y-%m-%d %H:%M:%S %Z}"
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in cols))
    console.print(table)


@contextmanager
def replay_server(data: Path) -> Iterator[str]:
    """Start the replay server as a subprocess on a free loopback port; yield its URL; stop it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "spiders.replay", "--host", "127.0.0.1", "--port", "0", "--data", str(data)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise PantauError(f"replay server did not start (said {line!r})")
        yield line.split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo database lives.")] = None,
    serve: Annotated[
        bool | None,
        typer.Option("--serve/--no-serve", help="Start the review workspace afterwards (default: in a terminal)."),
    ] = None,
) -> None:
    """Replay the bundled sample data through one nightly run, show the review queue, open the review workspace."""
    from spiders.replay.platforms import REPLAY_CREDENTIALS

    settings = _settings(data_dir=data_dir)
    with replay_server(DEMO_DATA) as url:
        console.print(f"replay server with the bundled sample data: {url}")
        overrides = {
            "data_dir": settings.data_dir,
            "replay_url": url,
            "watchlist_path": DEMO_DATA / "watchlist.csv",
            "download_delay_s": 0.0,
            "autothrottle": False,
            "concurrent_requests": 16,
            # the replay server's own fictional credentials, so the demo shows the sources that need a login
            **{name.removeprefix("PANTAU_").lower(): value for name, value in REPLAY_CREDENTIALS.items()},
        }
        summary = _run_flow(overrides, DEMO_SPIDERS)
    _print_summary(summary)
    console.print(_queue_table(15, settings))
    console.print(f"database: {settings.database} — run again: nothing is added twice.")
    if serve is None:
        serve = sys.stdin.isatty() and sys.stdout.isatty()
    # cli and web are independent layers (pyproject's import contract): the web is reached by name, as in `register`
    importlib.import_module("pipeline.web.commands").demo_workspace(settings, serve_now=serve)


@app.command()
def schedule(
    server: Annotated[bool, typer.Option(help="Start a Prefect server on loopback (else use PREFECT_API_URL).")] = True,
) -> None:
    """Run the nightly schedule: a Prefect server (SQLite) and the served deployment, until Ctrl-C."""
    settings = _settings()
    # the server's SQLite database and the runner's state live with the rest of pantau's data
    os.environ.setdefault("PREFECT_HOME", str((settings.data_dir / "prefect").resolve()))
    proc = None
    if server and not os.environ.get("PREFECT_API_URL"):
        from flows.server import start_server

        with console.status("starting the Prefect server …"):
            proc = start_server(settings, settings.data_dir / "prefect-server.log")
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{settings.prefect_port}/api"
    elif not os.environ.get("PREFECT_API_URL"):
        console.print("[red]error:[/] a schedule needs a Prefect server: set PREFECT_API_URL or drop --no-server")
        raise typer.Exit(2)
    console.print(
        f"nightly runs at '{settings.schedule_cron}' ({settings.timezone}); API {os.environ['PREFECT_API_URL']}"
    )
    try:
        from flows.schedule import serve_nightly

        serve_nightly(settings)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be purged.")] = False,
) -> None:
    """Purge texts and payloads of posts dismissed more than PANTAU_RETENTION_DAYS ago (confirmed cases are kept)."""
    from pipeline.retention import due_for_purge
    from pipeline.retention import purge as run_purge

    settings = _settings()
    store = _store(settings)
    due = due_for_purge(store, settings.retention_days)
    table = Table(title=f"{len(due)} unggahan yang ditolak > {settings.retention_days} hari (posts due for purge)")
    for col in ("platform", "platform_post_id", "author_handle", "last_decided_at"):
        table.add_column(col)
    for row in due[:30]:
        table.add_row(row["platform"], row["platform_post_id"], row["author_handle"], str(row["last_decided_at"]))
    console.print(table)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    console.print(f"purged {run_purge(store, settings.retention_days, actor='cli')} posts")


@app.command()
def snapshot() -> None:
    """Publish the analysts' read-only snapshot (DuckDB file and Parquet) now."""
    from pipeline.secrets import local_secret
    from pipeline.storage import publish_snapshot

    settings = _settings()
    store = _store(settings)
    with console.status("publishing the snapshot …"):
        info = publish_snapshot(
            store, settings.snapshot_path, settings.timezone, local_secret(settings.data_dir, "pseudonym-salt")
        )
    console.print(
        f"snapshot {info.path} and {info.parquet_dir}/ ({info.tables.get('posts', 0)} posts) in {info.seconds:.1f} s"
    )


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SQL statement, run read-only on the analyst snapshot.")],
    out: Annotated[Path | None, typer.Option(help="Write the result to a .csv or .parquet file instead.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (the file gets all).")] = 50,
) -> None:
    """Query the analyst snapshot (never the live store): views such as flags_per_day, flags_by_region."""
    import duckdb
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from pipeline.storage import query_snapshot

    settings = _settings()
    try:
        table = query_snapshot(settings.snapshot_path / "pantau.duckdb", query)
    except (FileNotFoundError, duckdb.Error) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if out is not None:
        if out.suffix not in (".csv", ".parquet"):
            console.print("[red]error:[/] --out must end in .csv or .parquet")
            raise typer.Exit(2)
        (pcsv.write_csv if out.suffix == ".csv" else pq.write_table)(table, out)
        console.print(f"{table.num_rows} rows → {out}")
        return
    grid = Table(title=f"{table.num_rows} rows" + (f" (first {limit})" if table.num_rows > limit else ""))
    for name in table.column_names:
        grid.add_column(name, overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        grid.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(grid)


def cli_markdown() -> str:
    """The README's CLI reference, generated from the commands themselves."""
    group: Any = typer.main.get_command(app)
    lines = ["| command | what it does | arguments and options |", "| --- | --- | --- |"]
    commands = []
    for name, cmd in sorted(group.commands.items()):  # a command group (`pantau watchlist …`) lists its commands
        subs = getattr(cmd, "commands", None)
        commands += [(f"{name} {sub}", c) for sub, c in sorted(subs.items())] if subs else [(name, cmd)]
    for name, cmd in commands:
        params = []
        for p in cmd.params:
            if p.name == "help":
                continue
            spelled = "/".join(p.opts) if p.param_type_name == "option" else str(p.name).upper()
            params.append(f"`{spelled}`")
        summary = (cmd.help or "").strip().splitlines()[0]
        lines.append(f"| `pantau {name}` | {summary} | {', '.join(params)} |")
    return "\n".join(lines) + "\n"


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option(help="Print the README's settings table.")] = False,
    cli_reference: Annotated[bool, typer.Option(help="Print the README's CLI reference.")] = False,
) -> None:
    """Show the settings in force (from PANTAU_* variables)."""
    if markdown or cli_reference:
        sys.stdout.write(settings_markdown() if markdown else cli_markdown())
        return
    for name, value in _settings().model_dump().items():
        console.print(f"PANTAU_{name.upper()}={value}")


# the workspace's commands (serve, user add), loaded by name: the layer contract keeps the two faces independent
importlib.import_module("pipeline.web.commands").register(app)


def quiet_prefect_environment() -> None:
    """Prefect's own switches, set before it is imported: no telemetry calls from a government network."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # the ephemeral API's first start migrates its SQLite database: on a busy 2-core machine that took over the
    # default 20 s and the run failed before it began
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def main() -> None:  # pragma: no cover - console entry
    quiet_prefect_environment()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
