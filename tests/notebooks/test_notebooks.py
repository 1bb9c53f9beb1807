"""The analysts' notebooks run top to bottom against a snapshot of the demo data, and are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from flows.crawl import build_targets, run_spider
from flows.load import load_spider
from models.predict import Classifier
from pipeline.config import Settings
from pipeline.review import refresh_queue
from pipeline.storage import Store, publish_snapshot
from pipeline.watchlist import read_watchlist
from tests.flows.test_nightly import DEMO
from tests.spiders.helpers import start_replay

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data crawled from the replay server, loaded, queued, a few decisions made, and published."""
    data = tmp_path_factory.mktemp("demo")
    with start_replay(data_dir=DEMO) as replay:
        settings = Settings.from_env(data_dir=data, replay_url=replay.url, download_delay_s=0, autothrottle=False)
        store = Store(settings.database)
        store.init()
        store.replace_watchlist(read_watchlist(DEMO / "watchlist.csv")[0])
        run_spider(settings, "mastodon", "demo", build_targets(store, "mastodon"))
    with Classifier.load(workers=0) as classifier:
        load_spider(settings, "mastodon", "demo", classifier)
        refresh_queue(store, "demo", classifier.version)
    items = store.query("SELECT platform, platform_post_id FROM review_items ORDER BY priority DESC LIMIT 6")
    with store.transaction() as con:
        for i, item in enumerate(items):
            for reviewer, decision in (("rina", "violation"), ("budi", "violation" if i % 3 else "not_violation")):
                con.execute(
                    "INSERT INTO review_decisions (platform, platform_post_id, reviewer, decision, note, decided_at) "
                    "VALUES (?, ?, ?, ?, '', now())",
                    [item["platform"], item["platform_post_id"], reviewer, decision],
                )
    return publish_snapshot(store, data / "snapshot", settings.timezone, "salt").path


def test_there_are_at_least_two_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"weekly_report.ipynb", "model_quality.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_demo_snapshot(path: Path, demo_snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_SNAPSHOT", str(demo_snapshot))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "snapshot:" in text
    if path.stem == "model_quality":
        assert "6 double-reviewed items" in text
    else:
        assert any("image/png" in o.get("data", {}) for o in outputs)  # the flags-over-time plot rendered
